"""Local files: the namespace every mover uses for the worker node's disk, and the local mover."""
