"""Globus Transfer for pilot jobs. ``emulator`` is a local stand-in for the Globus cloud (Transfer and
Auth APIs, and ``globusconnectpersonal``), so the real globus-sdk can be tested without reaching it.

Nothing here imports globus-sdk at import time.
"""
