"""HTML fragments for pytest-html: the verdict, the mesh, the check grids, the matrix, the extras.

pytest-html renders the results table; these fragments go above it (its summary's postfix) and
into each test's extras. They are plain HTML with one <style> block and an inline SVG, no script
and no external resource, so the report stays self-contained and reads the same with scripts off.
Every value is escaped; the order of the page follows the questions a person asks: did it pass,
what failed and what to do, which clusters and pairs, where did the calls go.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from meshconform.facts import MeshFacts
from meshconform.report import svg
from meshconform.report.hints import HINTS, Hint
from meshconform.report.matrix import TrafficMatrix
from meshconform.report.sections import Section

# The page reads top-down as a person asks: the verdict first, then each test, then what ran where
# (pytest-html puts its Environment table above the summary; a flex order moves it to the end).
STYLE = """<style>
body{display:flex;flex-direction:column}#environment-header,#environment{order:1}
#environment{align-self:flex-start}
.mc h2{margin:18px 0 6px}.mc h3{margin:14px 0 4px}.mc table{border-collapse:collapse;margin:4px 0}
.mc th,.mc td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top;font-size:12px}
.mc th{background:#f2f2f2;color:#333}.mc td{color:#222}.mc .num{text-align:right}.mc code{font-size:12px}
.mc a{color:#1a5fb4}
.mc .passed{background:#e6f4ea;color:#1e6b30}.mc .failed,.mc .error,.mc .unreached{background:#fde2e2;
color:#a50f15;font-weight:bold}.mc .skipped{background:#fff3d6;color:#7a5b00}.mc .absent{color:#999}
.mc-verdict{border-left:6px solid #1e6b30;background:#eef7f0;padding:8px 12px;margin:8px 0}
.mc-verdict.bad{border-left-color:#a50f15;background:#fdf0f0}.mc-verdict p{margin:4px 0}
.mc-failure{margin:8px 0 12px}.mc-hint{background:#eef3fb;border-left:4px solid #4e79a7;padding:4px 8px;
margin:4px 0;color:#222}.mc pre{white-space:pre-wrap;background:#f7f7f7;border:1px solid #ddd;padding:6px;
font-size:11px;max-height:420px;overflow:auto}.mc details{margin:4px 0}.mc summary{cursor:pointer;
font-weight:bold}
</style>"""
SYMBOL = {"passed": "\u2713 pass", "failed": "\u2717 FAIL", "error": "\u2717 ERROR", "skipped": "\u25cb skip"}


def _links(hint: Hint) -> str:
    return " · ".join(
        f'<a href="{escape(d.url)}" target="_blank" rel="noopener">{escape(d.title)}</a>' for d in hint.docs
    )


def hint_block(hint: Hint | None) -> str:
    if hint is None:
        return ""
    return f'<div class="mc-hint"><b>Hint:</b> {escape(hint.fix)}<br>Docs: {_links(hint)}</div>'


def verdict(checks: dict[str, dict[str, Any]], exit_code: int | None) -> str:
    """The run's outcome in one sentence, then each failure with its hint and what it skipped."""
    bad = {k: v for k, v in checks.items() if v["outcome"] in ("failed", "error")}
    n = {o: sum(1 for v in checks.values() if v["outcome"] == o) for o in ("passed", "skipped")}
    if not bad and exit_code in (0, None):
        head = f"All {n['passed']} checks passed" + (f", {n['skipped']} skipped" if n["skipped"] else "")
        return f'<div class="mc-verdict"><p><b>{escape(head)}.</b></p></div>'
    head = f"{len(bad)} check(s) failed, {n['passed']} passed, {n['skipped']} skipped (exit code {exit_code})"
    items = [_failure(check_id, entry, checks) for check_id, entry in sorted(bad.items())]
    return f'<div class="mc-verdict bad"><p><b>{escape(head)}.</b></p>{"".join(items)}</div>'


def _failure(check_id: str, entry: dict[str, Any], checks: dict[str, dict[str, Any]]) -> str:
    consequences = [
        k for k, v in checks.items() if v["outcome"] == "skipped" and v["message"].startswith(check_id)
    ]
    skipped = (
        f"<p>Skipped because of it: {escape(', '.join(sorted(consequences)))}</p>" if consequences else ""
    )
    hint = HINTS.get(entry["check"])
    return (
        f'<div class="mc-failure"><p class="failed">\u2717 {escape(check_id)}</p>'
        f"<p>{escape(entry['message'])}</p>{hint_block(hint)}{skipped}</div>"
    )


def mesh_table(facts: MeshFacts) -> str:
    """The clusters as the run found them: context, API server, istiod, trust and network."""
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "cluster",
            "context",
            "API server",
            "Kubernetes",
            "istiod (revision, version, ready)",
            "trust domain",
            "mesh ID",
            "network",
            "root CA",
            "helloworld",
        )
    )
    rows = [_mesh_row(facts, name) for name in facts.names]
    rev = escape(facts.revision or "not determined") + (
        f" ({escape(facts.revision_problem)})" if facts.revision_problem else ""
    )
    return f"<h3>Mesh under test (revision {rev})</h3><table><tr>{head}</tr>{''.join(rows)}</table>"


def _mesh_row(facts: MeshFacts, name: str) -> str:
    c = facts.clusters[name]
    ctl = c.control
    istiod = "<br>".join(
        escape(f"{p.name}: {p.revision}, {p.version or '?'}, {'ready' if p.ready else 'NOT READY'}")
        for p in (ctl.istiod if ctl else [])
    ) or ('<span class="failed">unreachable</span>' if c.reach_problem else "none found")
    cells = [
        escape(name),
        escape(c.context),
        escape(c.server),
        escape(c.server_version or "?"),
        istiod,
        escape(str(ctl.trust_domain if ctl else "")),
        escape(str(ctl.mesh_id if ctl else "")),
        escape(str(ctl.network if ctl else "")),
        f"<code>{escape((ctl.root_ca or '')[:23] if ctl else '')}</code>",
        escape(c.workloads.version if c.workloads else ""),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def check_grid(title: str, checks: dict[str, dict[str, Any]], targets: Iterable[str], pairs: bool) -> str:
    """Rows: checks in the guide's order; columns: clusters (or pairs); cells: outcome + message."""
    targets = list(targets)
    scoped = {v["check"] for v in checks.values() if ("->" in (v["target"] or "")) == pairs}
    names = [n for n in HINTS if n in scoped]
    if not names or not targets:
        return ""
    head = "".join(f"<th>{escape(t)}</th>" for t in targets)
    rows = []
    for name in names:
        cells = "".join(_grid_cell(checks.get(f"{name}[{t}]")) for t in targets)
        rows.append(f"<tr><th>{escape(name)}</th>{cells}</tr>")
    return f"<h3>{escape(title)}</h3><table><tr><th>check</th>{head}</tr>{''.join(rows)}</table>"


def _grid_cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return '<td class="absent">not run</td>'
    outcome = entry["outcome"]
    tip = escape(entry["message"] or outcome, quote=True)
    return f'<td class="{escape(outcome)}" title="{tip}">{SYMBOL.get(outcome, escape(outcome))}</td>'


def matrix_table(tm: TrafficMatrix, requests: int | None = None) -> str:
    """Counts and shares per source and version, expected shares in the header, misses in red."""
    if not tm.rows:
        return "<h3>Traffic matrix</h3><p>No hello calls were sent (the traffic stage did not run).</p>"
    versions = tm.versions()
    expected = {d.version: d.expected for d in tm.destinations}
    head = "".join(
        f"<th>{escape(v)} ({escape(tm.owner(v))})<br>"
        f"<small>expected {100 * expected.get(v, 0):.0f}%</small></th>"
        for v in versions
    )
    rows = []
    for row in tm.rows:
        unreached = {d.version for d in tm.unreached(row)}
        if row.problem and not row.requests:
            cells = f'<td colspan="{len(versions) + 2}" class="failed">{escape(row.problem)}</td>'
        else:
            cells = "".join(
                _matrix_cell(row.counts.get(v, 0), row.share(v), v in unreached) for v in versions
            )
            err_class = ' class="failed"' if row.errors else ""
            cells += f'<td class="num"{err_class}>{row.errors}</td><td class="num">{row.requests}</td>'
        rows.append(f"<tr><th>from {escape(row.source)}</th>{cells}</tr>")
    caption = "Traffic matrix: answered hello calls by source cluster and version (count, share of answered)"
    return (
        f"<h3>{escape(caption)}</h3><table class='meshconform-matrix'><tr><th>source \\ version</th>{head}"
        f"<th>failed</th><th>sent</th></tr>{''.join(rows)}</table>"
        + ("" if requests is None else f"<p>{requests} calls per source were asked for.</p>")
    )


def _matrix_cell(count: int, share: float, unreached: bool) -> str:
    if unreached:
        return '<td class="num unreached" title="never reached">0 (0%) never reached</td>'
    return f'<td class="num">{count} ({100 * share:.0f}%)</td>'


def chart(tm: TrafficMatrix) -> str:
    drawing = svg.chart(tm)
    title = (
        "<h3>Split per source (share of calls sent, failed in red; thin bar: the replica-weighted split "
        "expected)</h3>"
    )
    return title + drawing if drawing else ""


def api_line(facts: MeshFacts) -> str:
    items = [
        f"{escape(n)}: {s.get('requests', 0)} calls, {s.get('retries', 0)} retried, "
        f"{s.get('exec_sessions', 0)} exec sessions"
        for n, s in facts.api.items()
    ]
    notes = [escape(n) for s in facts.api.values() for n in s.get("notes", [])]
    retried = f"<p>Retried calls: {'; '.join(notes)}</p>" if notes else ""
    scope = "the suite's API calls until the checks ran, each counted once however many attempts it took"
    return (
        f"<p>API use ({scope}): {'; '.join(items)}; facts gathered in {facts.wall_seconds:.1f}s.</p>{retried}"
    )


def evidence_extra(text: str) -> str:
    summary = "<summary>Evidence: the facts this check judged</summary>"
    return f'<div class="mc"><details>{summary}<pre>{escape(text)}</pre></details></div>'


def diagnostics_extra(found: list[Section], hint: Hint | None) -> str:
    """A failure's diagnostics, open, each block with the command it stands for; the hint last."""
    blocks = "".join(
        f"<details open><summary>{escape(s.title)}</summary>"
        + (f"<p><code>$ {escape(s.command)}</code></p>" if s.command else "")
        + f"<pre>{escape(s.text)}</pre></details>"
        for s in found
    )
    none = "" if found else "<p>No further diagnostics apply to this check.</p>"
    return f'<div class="mc"><h4>Diagnostics gathered at failure</h4>{blocks}{none}{hint_block(hint)}</div>'


def page(parts: Iterable[str]) -> str:
    return f'<div class="mc">{STYLE}{"".join(p for p in parts if p)}</div>'
