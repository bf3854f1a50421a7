"""--baseline end to end, as a fleet's upgrade uses it: a run before (every cluster on the old
revision, namespaces on the tag `prod-stable`), then runs after against its summary.json.

- cluster-1 upgraded and the tag moved there: nothing regresses, and what moved is said.
- a skewed split after: the split checks are regressions (the run fails) and the drift is named.
- the skewed run as the baseline, a healthy one now: the same checks are improvements.
- a file that is no summary this version compares with: refused in one line, exit 4, with reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from support import ROOT, Run, run_suite

pytestmark = pytest.mark.selftest_slow
OLD, NEW, TAG = "asm-1285-9", "asm-1295-1", "prod-stable"
BEFORE = (f"--lab-revisions={OLD}", f"--lab-tags={TAG}={OLD}", f"--revision={TAG}")
SPLIT = ("test_split_follows_replicas[cluster-1]", "test_split_follows_replicas[cluster-2]")


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    run = run_suite(tmp_path_factory.mktemp("before") / "reports", "--lab", *BEFORE)
    assert run.returncode == 0, run.tail(3000)
    yield run


def _against(tmp_path: Path, base: Run, *args: str) -> Run:
    return run_suite(tmp_path / "reports", "--lab", f"--baseline={base.report_dir / 'summary.json'}", *args)


def test_an_upgraded_cluster_moves_without_regressions(before: Run, tmp_path: Path) -> None:
    after = _against(
        tmp_path, before, f"--lab-revisions=cluster-1={NEW},{OLD}", f"--lab-revisions=cluster-2={OLD}",
        f"--lab-tags={TAG}={OLD}", f"--lab-tags={TAG}={NEW}:cluster-1", f"--revision={TAG}",
    )
    assert after.returncode == 0, after.tail(3000)
    diff = after.summary["baseline"]
    assert diff["regressions"] == [] and diff["improvements"] == [] and diff["traffic_drift"] == []
    moved = [f"cluster-1 revision {OLD} -> {NEW}", "cluster-1 istiod 1.28.5-asm.9 -> 1.29.5-asm.1"]
    assert diff["moved"] == moved
    assert "0 regression(s), 0 improved" in after.stdout and f"moved: {moved[0]}" in after.stdout
    assert "Against the baseline" in after.html


def test_a_skewed_split_is_a_regression_and_drift(before: Run, tmp_path: Path) -> None:
    after = _against(tmp_path, before, *BEFORE, "--lab-fault=skew")
    assert after.returncode == 1, after.tail(3000)
    schema = json.loads((ROOT / "docs" / "summary.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(after.summary)  # the baseline entry has its shape
    diff = after.summary["baseline"]
    assert diff["regressions"] == list(SPLIT)
    assert [d.split(":")[0] for d in diff["traffic_drift"]] == ["from cluster-1", "from cluster-2"]
    assert f"regression: {SPLIT[0]} passed in the baseline, fails now" in after.stdout
    improved = _against(tmp_path / "again", after, *BEFORE)
    assert improved.returncode == 0, improved.tail(3000)
    assert improved.summary["baseline"]["improvements"] == list(SPLIT)


def test_checks_not_selected_are_not_compared_and_said(before: Run, tmp_path: Path) -> None:
    after = _against(tmp_path, before, *BEFORE, "-k", "control_plane")
    diff = after.summary["baseline"]
    assert after.returncode == 0 and diff["not_compared"] and not diff["regressions"], after.tail(2000)
    assert f"{len(diff['not_compared'])} not compared (not selected in this run)" in after.stdout


def test_an_incompatible_baseline_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text('{"suite": {"name": "meshconform", "version": "0.9"}, "schema_version": 99}')
    run = run_suite(tmp_path / "reports", "--lab", f"--baseline={path}")
    assert run.returncode == 4, run.tail(2000)
    assert "has summary schema 99 (meshconform 0.9)" in run.output
    assert run.summary.get("refusal") and (run.report_dir / "junit.xml").exists()
