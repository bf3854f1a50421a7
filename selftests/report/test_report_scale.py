"""The report at 20 clusters, without a browser: grouping, compaction and the fragments' shape.

Compaction must be lossless (the groups name exactly the failing pairs, no more, no fewer), so it
is checked both on the cases a person reads (a broken source, a broken target, two stray pairs)
and by expanding the groups of many random pair sets back. The fragments are parsed for what a
person relies on: one matrix cell per ordered pair and check, a link on every failing cell to its
results row, at most a handful of colours in the split chart, a narrow traffic matrix.
"""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

import pytest
import synthetic
from synthetic import names

from fixtures import reporting
from meshconform.mesh import facts as mf
from meshconform.mesh.facts import MeshFacts
from meshconform.report import grid, groups, html, matrix, svg

PAIR_CHECKS = (
    "test_remote_secret_present",
    "test_remote_secret_targets_cluster",
    "test_remote_secret_credentials",
    "test_istiod_synced",
    "test_sidecar_synced",
    "test_calls_arrive_over_mtls",
)


def expand(group: str, all_names: list[str]) -> set[tuple[str, str]]:
    """A group of compact_pairs back to its pairs: `a->*`, `*->b`, `a->{b,c}`, `{a,b}->c`, `*->*`."""
    left, right = group.split("->")

    def side(text: str) -> list[str]:
        if text == groups.STAR:
            return all_names
        inner = text.strip("{}")
        if inner.startswith(f"{groups.STAR} except "):
            return [n for n in all_names if n not in inner.split(" except ", 1)[1].split(",")]
        return inner.split(",")

    return {(a, b) for a in side(left) for b in side(right) if a != b}


@pytest.mark.parametrize(
    ("pairs", "n", "expected"),
    [
        ({("cluster-1", "cluster-2"), ("cluster-1", "cluster-5")}, 8, ["cluster-1->{cluster-2,cluster-5}"]),
        ({("cluster-3", f"cluster-{b}") for b in range(1, 21) if b != 3}, 20, ["cluster-3->*"]),
        ({(f"cluster-{a}", "cluster-7") for a in range(1, 21) if a != 7}, 20, ["*->cluster-7"]),
        ({("cluster-2", "cluster-6"), ("cluster-4", "cluster-6")}, 8, ["{cluster-2,cluster-4}->cluster-6"]),
        (
            {(f"cluster-{a}", "cluster-1") for a in range(2, 9) if a != 3} | {("cluster-2", "cluster-3")},
            8,
            ["{* except cluster-3}->cluster-1", "cluster-2->cluster-3"],
        ),
        ({("cluster-1", "cluster-2")}, 2, ["cluster-1->cluster-2"]),
        (
            {("cluster-1", "cluster-2"), ("cluster-2", "cluster-1")},
            2,
            ["cluster-1->cluster-2", "cluster-2->cluster-1"],
        ),
        ({(a, b) for a in names(4) for b in names(4) if a != b}, 4, ["*->*"]),
        (set(), 5, []),
    ],
    ids=[
        "two-targets",
        "broken-source",
        "broken-target",
        "by-target",
        "all-but-one",
        "n2",
        "n2-both",
        "all",
        "none",
    ],
)
def test_compact_pairs_names_what_a_person_would_say(
    pairs: set[tuple[str, str]], n: int, expected: list[str]
) -> None:
    assert groups.compact_pairs(pairs, names(n)) == expected


@pytest.mark.parametrize("n", [2, 3, 5, 8, 20])
def test_compact_pairs_is_lossless_and_never_longer_than_the_pairs(n: int) -> None:
    every = [(a, b) for a in names(n) for b in names(n) if a != b]
    rng = random.Random(n)
    for _ in range(200):
        chosen = set(rng.sample(every, rng.randint(1, len(every))))
        if rng.random() < 0.3:  # a broken source or target on top, as faults make them
            hub = rng.choice(names(n))
            chosen |= {p for p in every if hub in p}
        found = groups.compact_pairs(chosen, names(n))
        expanded = [expand(g, names(n)) for g in found]
        assert set().union(*expanded) == chosen, (found, sorted(chosen))
        assert len(found) <= len(chosen)


