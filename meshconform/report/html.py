"""HTML fragments for pytest-html: the verdict, the mesh, the check grids, the matrix, the extras.

pytest-html renders the results table; these fragments go above it (its summary's postfix) and
into each test's extras. They are plain HTML with one <style> block and an inline SVG, no script
and no external resource, so the report stays self-contained and reads the same with scripts off.
Every value is escaped; the order of the page follows the questions a person asks: did it pass,
what failed and what to do, which clusters and pairs, where did the calls go.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from meshconform.mesh import control_plane_kind, membership, revision_choice, topology
from meshconform.mesh.diagnostics import Section
from meshconform.mesh.facts import ControlPlane, MeshFacts
from meshconform.report import grid, matrix, svg
from meshconform.report.groups import FAILING, phrase, split_id
from meshconform.report.hints import HINTS, Hint
from meshconform.report.matrix import TrafficMatrix

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
font-weight:bold}.mc .inconclusive{background:#efe4f7;color:#5b2a86;font-weight:bold}
.mc table.mc-grid th.col,.mc table.mc-grid td{width:18px;min-width:18px;height:18px;padding:0;
text-align:center;font-size:11px;line-height:18px}
.mc table.mc-grid td a{display:block;color:inherit;text-decoration:none}
.mc table.mc-grid td a:hover{outline:2px solid #a50f15}.mc table.mc-grid th.row{white-space:nowrap;
overflow:hidden;text-overflow:ellipsis;padding:0 6px;line-height:18px}
.mc table.mc-grid td.self{background:repeating-linear-gradient(45deg,#eee 0 3px,#fff 3px 6px)}
.mc .ix{color:#777;font-size:10px}
.mc-verdict li{color:#222}.mc .mc-pair-matrix th.row{max-width:16em}
.mc .mc-server{color:#1e6b30}.mc .mc-server.mc-unconfirmed{color:#a50f15;font-weight:bold}
.mc .mc-pairs{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
.mc figure.mc-pair{margin:0}.mc figcaption{font-size:12px;margin:4px 0}.mc .mc-fails{width:0;min-width:100%;
font-size:11px;color:#a50f15;overflow-wrap:anywhere}.mc-legend{font-size:12px;margin:4px 0}
.mc-key{margin-right:14px;white-space:nowrap}.mc-key span{display:inline-block;width:18px;text-align:center;
border:1px solid #ccc}.mc .mc-clusters{font-size:12px;margin:2px 0}
.mc table.mc-compact th,.mc table.mc-compact td{padding:2px 4px;font-size:11px}.mc small{font-weight:normal}
</style>"""
MAX_LISTED = 10  # failures of one check listed in full in the verdict; the rest fold away


def _links(hint: Hint) -> str:
    return " · ".join(
        f'<a href="{escape(d.url)}" target="_blank" rel="noopener">{escape(d.title)}</a>' for d in hint.docs
    )


def hint_block(hint: Hint | None) -> str:
    if hint is None:
        return ""
    return f'<div class="mc-hint"><b>Hint:</b> {escape(hint.fix)}<br>Docs: {_links(hint)}</div>'


def verdict(checks: dict[str, dict[str, Any]], exit_code: int | None, names: Sequence[str] = ()) -> str:
    """The run's outcome in one sentence, then per failing check its failures, hint and what it skipped."""
    bad = {k: v for k, v in checks.items() if v["outcome"] in FAILING}
    n = {o: sum(1 for v in checks.values() if v["outcome"] == o) for o in ("passed", "skipped")}
    if not bad and exit_code in (0, None):
        head = f"All {n['passed']} checks passed" + (f", {n['skipped']} skipped" if n["skipped"] else "")
        return f'<div class="mc-verdict"><p><b>{escape(head)}.</b></p></div>'
    head = f"{len(bad)} check(s) failed, {n['passed']} passed, {n['skipped']} skipped (exit code {exit_code})"
    items = [_failures(name, ids, checks, names) for name, ids in _by_check(bad, names).items()]
    return f'<div class="mc-verdict bad"><p><b>{escape(head)}.</b></p>{"".join(items)}</div>'


