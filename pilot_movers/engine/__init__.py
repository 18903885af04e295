"""The shared transfer machinery every mover uses: retries, clocks, checksums, atomic placement."""

from pilot_movers.engine.engine import TransferEngine
from pilot_movers.engine.settings import TransferSettings

__all__ = ["TransferEngine", "TransferSettings"]