def test_failing_lines_group_per_check_with_the_star_explained() -> None:
    checks = synthetic.outcomes(
        8,
        {
            "test_remote_secret_present": {"cluster-1->cluster-2", "cluster-1->cluster-5"},
            "test_remote_secret_credentials": {f"cluster-3->{b}" for b in names(8) if b != "cluster-3"},
            "test_istiod_ready": {"cluster-4", "cluster-2"},
        },
    )
    assert groups.failing_lines(checks, names(8)) == [
        "failed: test_istiod_ready: cluster-2, cluster-4 (2 failed)",
        "failed: test_remote_secret_present: cluster-1->{cluster-2,cluster-5} (2 failed)",
        "failed: test_remote_secret_credentials: cluster-3->* (7 failed)",
        groups.STAR_NOTE,
    ]
    every = synthetic.outcomes(5, {"test_istiod_ready": set(names(5))})
    assert groups.failing_lines(every, names(5)) == [
        "failed: test_istiod_ready: every cluster (5) (5 failed)"
    ]
    assert groups.failing_lines(synthetic.outcomes(3, {}), names(3)) == []


def test_phrase_caps_the_groups_it_names() -> None:
    scattered = [f"cluster-{a}->cluster-{a + 1}" for a in range(1, 12)]
    text = groups.phrase(scattered, names(20), limit=4)
    assert text.count("->") == 4 and text.endswith("and 7 more groups")


class Cells(HTMLParser):
    """The cells of every pair matrix: (check, title, class, href or None)."""

    def __init__(self) -> None:
        super().__init__()
        self.check = ""
        self.cells: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "mc-pair-matrix" in (a.get("class") or ""):
            self.check = a.get("data-check") or ""
        elif tag == "td" and self.check:
            self.cells.append(
                {"check": self.check, "class": a.get("class"), "title": a.get("title"), "href": None}
            )
        elif tag == "a" and self.cells and self.check:
            self.cells[-1]["href"] = a.get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.check = ""


def test_pair_matrices_have_a_cell_per_pair_and_link_every_failure() -> None:
    n = 20
    failing = {"test_remote_secret_credentials": {f"cluster-3->{b}" for b in names(n) if b != "cluster-3"}}
    found = synthetic.outcomes(n, failing)
    for cid in found:
        found[cid]["anchor"] = f"tests/test_1_join.py::{cid}"
    parser = Cells()
    parser.feed(grid.pair_matrices(found, names(n)))
    assert {c["check"] for c in parser.cells} == set(PAIR_CHECKS)
    k = len(PAIR_CHECKS)
    assert len(parser.cells) == k * n * n and sum(c["class"] == "self" for c in parser.cells) == k * n
    failed = [c for c in parser.cells if c["class"] == "failed"]
    assert len(failed) == n - 1 and all(c["check"] == "test_remote_secret_credentials" for c in failed)
    for cell in failed:
        label = cell["title"].split(": ", 1)[0]
        assert cell["href"] == grid.href(f"tests/test_1_join.py::{label}")
        assert re.fullmatch(
            r"#tests/test_1_join\.py::test_remote_secret_credentials\[cluster-3->cluster-\d+\]",
            unquote(cell["href"]),
        )
    assert all(c["href"] is None for c in parser.cells if c["class"] != "failed")


def test_an_undecided_pair_shows_as_inconclusive_with_its_legend() -> None:
    found = synthetic.outcomes(3, {})
    found["test_istiod_synced[cluster-1->cluster-2]"].update(
        outcome="skipped", message="istiod too old", inconclusive=True, anchor="x::test_istiod_synced"
    )
    out = grid.pair_matrices(found, names(3))
    assert out.count('<td class="inconclusive"') == 1 and 'href="#x::test_istiod_synced"' in out
    assert "undecided: cluster-1-&gt;cluster-2" in out and "failed:" not in out
    assert "could not be decided" in grid.legend(found)
    assert "could not be decided" not in grid.legend(synthetic.outcomes(3, {}))


def test_verdict_groups_a_broken_source_into_one_block_with_one_hint() -> None:
    n = 20
    failing = {f"cluster-3->{b}" for b in names(n) if b != "cluster-3"}
    found = synthetic.outcomes(n, {"test_remote_secret_credentials": failing})
    found["test_istiod_synced[cluster-3->cluster-1]"].update(
        outcome="skipped", message="test_remote_secret_credentials[cluster-3->cluster-1] failed: ..."
    )
    out = html.verdict(found, 1, names(n))
    assert out.count("mc-failure") == 1 and out.count("<b>Hint:</b>") == 1
    assert "test_remote_secret_credentials: cluster-3-&gt;* (19 failed)" in out
    assert out.count("<li>") == n - 1 and f"{n - 1 - html.MAX_LISTED} more failures" in out
    assert "Skipped because of it: test_istiod_synced: cluster-3-&gt;cluster-1</p>" in out


