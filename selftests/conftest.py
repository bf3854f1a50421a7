"""Shared self-test fixtures: a lab started through its public API, for tests that need one.

Loading this file puts selftests/ on sys.path (pytest's default "prepend" import mode, no
__init__.py), which is how every self-test imports `support`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import lab_in_process


@pytest.fixture(scope="session")
def lab_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], object]]:
    """A two-cluster lab: (kubeconfig path, contexts, the Lab) for the session."""
    with lab_in_process(tmp_path_factory.mktemp("lab"), clusters=2) as env:
        yield env.kubeconfig, env.contexts, env.lab
