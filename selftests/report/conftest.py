"""Report self-tests drive the suite as a user does: `pytest --lab ...` in a subprocess.

Two runs are shared by the report self-tests (session scope, each a few seconds): a healthy lab
run in one process, and the issue's faulted run (`--lab-fault no-secret:cluster-1->cluster-2
--join verify`) under xdist with two workers, so that evidence, diagnostics and hints are proven
to survive the trip from a worker to the controller.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from report_support import FAULT, SCHEMA
from support import Run, run_suite


@pytest.fixture(scope="session")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A healthy two-cluster lab run, in one process."""
    run = run_suite(tmp_path_factory.mktemp("lab-run"), "--lab", quiet=False)
    assert (run.report_dir / "summary.json").exists(), run.tail()
    return run


@pytest.fixture(scope="session")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The issue's faulted run: cluster-2 lacks cluster-1's remote secret; under xdist (-n 2)."""
    args = ("--lab", "--lab-fault", FAULT, "--join", "verify", "-n", "2")
    run = run_suite(tmp_path_factory.mktemp("fault-run"), *args, quiet=False)
    assert (run.report_dir / "summary.json").exists(), run.tail()
    return run


@pytest.fixture(scope="session")
def schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SCHEMA.read_text())
    return doc