def _by_check(bad: dict[str, Any], names: Sequence[str]) -> dict[str, list[str]]:
    """check name -> its failing ids, checks in the guide's order, targets in --ctx order."""
    order = {n: i for i, n in enumerate(names)}
    rank = {n: i for i, n in enumerate(HINTS)}

    def key(check_id: str) -> tuple[int, str, list[int], str]:
        name, target = split_id(check_id)
        ends = [order.get(t, len(order)) for t in (target or "").split("->")]
        return rank.get(name, len(rank)), name, ends, check_id

    out: dict[str, list[str]] = {}
    for check_id in sorted(bad, key=key):
        out.setdefault(split_id(check_id)[0], []).append(check_id)
    return out


def _linked(check_id: str, entry: dict[str, Any]) -> str:
    anchor = entry.get("anchor")
    if not anchor:
        return escape(check_id)
    return f'<a href="{escape(grid.href(str(anchor)), quote=True)}">{escape(check_id)}</a>'


def _failures(name: str, ids: list[str], checks: dict[str, dict[str, Any]], names: Sequence[str]) -> str:
    hint, skipped = HINTS.get(name), _consequences(ids, checks, names)
    if len(ids) == 1:
        entry = checks[ids[0]]
        return (
            f'<div class="mc-failure"><p class="failed">\u2717 {_linked(ids[0], entry)}</p>'
            f"<p>{escape(entry['message'])}</p>{hint_block(hint)}{skipped}</div>"
        )
    targets = [split_id(i)[1] or i for i in ids]
    head = f"\u2717 {name}: {phrase(targets, names, limit=4)} ({len(ids)} failed)"
    items = [f"<li>{_linked(i, checks[i])}: {escape(checks[i]['message'])}</li>" for i in ids]
    listed = f"<ul>{''.join(items[:MAX_LISTED])}</ul>"
    if len(items) > MAX_LISTED:
        more = f"{len(items) - MAX_LISTED} more failures of {name}"
        listed += f"<details><summary>{more}</summary><ul>{''.join(items[MAX_LISTED:])}</ul></details>"
    head_line = f'<p class="failed">{escape(head)}</p>'
    return f'<div class="mc-failure">{head_line}{listed}{hint_block(hint)}{skipped}</div>'


def _consequences(ids: list[str], checks: dict[str, dict[str, Any]], names: Sequence[str]) -> str:
    """The checks skipped because one of `ids` failed, compacted per check."""
    starts = tuple(ids)
    skipped = [k for k, v in checks.items() if v["outcome"] == "skipped" and v["message"].startswith(starts)]
    if not skipped:
        return ""
    grouped: dict[str, list[str]] = {}
    for check_id in skipped:
        name, target = split_id(check_id)
        grouped.setdefault(name, []).extend([target] if target else [])
    rank = {n: i for i, n in enumerate(HINTS)}
    ordered = sorted(grouped.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    text = "; ".join(f"{n}: {phrase(t, names)}" if t else n for n, t in ordered)
    return f"<p>Skipped because of it: {escape(text)}</p>"


def mesh_table(facts: MeshFacts) -> str:
    """The clusters as the run found them: the model, then per cluster context, API server, role,
    istiod, trust, network and its east-west gateway."""
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "#",
            "cluster",
            "context",
            "API server",
            "Kubernetes",
            "role",
            "istiod (revision, version, ready)",
            "trust domain",
            "mesh ID",
            "network (east-west gateway)",
            "root CA",
            "helloworld",
        )
    )
    rows = [_mesh_row(facts, name, i) for i, name in enumerate(facts.names, 1)]
    mixed = facts.revision is None and any(c.revision for c in facts.clusters.values())
    rev = ("revisions: " if mixed else "revision ") + escape(revision_choice.described(facts))
    model = escape(topology.model(facts))
    table = (
        f"<h3>Mesh under test ({rev}; {model})</h3>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
    )
    beyond = membership.mesh_line(facts)
    planes = control_plane_kind.mesh_line(facts)
    table += f'<p class="mc-control-planes">{escape(planes)}.</p>' if planes else ""
    return table + (f'<p class="mc-outside">{escape(beyond[:1].upper() + beyond[1:])}.</p>' if beyond else "")


