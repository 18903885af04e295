"""The shared transfer machinery every mover uses: retries, clocks, checksums, atomic placement."""
