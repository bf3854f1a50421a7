"""What a run tells people and machines: summary.json, the traffic matrix, short evidence.

summary.json has one entry per check id (outcome and its one-line message) plus the traffic
matrix (source cluster x version counts) and the API client's retry counts, so a CI job can diff
nights. The HTML fragments go into pytest-html's summary. Nothing here sees a secret: facts hold
fingerprints only, and every string is passed through `redact` as a last line of defence.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from meshconform.facts import MeshFacts

_BEARER = re.compile(r"(?i)(bearer\s+|token[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._\-]{16,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Blank out bearer tokens, JWTs, private keys and any of `secrets` seen verbatim."""
    text = _PEM_KEY.sub("[private key redacted]", text)
    text = _JWT.sub("[token redacted]", text)
    text = _BEARER.sub(lambda m: m.group(1) + "[redacted]", text)
    for value in secrets:
        if value and len(value) >= 8:
            text = text.replace(value, "[redacted]")
    return text


def traffic_matrix(facts: MeshFacts) -> dict[str, dict[str, int]]:
    """source cluster -> {version: answered calls, 'errors': failed calls}."""
    matrix: dict[str, dict[str, int]] = {}
    for source, tally in facts.traffic.items():
        row = dict(sorted(tally.by_version.items()))
        failed = sum(n for code, n in tally.by_status.items() if code != "200") + tally.malformed
        row["errors"] = failed
        matrix[source] = row
    return matrix


def version_owners(facts: MeshFacts) -> dict[str, str]:
    return {wl.version: name for name, c in facts.clusters.items() if (wl := c.workloads)}


def summary(
    results: dict[str, dict[str, str]], facts: MeshFacts | None, extra: dict[str, Any]
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
    doc: dict[str, Any] = {"checks": dict(sorted(results.items())), "counts": counts, **extra}
    if facts is not None:
        doc.update(
            {
                "run_id": facts.run_id,
                "namespace": facts.namespace,
                "revision": facts.revision,
                "clusters": {
                    n: {"context": c.context, "server": c.server, "version": c.server_version}
                    for n, c in facts.clusters.items()
                },
                "traffic_matrix": traffic_matrix(facts),
                "versions": version_owners(facts),
                "api": {n: {k: v for k, v in s.items() if k != "notes"} for n, s in facts.api.items()},
                "retries": [note for s in facts.api.values() for note in s.get("notes", [])],
                "gather_seconds": facts.wall_seconds,
            }
        )
    return doc


def write_summary(path: Path, doc: dict[str, Any], secrets: tuple[str, ...] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(json.dumps(doc, indent=2, sort_keys=True), secrets) + "\n")


def matrix_html(facts: MeshFacts) -> str:
    """The traffic matrix as a small table for the HTML report's summary."""
    matrix = traffic_matrix(facts)
    if not matrix:
        return "<p>No traffic was sent.</p>"
    owners = version_owners(facts)
    versions = sorted({v for row in matrix.values() for v in row if v != "errors"} | set(owners))
    head = "".join(f"<th>{html.escape(v)} ({html.escape(owners.get(v, '?'))})</th>" for v in versions)
    rows = []
    for source, row in sorted(matrix.items()):
        cells = "".join(f"<td>{row.get(v, 0)}</td>" for v in versions)
        rows.append(f"<tr><th>{html.escape(source)}</th>{cells}<td>{row.get('errors', 0)}</td></tr>")
    return (
        f"<h3>Traffic matrix (calls answered, by caller and version)</h3><table class='meshconform-matrix'>"
        f"<tr><th>from</th>{head}<th>errors</th></tr>{''.join(rows)}</table>"
    )


def api_html(facts: MeshFacts) -> str:
    items = [
        f"{html.escape(n)}: {s.get('requests', 0)} requests, {s.get('retries', 0)} retried, "
        f"{s.get('exec_sessions', 0)} exec sessions"
        for n, s in facts.api.items()
    ]
    notes = [html.escape(n) for s in facts.api.values() for n in s.get("notes", [])]
    retry_list = f"<p>Retried calls: {'; '.join(notes)}</p>" if notes else ""
    return f"<p>API use: {'; '.join(items)}; facts gathered in {facts.wall_seconds:.1f}s.</p>{retry_list}"


def evidence(facts: MeshFacts, target: str) -> str:
    """The facts behind one check target, as bounded JSON for a failed test's extras."""
    names = target.split("->")
    part: dict[str, Any] = {}
    for name in names:
        c = facts.clusters.get(name)
        if c is not None:
            part[name] = {
                "reach_problem": c.reach_problem,
                "problems": c.problems,
                "workloads": _asdict(c.workloads),
                "remote_secrets": c.remote_secret_ids,
            }
    if target in facts.pairs:
        part[target] = _asdict(facts.pairs[target])
    if names[0] in facts.traffic:
        part["traffic"] = _asdict(facts.traffic[names[0]])
    text = json.dumps(part, indent=1, sort_keys=True, default=str)
    return redact(text[:6000] + ("\n... (truncated)" if len(text) > 6000 else ""))


def _asdict(obj: Any) -> Any:
    import dataclasses

    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) and not isinstance(obj, type) else obj