def test_traffic_matrix_is_compact_beyond_a_handful_of_versions() -> None:
    n = 20
    missed = [("cluster-2", "v1")] + [(a, "v7") for a in names(n) if a != "cluster-7"]
    tm = matrix.build(synthetic.mesh_facts(n, missed))
    table = html.matrix_table(tm)
    assert "mc-compact" in table and table.count('class="num unreached"') == n
    assert "never reached" not in table.replace('title="never reached"', "")
    small = matrix.build(synthetic.mesh_facts(2, [("cluster-2", "v1")]))
    assert "mc-compact" not in html.matrix_table(small) and "0 (0%) never reached" in html.matrix_table(small)


def test_notable_versions_put_the_missed_first() -> None:
    n = 20
    missed = [("cluster-2", "v1")] + [(a, "v7") for a in names(n) if a != "cluster-7"]
    tm = matrix.build(synthetic.mesh_facts(n, missed))
    shown = tm.notable()
    assert len(shown) == matrix.HANDFUL - 1 and {"v1", "v7"} <= set(shown)
    assert shown == [v for v in tm.versions() if v in shown], "not in the matrix's order"
    few = matrix.build(synthetic.mesh_facts(matrix.HANDFUL))
    assert few.notable() == few.versions()


SVG = "{http://www.w3.org/2000/svg}"


def test_split_chart_groups_twenty_versions_into_a_handful_of_colours() -> None:
    n = 20
    missed = [("cluster-2", "v1")] + [(a, "v7") for a in names(n) if a != "cluster-7"]
    tm = matrix.build(synthetic.mesh_facts(n, missed))
    root = ET.fromstring(svg.chart(tm))
    assert int(root.get("width", "0")) <= 1000
    fills = {r.get("fill") for r in root.iter(f"{SVG}rect")}
    assert len(fills) <= matrix.HANDFUL + 1, fills  # the notable, the grey rest, failed
    texts = [(t.text or "").strip() for t in root.iter(f"{SVG}text")]
    texts += [(t.tail or "").strip() for t in root.iter(f"{SVG}title")]  # a <title> inside the text
    assert "15 other versions together" in texts
    missed_lines = [t for t in texts if t.startswith("never reached")]
    assert len(missed_lines) == n - 1 and "never reached: v1, v7" in missed_lines
    for t in root.iter(f"{SVG}text"):  # nothing drawn past the chart's right edge
        assert float(t.get("x", "0")) < int(root.get("width", "0"))


def _report(nodeid: str, when: str, outcome: str, longrepr: Any = None) -> pytest.TestReport:
    return pytest.TestReport(nodeid, ("tests/x.py", 0, "x"), {}, outcome, longrepr, when)  # type: ignore[arg-type]


def test_record_keeps_the_results_row_each_check_links_to() -> None:
    """pytest-html 4 names a call's row by the node id and a set-up error's by `nodeid::setup`."""
    results: dict[str, dict[str, Any]] = {}
    call = "tests/test_1_join.py::test_istiod_synced[cluster-1->cluster-2]"
    setup = "tests/test_1_join.py::test_istiod_synced[cluster-2->cluster-1]"
    for rep in (
        _report(call, "setup", "passed"),
        _report(call, "call", "failed", "E   istiod in cluster-2 does not list cluster-1"),
        _report(call, "teardown", "passed"),
        _report(setup, "setup", "failed", "E   RuntimeError: boom"),
    ):
        reporting.record(results, rep)
    found = reporting.shown(results)
    assert found["test_istiod_synced[cluster-1->cluster-2]"]["anchor"] == call
    assert found["test_istiod_synced[cluster-2->cluster-1]"]["anchor"] == f"{setup}::setup"
    assert found["test_istiod_synced[cluster-2->cluster-1]"]["outcome"] == "error"
    entry = reporting._entry(
        "test_istiod_synced[cluster-1->cluster-2]", results["test_istiod_synced[cluster-1->cluster-2]"]
    )
    assert "anchor" not in entry and "inconclusive" not in entry, "summary.json's schema has no such fields"


def test_facts_keep_the_ctx_order_through_json() -> None:
    """Workers and the report read the facts from JSON: cluster-10 must not come before cluster-2."""
    facts = synthetic.mesh_facts(12)
    again = mf.from_json(MeshFacts, mf.to_json(facts))
    assert again.names == names(12) and list(again.traffic) == names(12)
    assert [r.source for r in matrix.build(again).rows] == names(12)
