"""The movers inside other people's pilots (``pilot3``: PanDA Pilot 3's copytool face).

Each integration imports its host only when called, never at import time: the host is an
optional dependency."""
