"""--baseline: which checks changed outcome, what moved, whether the split drifted beyond chance,
and which files are refused as baselines."""

from __future__ import annotations

import json
import random
import re
from fractions import Fraction
from math import comb
from pathlib import Path
from typing import Any

import pytest

from meshconform.checks import drift
from meshconform.report import baseline
from meshconform.report.summary import SCHEMA_VERSION


def _exact(a: int, b: int, c: int, d: int) -> float:
    row, col, n = a + b, a + c, a + b + c + d

    def p(x: int) -> Fraction:
        return Fraction(comb(row, x) * comb(n - row, col - x), comb(n, col))

    return float(sum(p(x) for x in range(max(0, col - n + row), min(row, col) + 1) if p(x) <= p(a)))


def test_fisher_matches_r_and_exact_arithmetic() -> None:
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value == 0.4857143 (the tea-tasting table)
    assert drift.fisher_two_sided(3, 1, 1, 3) == pytest.approx(0.4857143, rel=1e-6)
    # a split moved 25/25 -> 45/5: the exact sum over the hypergeometric law in rationals
    assert drift.fisher_two_sided(25, 25, 45, 5) == pytest.approx(_exact(25, 25, 45, 5), rel=1e-9)
    assert drift.fisher_two_sided(25, 25, 25, 25) == pytest.approx(1.0)


def test_a_healthy_pair_of_runs_rarely_drifts() -> None:
    """Two runs of the same healthy 3-cluster mesh (equal thirds, 60 calls a source): drift is
    reported in well under the false-alarm budget's share of the pairs."""
    rng = random.Random(7)

    def run() -> dict[str, dict[str, int]]:
        out = {}
        for source in ("cluster-1", "cluster-2", "cluster-3"):
            counts = {"v1": 0, "v2": 0, "v3": 0}
            for _ in range(60):
                counts[rng.choice(("v1", "v2", "v3"))] += 1
            out[source] = counts
        return out

    alarms = sum(bool(drift.drifted(run(), run())) for _ in range(300))
    assert alarms <= 1, f"{alarms} of 300 healthy pairs called drifted"


def test_a_moved_split_is_drift_named_by_source_and_version() -> None:
    found = drift.drifted({"cluster-1": {"v1": 25, "v2": 25}}, {"cluster-1": {"v1": 45, "v2": 5}})
    assert [d.line() for d in found] == [
        "from cluster-1: split {v1: 25, v2: 25} -> {v1: 45, v2: 5} (v1: p=2e-05 < 0.0005)"
    ]


def _doc(outcomes: dict[str, str], **clusters: dict[str, Any]) -> dict[str, Any]:
    checks = {c: {"outcome": o, "message": ""} for c, o in outcomes.items()}
    return {
        "schema_version": SCHEMA_VERSION, "suite": {"name": "meshconform", "version": "0.1.0"},
        "run_id": "r1", "generated_at": "2026-01-01T00:00:00+00:00", "revision": None,
        "checks": checks, "clusters": clusters, "traffic_matrix": {"sources": {}},
    }


def _cluster(revision: str, version: str, kube: str = "v1.33.1") -> dict[str, Any]:
    return {"revision": revision, "kubernetes_version": kube,
            "istiod": [{"pod": "istiod-x", "revision": revision, "version": version, "ready": True}]}


def test_outcomes_compared_only_where_both_runs_selected_them(tmp_path: Path) -> None:
    was = {"cluster-1": _cluster("asm-1285-9", "1.28.5-asm.9"), "cluster-2": _cluster("x", "1")}
    now = {"cluster-1": _cluster("asm-1295-1", "1.29.5-asm.1", "v1.34.0"), "cluster-3": _cluster("x", "1")}
    old = _doc({"a[c1]": "passed", "b[c1]": "failed", "c[c1]": "passed", "d[c1]": "passed"}, **was)
    new = _doc({"a[c1]": "failed", "b[c1]": "passed", "c[c1]": "skipped", "e[c1]": "passed"}, **now)
    diff = baseline.compare(old, new, tmp_path / "summary.json")
    assert diff["regressions"] == ["a[c1]"] and diff["improvements"] == ["b[c1]"]
    assert diff["changed"] == [{"check": "c[c1]", "was": "passed", "now": "skipped"}]
    assert diff["new_checks"] == ["e[c1]"] and diff["not_compared"] == ["d[c1]"]
    assert diff["clusters_added"] == ["cluster-3"] and diff["clusters_removed"] == ["cluster-2"]
    assert diff["moved"] == [
        "cluster-1 revision asm-1285-9 -> asm-1295-1",
        "cluster-1 istiod 1.28.5-asm.9 -> 1.29.5-asm.1",
        "cluster-1 Kubernetes v1.33.1 -> v1.34.0",
    ]
    shown = [text for text, _ in baseline.lines(diff)]
    assert "1 regression(s), 1 improved, 1 other outcome change(s)" in shown[0]
    assert "1 not compared (not selected in this run)" in shown[0]
    assert shown[1] == "regression: a[c1] passed in the baseline, fails now"


def test_a_summary_before_per_cluster_revisions_is_read_by_its_run_revision(tmp_path: Path) -> None:
    old = _doc({}, **{"cluster-1": {"istiod": [{"revision": "asm-1285-9", "version": "1.28.5-asm.9"}]}})
    old["revision"] = "asm-1285-9"
    new = _doc({}, **{"cluster-1": _cluster("asm-1285-9", "1.28.5-asm.9", None)})  # type: ignore[arg-type]
    assert baseline.compare(old, new, tmp_path)["moved"] == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json", "is not JSON"),
        (json.dumps({"suite": {"name": "other"}}), "is not a meshconform summary.json"),
        (json.dumps({"suite": {"name": "meshconform", "version": "9.0"}, "schema_version": 99, "checks": {}}),
         "has summary schema 99 (meshconform 9.0); this version reads schema"),
        (json.dumps({"suite": {"name": "meshconform"}, "schema_version": SCHEMA_VERSION, "checks": {},
                     "refusal": "no clusters given"}),
         "holds no verdicts (a refused run: no clusters given)"),
    ],
)
def test_files_that_cannot_be_a_baseline_are_refused(content: str, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text(content)
    with pytest.raises(baseline.Incompatible, match=re.escape(fragment)) as refused:
        baseline.read(path)
    assert "\n" not in str(refused.value)
