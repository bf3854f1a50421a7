"""The check outcomes as grids that stay one screen wide at 20 clusters.

Pair checks (A->B: B discovers A, A's remote secret lives in B) are drawn as one source x target
matrix per check, a cell per ordered pair: at 20 clusters that is 20 x 20 small cells instead of a
row of 380 columns, and a broken cluster shows as a red row (its secrets are bad everywhere) or a
red column (it cannot use anyone's). The per-cluster checks are a checks x cluster grid. Columns
are the clusters' positions in the run (1 = the first --ctx), as in the mesh table, so that a
column is 20 px wide whatever the names; every cell's tooltip names its check, target and
message. A cell that failed links to its row in pytest-html's results table (the row's id is the
test's node id), where the evidence and diagnostics of that failure are. Colour and symbol both
carry the outcome, so the grid reads without colour too.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from meshconform.report.groups import phrase, split_id
from meshconform.report.hints import HINTS

SYMBOL = {
    "passed": "\u2713",
    "failed": "\u2717",
    "error": "!",
    "skipped": "\u25cb",
    "inconclusive": "?",
    "absent": "\u00b7",
}
MEANING = {
    "passed": "passed",
    "failed": "failed (click: its evidence)",
    "error": "error in set-up or tear-down (click: its evidence)",
    "skipped": "skipped (hover: why)",
    "inconclusive": "could not be decided (click: its evidence)",
    "absent": "not run",
}
LINKED = ("failed", "error", "inconclusive")
BASIC = ("passed", "failed", "skipped", "absent")


def shown_outcome(entry: dict[str, Any] | None) -> str:
    """The outcome a cell shows: pytest's, except that an undecided check is `inconclusive`."""
    if entry is None:
        return "absent"
    return "inconclusive" if entry.get("inconclusive") else str(entry["outcome"])


def href(anchor: str) -> str:
    """A fragment link to pytest-html's row whose id is `anchor` (a node id, escaped for a URL)."""
    return "#" + quote(anchor, safe="/:[]@!$&'()*+,;=._~-")


def cell(entry: dict[str, Any] | None, label: str) -> str:
    outcome = shown_outcome(entry)
    message = str(entry.get("message") or "") if entry else ""
    tip = escape(
        f"{label}: {MEANING.get(outcome, outcome)}" + (f"\n{message}" if message else ""), quote=True
    )
    symbol = SYMBOL.get(outcome, "?")
    anchor = entry.get("anchor") if entry else None
    if outcome in LINKED and anchor:
        symbol = f'<a href="{escape(href(str(anchor)), quote=True)}">{symbol}</a>'
    return f'<td class="{escape(outcome)}" title="{tip}">{symbol}</td>'


def legend(checks: dict[str, dict[str, Any]]) -> str:
    present = {shown_outcome(e) for e in checks.values()}
    outcomes = [o for o in SYMBOL if o in BASIC or o in present]
    items = "".join(
        f'<span class="mc-key"><span class="{o}">{SYMBOL[o]}</span> {escape(MEANING[o])}</span>'
        for o in outcomes
    )
    return f'<p class="mc-legend">{items}</p>'


def _short(name: str) -> str:
    return name.removeprefix("test_").replace("_", " ")


def _index_head(names: Sequence[str], what: str) -> str:
    return "".join(
        f'<th class="col" title="{escape(what)} {escape(n)}">{i}</th>' for i, n in enumerate(names, 1)
    )


def _row_head(index: int, name: str) -> str:
    return f'<th class="row" title="{escape(name)}"><span class="ix">{index}</span> {escape(name)}</th>'


def _scoped(checks: dict[str, dict[str, Any]], pairs: bool) -> list[str]:
    found = {n for n, t in map(split_id, checks) if t is not None and ("->" in t) == pairs}
    return [n for n in HINTS if n in found] + sorted(found - set(HINTS))


def cluster_grid(checks: dict[str, dict[str, Any]], names: Sequence[str]) -> str:
    """Rows: per-cluster checks in the guide's order; columns: clusters by position."""
    rows = _scoped(checks, pairs=False)
    if not rows or not names:
        return ""
    head = f'<tr><th class="corner">check \\ cluster</th>{_index_head(names, "cluster")}</tr>'
    body = "".join(
        f'<tr><th class="row">{escape(c)}</th>'
        + "".join(cell(checks.get(f"{c}[{n}]"), f"{c}[{n}]") for n in names)
        + "</tr>"
        for c in rows
    )
    key = " \u00b7 ".join(f'<span class="ix">{i}</span> {escape(n)}' for i, n in enumerate(names, 1))
    return (
        f'<h3>Checks per cluster</h3><p class="mc-clusters">Columns: {key}</p>'
        f'<table class="mc-grid mc-cluster-grid">{head}{body}</table>'
    )


def pair_matrix(checks: dict[str, dict[str, Any]], check: str, names: Sequence[str]) -> str:
    """One check over every ordered pair: row A (the source), column B (the cluster that discovers A)."""
    head = f'<tr><th class="corner">A \\ B</th>{_index_head(names, "B =")}</tr>'
    rows = []
    for i, a in enumerate(names, 1):
        cells = "".join(
            '<td class="self"></td>'
            if a == b
            else cell(checks.get(f"{check}[{a}->{b}]"), f"{check}[{a}->{b}]")
            for b in names
        )
        rows.append(f"<tr>{_row_head(i, a)}{cells}</tr>")
    by_outcome, tally = _tally(checks, check)
    fails = "".join(
        f'<div class="mc-fails">{word}: {escape(phrase(by_outcome[o], names, limit=4))}</div>'
        for o, word in (("failed", "failed"), ("error", "errors"), ("inconclusive", "undecided"))
        if by_outcome.get(o)
    )
    return (
        f'<figure class="mc-pair" id="pairs-{escape(check)}"><figcaption><b>{escape(_short(check))}</b> '
        f"<small>{escape(tally)}</small></figcaption>"
        f'<table class="mc-grid mc-pair-matrix" data-check="{escape(check)}">{head}{"".join(rows)}</table>'
        f"{fails}</figure>"
    )


def _tally(checks: dict[str, dict[str, Any]], check: str) -> tuple[dict[str, list[str]], str]:
    """The targets of `check` per shown outcome, and the outcomes counted: "2 failed, 52 passed"."""
    by_outcome: dict[str, list[str]] = {}
    for cid, entry in checks.items():
        name, target = split_id(cid)
        if name == check and target:
            by_outcome.setdefault(shown_outcome(entry), []).append(target)
    return by_outcome, ", ".join(f"{len(by_outcome[o])} {o}" for o in SYMBOL if by_outcome.get(o))


def pair_matrices(checks: dict[str, dict[str, Any]], names: Sequence[str]) -> str:
    """Every pair check as a matrix, side by side as the page's width allows, with the legend."""
    scoped = _scoped(checks, pairs=True)
    if not scoped or len(names) < 2:
        return ""
    title = (
        "Checks per ordered pair A->B (row A, column B: B discovers A, A's remote secret lives in B; "
        "for the calls: A's calls that B answered)"
    )
    figures = "".join(pair_matrix(checks, c, names) for c in scoped)
    return f'<h3>{escape(title)}</h3>{legend(checks)}<div class="mc-pairs">{figures}</div>'
