"""What changed against a previous run (`--baseline PATH`, that run's summary.json).

Around an upgrade people ask "what changed?": which checks changed outcome (regressions first: a
check that passed then and fails now), whether the traffic split drifted beyond chance
(checks/drift.py), which revisions, istiod versions and Kubernetes versions moved, which clusters
came or went. Only the checks selected in both runs are compared; those the baseline had and this
run did not select are counted as not compared, and said. A regression fails the run as any
failure does; it is named, not judged twice.

The baseline is read if this suite can read its schema (the same `schema_version`; the suite
version may differ) and it holds verdicts; anything else is refused in one line before any test.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from meshconform.checks import drift
from meshconform.report.summary import SCHEMA_VERSION

READABLE = (SCHEMA_VERSION,)  # the summary schemas this version compares against


class Incompatible(ValueError):
    """The one line that says why a file cannot be a baseline, and what to pass instead."""


def read(path: Path) -> dict[str, Any]:
    where = f"--baseline {path}"
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise Incompatible(f"{where}: cannot be read ({type(exc).__name__}); pass a summary.json") from None
    except json.JSONDecodeError as exc:
        raise Incompatible(
            f"{where} is not JSON (line {exc.lineno}); pass a previous run's summary.json"
        ) from None
    if not isinstance(doc, dict) or (doc.get("suite") or {}).get("name") != "meshconform":
        raise Incompatible(f"{where} is not a meshconform summary.json; pass a previous run's summary.json")
    if doc.get("schema_version") not in READABLE:
        wrote = (doc.get("suite") or {}).get("version", "?")
        raise Incompatible(
            f"{where} has summary schema {doc.get('schema_version')!r} (meshconform {wrote}); this version "
            f"reads schema {', '.join(map(str, READABLE))}: compare with the version that wrote it"
        )
    if not doc.get("checks"):
        raise Incompatible(f"{where} holds no verdicts (a refused run: {doc.get('refusal') or 'no checks'})")
    return doc


def compare(old: dict[str, Any], new: dict[str, Any], path: Path) -> dict[str, Any]:
    """The `baseline` entry of summary.json."""
    was, now = old.get("checks") or {}, new.get("checks") or {}
    both = sorted(set(was) & set(now))
    outcomes = [(c, was[c]["outcome"], now[c]["outcome"]) for c in both]
    moved = [(c, a, b) for c, a, b in outcomes if a != b]
    return {
        "path": str(path),
        "run_id": old.get("run_id"),
        "generated_at": old.get("generated_at"),
        "suite_version": (old.get("suite") or {}).get("version"),
        "regressions": [c for c, a, b in moved if a == "passed" and b == "failed"],
        "improvements": [c for c, a, b in moved if a == "failed" and b == "passed"],
        "changed": [{"check": c, "was": a, "now": b} for c, a, b in moved
                    if {a, b} != {"passed", "failed"}],
        "new_checks": sorted(set(now) - set(was)),
        "not_compared": sorted(set(was) - set(now)),
        "clusters_added": [n for n in new.get("clusters") or {} if n not in (old.get("clusters") or {})],
        "clusters_removed": [n for n in old.get("clusters") or {} if n not in (new.get("clusters") or {})],
        "moved": _moved(old, new),
        "traffic_drift": [d.line() for d in drift.drifted(_splits(old), _splits(new))],
    }


def _moved(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`cluster-1 revision asm-1285-9 -> asm-1295-1`, for each fact of a cluster in both runs."""
    out = []
    for name, now in (new.get("clusters") or {}).items():
        then = (old.get("clusters") or {}).get(name)
        if then is None:
            continue
        for what, a, b in (
            ("revision", _revision(old, then), _revision(new, now)),
            ("revision tag", then.get("revision_tag"), now.get("revision_tag")),
            ("istiod", _istiod(old, then), _istiod(new, now)),
            ("Kubernetes", then.get("kubernetes_version"), now.get("kubernetes_version")),
        ):
            if a != b:
                out.append(f"{name} {what} {a or '(none)'} -> {b or '(none)'}")
    return out


def _revision(doc: dict[str, Any], cluster: dict[str, Any]) -> str | None:
    """The cluster's own revision; a summary before per-cluster revisions has only the run's."""
    return cluster.get("revision") or doc.get("revision")


def _istiod(doc: dict[str, Any], cluster: dict[str, Any]) -> str | None:
    revision = _revision(doc, cluster)
    pods = [p for p in cluster.get("istiod") or [] if p.get("revision") == revision]
    versions = sorted({p.get("version") or "?" for p in pods})
    return ", ".join(versions) or None


def _splits(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    sources = ((doc.get("traffic_matrix") or {}).get("sources")) or {}
    return {s: {v: int(n) for v, n in (row.get("counts") or {}).items()} for s, row in sources.items()}


def lines(diff: dict[str, Any]) -> list[tuple[str, bool]]:
    """The terminal's lines, each with whether it is bad news (shown red)."""
    head = f"against baseline {diff['path']} (run {diff['run_id'] or '?'}, {diff['generated_at'] or '?'})"
    out = [(f"{head}: {_tally(diff)}", bool(diff["regressions"]))]
    out += [(f"regression: {c} passed in the baseline, fails now", True) for c in diff["regressions"]]
    out += [(f"improved: {c} failed in the baseline, passes now", False) for c in diff["improvements"]]
    out += [(f"changed: {x['check']} {x['was']} -> {x['now']}", False) for x in diff["changed"]]
    out += [(f"moved: {m}", False) for m in diff["moved"]]
    for what in ("added", "removed"):
        names = diff[f"clusters_{what}"]
        out += [(f"clusters {what}: {', '.join(names)}", False)] if names else []
    out += [(f"traffic drifted {d}", True) for d in diff["traffic_drift"]]
    return out


def _tally(diff: dict[str, Any]) -> str:
    parts = [
        f"{len(diff['regressions'])} regression(s)",
        f"{len(diff['improvements'])} improved",
        f"{len(diff['changed'])} other outcome change(s)",
    ]
    if diff["new_checks"]:
        parts.append(f"{len(diff['new_checks'])} new check(s)")
    if diff["not_compared"]:
        parts.append(f"{len(diff['not_compared'])} not compared (not selected in this run)")
    return ", ".join(parts)


def section(diff: dict[str, Any]) -> str:
    """The report's block: the same lines, regressions marked."""
    if "unreadable" in diff:
        return f"<h3>Against the baseline</h3><p>not compared: {escape(diff['unreadable'])}</p>"
    items = "".join(
        f'<li class="{"failed" if bad else ""}">{escape(text)}</li>' for text, bad in lines(diff)
    )
    return f"<h3>Against the baseline</h3><ul>{items}</ul>"