def _network_cell(ctl: ControlPlane | None) -> str:
    if ctl is None:
        return ""
    g = next((g for g in ctl.gateways if g.network == ctl.network), None)
    where = f" ({g.name} at {g.address or 'no address'})" if g is not None else ""
    return f"{ctl.network or '(unset)'}{where}"


def _mesh_value(ctl: ControlPlane | None, field: str) -> str:
    """A remote keeps no mesh config of its own (the remote profile installs none): its primary's
    istiod serves it, so the cell says where the value lives instead of "None"."""
    if ctl is None:
        return ""
    value = getattr(ctl, field)
    if value is None and ctl.control_plane_clusters and not ctl.istiod:
        return f"(its primary's, {ctl.control_plane_clusters})"
    return "" if value is None else str(value)


def _mesh_row(facts: MeshFacts, name: str, index: int) -> str:
    roles = {m.cluster: m.role for m in topology.members(facts)}
    c = facts.clusters[name]
    ctl = c.control
    istiod = "<br>".join(
        escape(f"{p.name}: {p.revision}, {p.version or '?'}, {'ready' if p.ready else 'NOT READY'}")
        for p in (ctl.istiod if ctl else [])
    ) or ('<span class="failed">unreachable</span>' if not c.usable else "none found")
    if roles.get(name) == topology.REMOTE and ctl is not None and not ctl.istiod:
        istiod = escape(f"none (a remote of {ctl.control_plane_clusters})")
    if c.managed is not None:
        istiod = escape(control_plane_kind.kind(c.managed)) + ("<br>" + istiod if ctl and ctl.istiod else "")
    cells = [
        str(index),
        escape(name),
        escape(c.context),
        escape(c.server),
        escape(c.server_version or "?"),
        escape(roles.get(name, "")),
        istiod,
        escape(_mesh_value(ctl, "trust_domain")),
        escape(_mesh_value(ctl, "mesh_id")),
        escape(_network_cell(ctl)),
        f"<code>{escape((ctl.root_ca or '')[:23] if ctl else '')}</code>",
        escape(c.workloads.version if c.workloads else ""),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def matrix_table(tm: TrafficMatrix, calls_per_source: int | None = None) -> str:
    """Counts and shares per source and version, expected shares in the header, misses in red.

    Beyond a handful of versions each cell is a narrow two-line one (count over share) and the
    header names the version and its expected share; the owner and the numbers are in tooltips."""
    if not tm.rows:
        return "<h3>Traffic matrix</h3><p>No hello calls were sent (the traffic stage did not run).</p>"
    versions = tm.versions()
    compact = len(versions) > matrix.HANDFUL
    expected = {d.version: d.expected for d in tm.destinations}
    head = "".join(_version_head(v, tm.owner(v), expected.get(v, 0), compact) for v in versions)
    rows = []
    for row in tm.rows:
        unreached = {d.version for d in tm.unreached(row)}
        if row.problem and not row.calls:
            cells = f'<td colspan="{len(versions) + 2}" class="failed">{escape(row.problem)}</td>'
        else:
            cells = "".join(
                _matrix_cell(row.counts.get(v, 0), row.share(v), v in unreached, compact)
                .replace("</td>", _server_note(tm, row, v, compact) + "</td>", 1)
                for v in versions
            )
            err_class = ' class="failed"' if row.errors else ""
            cells += f'<td class="num"{err_class}>{row.errors}</td><td class="num">{row.calls}</td>'
        rows.append(f"<tr><th>from {escape(row.source)}</th>{cells}</tr>")
    caption = (
        "Traffic matrix: answered hello calls by source cluster and version (count, share of answered); "
        "under each, the calls that version's sidecars received from that source over mTLS"
    )
    if compact:
        caption += "; column heads: version and its expected share, hover for its cluster"
    table_class = "meshconform-matrix mc-compact" if compact else "meshconform-matrix"
    return (
        f"<h3>{escape(caption)}</h3><table class='{table_class}'><tr><th>source \\ version</th>{head}"
        f"<th>failed</th><th>sent</th></tr>{''.join(rows)}</table>"
        + ("" if calls_per_source is None else f"<p>{calls_per_source} calls per source were asked for.</p>")
    )


def _server_note(tm: TrafficMatrix, row: matrix.Row, version: str, compact: bool) -> str:
    """The server's view of one cell: calls its sidecars received over mTLS from the source."""
    if version in tm.server_unknown:
        why = escape(f"server view unknown: {tm.server_unknown[version]}", quote=True)
        return f'<br><small class="mc-server" title="{why}">server ?</small>'
    got = row.confirmed.get(version, 0)
    tip = escape(
        f"{version}'s sidecars received {row.received.get(version, 0)} calls from {row.source}, "
        f"{got} of them over mTLS from its sleep identity",
        quote=True,
    )
    bad = " mc-unconfirmed" if tm.unconfirmed(row, version) else ""
    text = f"{got}" if compact else f"server: {got} mTLS"
    return f'<br><small class="mc-server{bad}" title="{tip}">{text}</small>'


def _version_head(version: str, owner: str, expected: float, compact: bool) -> str:
    if not compact:
        return (
            f"<th>{escape(version)} ({escape(owner)})<br><small>expected {100 * expected:.0f}%</small></th>"
        )
    tip = escape(
        f"{version} runs in {owner}; expected {100 * expected:.1f}% of the answered calls", quote=True
    )
    return f'<th class="num" title="{tip}">{escape(version)}<br><small>{100 * expected:.0f}%</small></th>'


def _matrix_cell(count: int, share: float, unreached: bool, compact: bool = False) -> str:
    if unreached:
        text = "0<br><small>never</small>" if compact else "0 (0%) never reached"
        return f'<td class="num unreached" title="never reached">{text}</td>'
    if compact:
        tip = f"{count} calls, {100 * share:.1f}% of the answered"
        return f'<td class="num" title="{tip}">{count}<br><small>{100 * share:.0f}%</small></td>'
    return f'<td class="num">{count} ({100 * share:.0f}%)</td>'


def chart(tm: TrafficMatrix) -> str:
    drawing = svg.chart(tm)
    title = (
        "Split per source (share of calls sent, failed in red; thin bar: the replica-weighted split expected)"
    )
    if len(tm.versions()) > matrix.HANDFUL:
        title += (
            f"; of {len(tm.versions())} versions, those never reached or furthest from their expected share "
            "have a colour, the rest share the grey"
        )
    return f"<h3>{escape(title)}</h3>{drawing}" if drawing else ""


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


def summary_page(
    checks: dict[str, dict[str, Any]],
    facts: MeshFacts | None,
    exit_code: int | None,
    calls_per_source: int | None,
) -> str:
    """What goes above pytest-html's results table: the verdict, the mesh, the grids, the traffic."""
    names = facts.names if facts is not None else []
    parts = [verdict(checks, exit_code, names)]
    if facts is not None:
        tm = matrix.build(facts)
        parts += [
            mesh_table(facts),
            grid.cluster_grid(checks, names),
            grid.pair_matrices(checks, names),
            matrix_table(tm, None if facts.traffic_plan else calls_per_source),  # the plan's line says it
            plan_line(facts),
            chart(tm),
            api_line(facts),
        ]
    return page(parts)


def page(parts: Iterable[str]) -> str:
    return f'<div class="mc">{STYLE}{"".join(p for p in parts if p)}</div>'


def plan_line(facts: MeshFacts) -> str:
    """Why that many calls: the plan's sentence, under the traffic matrix."""
    plan = facts.traffic_plan
    return f"<p class='meshconform-plan'>{escape(plan.reason)}</p>" if plan else ""
