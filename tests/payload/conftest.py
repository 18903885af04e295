"""Hostile payloads against the session's local grid."""

from tests.grid.conftest import gib_file  # noqa: F401 - a 1 GiB file for the session
