"""The project's three distributions, built once per session for the packaging tests."""

from __future__ import annotations

import pytest

from tests.operators.distributions import ROOT, Built, build

#: Each distribution's name and its tree in the repository.
SOURCES = {"pilot-movers": ROOT, "pilot-movers-testkit": ROOT / "testkit", "pilot-movers-datahost": ROOT / "server"}


@pytest.fixture(scope="session")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    return {name: build(source, tmp_path_factory.mktemp(name)) for name, source in SOURCES.items()}
