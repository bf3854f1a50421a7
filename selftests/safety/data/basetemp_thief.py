"""A pytest plugin for one self-test: in sessionfinish, before meshconform's own, it deletes the run's
pytest base temp, as another pytest process ending at that moment does to a numbered directory that
pytest has already unlocked (_pytest/pathlib.py, cleanup_numbered_dir)."""

from __future__ import annotations

import shutil

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    factory = session.config._tmp_path_factory  # type: ignore[attr-defined]
    if factory._basetemp is not None:
        shutil.rmtree(factory._basetemp, ignore_errors=True)
