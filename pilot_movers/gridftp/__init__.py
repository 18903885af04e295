"""The ``gridftp`` mover: gfal2's Python binding, for gsiftp:// and every scheme gfal2 has a plugin for."""
