"""A third-party mover, written from the docs and the package face alone (tests/unit/thirdparty,
really installed by pip), runs the conformance kit's behaviour suite like the built-in ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest
from pilot_movers_testkit.conformance import MoverBehaviourSuite, StorageUnderTest

from pilot_movers.checksums import Checksum, file_checksum
from tests.helpers import write_file
from tests.unit.test_registry import thirdparty_site, with_thirdparty  # noqa: F401 - fixtures


class TeleportStorage(StorageUnderTest):
    """tele://se1/files/NAME is ROOT/se1/files/NAME on this machine."""

    mover = "teleport"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.directory = root / "se1" / "files"
        self.directory.mkdir(parents=True)

    def directory_url(self) -> str:
        return "tele://se1/files/"

    def put(self, name: str, size: int, seed: int) -> Checksum:
        return write_file(self.directory / name, size, seed)

    def holds(self, name: str) -> Optional[Checksum]:
        path = self.directory / name
        return file_checksum(path) if path.is_file() else None

    def partial_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.glob("*.pilot-movers-*"))

    def debris(self) -> list[str]:
        return sorted(p.name for p in self.directory.glob("*.pilot-movers-*"))

    def queue(self) -> dict[str, Any]:
        return {"movers": {"teleport": {"root": str(self.root)}}}


@pytest.fixture
def storage(with_thirdparty, tmp_path: Path) -> StorageUnderTest:  # noqa: F811 - the fixture above
    return TeleportStorage(tmp_path / "store")


class TestTeleportBehaviour(MoverBehaviourSuite):
    pass
