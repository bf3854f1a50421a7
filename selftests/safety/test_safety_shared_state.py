"""The run's shared state survives other pytest processes: pytest unlocks its numbered base temp in
its own sessionfinish, and a concurrent pytest that ends then may delete it. The stage facts and the
marker that tells the clean-up there is work to do must not live there: a run that lost them left
its namespaces and remote secrets behind and wrote a summary without facts."""

from __future__ import annotations

import tempfile
from pathlib import Path

from support import run_suite

DATA = Path(__file__).parent / "data"


def test_clean_up_and_reports_outlive_a_deleted_pytest_base_temp(tmp_path: Path) -> None:
    """With pytest's base temp deleted before meshconform's sessionfinish, the run still cleans up
    what it made and reports its facts."""
    run = run_suite(tmp_path / "r", "--lab", "-p", "basetemp_thief", env={"PYTHONPATH": str(DATA)})
    assert run.returncode == 0, run.tail()
    assert "cleaned up: 4 objects" in run.output, run.tail()
    run_id = run.summary.get("run_id")
    assert run_id and run.summary.get("traffic_matrix"), "summary.json lost the run's facts"
    assert not (Path(tempfile.gettempdir()) / f"meshconform-{run_id}").exists(), "the run's directory stayed"
