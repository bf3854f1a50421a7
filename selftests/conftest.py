"""Shared self-test fixtures: a lab started through its public API, for tests that need one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def lab_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], object]]:
    """A two-cluster lab: (kubeconfig path, contexts, the Lab) for the session."""
    from meshconform.lab import Lab, LabOptions

    path = tmp_path_factory.mktemp("lab") / "kubeconfig"
    with Lab(LabOptions(clusters=2)) as lab:
        lab.start()
        contexts = lab.write_kubeconfig(path)
        yield path, contexts, lab
