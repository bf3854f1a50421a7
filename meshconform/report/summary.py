"""summary.json: the run for machines, one stable document a CI job can diff night after night.

Per check id (`test_x[cluster-1]`, `test_y[cluster-1->cluster-2]`): outcome, the one-line
message, and for a failure the hint (fix and documentation links); then the clusters as the run
found them, the traffic matrix, the options, API use and the exit code. The shape is fixed by
docs/summary.schema.json (JSON Schema draft 2020-12, SCHEMA_VERSION below); a self-test validates
a lab run's summary against it. Nothing here holds a secret, and the text is redacted on writing.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshconform import __version__
from meshconform.checks import NOT_JUDGED, networks
from meshconform.checks.cluster import reach_problem
from meshconform.kube.redact import redact
from meshconform.mesh import control_plane_kind, membership, revision_choice, topology
from meshconform.mesh.facts import ClusterFacts, ControlPlane, DeclaredGateway, MeshFacts
from meshconform.mesh.sampling import FALSE_ALARMS
from meshconform.report import matrix
from meshconform.report.hints import area_of, hint_for

SCHEMA_VERSION = 1
# pytest's exit codes (pytest.ExitCode) as words, so a reader need not know them.
OUTCOMES = {0: "passed", 1: "failed", 2: "interrupted", 3: "internal-error", 4: "usage-error", 5: "no-tests"}


def verdict(exit_code: int | None, refused: bool = False) -> str:
    """What a CI gate keys on: only exit code 0 is green; `refused` is bad input that ended the run
    before any check (exit 4, the document's `refusal` says why); anything else is red. A usage
    error pytest raises later (a test path that does not exist) has no refusal: it is a fail."""
    if refused:
        return "refused"
    return "pass" if exit_code == 0 else "fail"


def check_entry(check_id: str, outcome: str, message: str, duration: float = 0.0) -> dict[str, Any]:
    """One check's line: hints only where something is to be fixed."""
    name, _, rest = check_id.partition("[")
    hint = hint_for(name) if outcome in ("failed", "error") else None
    return {
        "check": name,
        "target": rest.rstrip("]") or None,
        "area": area_of(name),
        "outcome": outcome,
        "message": message,
        "hint": hint.as_dict() if hint else None,
        "duration": round(duration, 3),
    }


def counts(checks: dict[str, dict[str, Any]]) -> dict[str, int]:
    out = {k: 0 for k in ("passed", "failed", "skipped", "error")}
    for entry in checks.values():
        out[entry["outcome"]] = out.get(entry["outcome"], 0) + 1
    return out


Declared = Sequence[tuple[str, DeclaredGateway]]  # (cluster, entry): meshNetworks' gateway addresses


def _gateway(control: ControlPlane | None, declared: Declared) -> dict[str, Any] | None:
    """The network's gateway: its Service, and where that has no address (a NodePort) the address
    mesh config meshNetworks declares for the network, which is what istiod hands out."""
    g = next((g for g in control.gateways if g.network == control.network), None) if control else None
    if g is None and not declared:
        return None
    entry: dict[str, Any] = {"name": None, "address": None, "port": None, "ready": None}
    if g is not None:
        entry |= {"name": g.name, "address": g.address, "port": g.traffic_port, "ready": g.ready_endpoints}
    if declared and not entry["address"]:
        where, d = declared[0]
        entry |= {"address": d.address, "port": d.port, "address_from": f"meshNetworks of {where}"}
    return entry


def _declared(facts: MeshFacts, c: ClusterFacts) -> list[tuple[str, DeclaredGateway]]:
    return networks.declarations(facts, c.control.network or "") if c.control else []


def cluster_entry(
    c: ClusterFacts, revision: str | None, role: str = "", declared: Declared = ()
) -> dict[str, Any]:
    """`declared`: the (cluster, entry) of each meshNetworks gateway address for c's network."""
    control = c.control
    return {
        "role": role,
        "context": c.context,
        "server": c.server,
        "kubernetes_version": c.server_version,
        "reach_problem": reach_problem(c),
        "revisions": control.revisions if control else [],
        "revision": c.revision or (None if c.revision_problem else revision),
        "revision_tag": c.tag,
        "revision_tags": revision_choice.tags_of(control.injectors) if control else {},
        "control_plane": control_plane_kind.kind(c.managed),
        "managed": dataclasses.asdict(c.managed) if c.managed else None,
        "istiod": [
            {"pod": p.name, "revision": p.revision, "version": p.version, "ready": p.ready}
            for p in (control.istiod if control else [])
        ],
        "trust_domain": control.trust_domain if control else None,
        "mesh_id": control.mesh_id if control else None,
        "network": control.network if control else None,
        "east_west_gateway": _gateway(control, declared),
        "root_ca": control.root_ca if control else None,
        "root_cas": control.root_cas if control else [],
        "root_note": control.root_note if control else None,
        "helloworld_version": c.workloads.version if c.workloads else None,
        "injection_label": dataclasses.asdict(c.injection) if c.injection else None,
    }


def mesh_entry(facts: MeshFacts) -> dict[str, Any]:
    """The mesh beyond the run: how many clusters its istiods know, and those not under test."""
    return {
        "clusters": len(facts.names) + len(facts.outside),
        "under_test": len(facts.names),
        "not_under_test": [
            {"cluster_id": cid, "registered_by": where} for cid, where in facts.outside.items()
        ],
        "line": membership.mesh_line(facts) or None,
        "control_planes": control_plane_kind.mesh_line(facts) or None,
    }


def verdicts_entry(
    facts: MeshFacts | None, checks: dict[str, dict[str, Any]], allow_inconclusive: bool
) -> dict[str, Any]:
    """How the statistical checks were judged: calls per source and why; what was not judged."""
    plan = facts.traffic_plan if facts else None
    planned = None
    if plan is not None and facts is not None:
        smallest = {"version": plan.smallest_version, "cluster": plan.smallest_cluster}
        planned = {
            "calls_per_source": plan.calls,
            "floor": plan.floor,
            "needed": plan.needed,
            "smallest": {**smallest, "share": round(plan.smallest_share, 6)},
            "cells": plan.cells,
            "capped": plan.capped,
            "reason": plan.reason,
            "takes": {source: tally.takes for source, tally in facts.traffic.items()},
        }
    return {
        "allow_inconclusive": allow_inconclusive,
        "not_judged": sorted(k for k, v in checks.items() if v["message"].startswith(NOT_JUDGED)),
        "false_alarms_per_run": FALSE_ALARMS,
        "traffic_plan": planned,
    }


def build(
    checks: dict[str, dict[str, Any]],
    facts: MeshFacts | None,
    exit_code: int | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The whole document; `extra` carries what only the plugin knows (options, clean-up, lab)."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "suite": {"name": "meshconform", "version": __version__},
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "exit_code": exit_code,
        "outcome": OUTCOMES.get(exit_code, "unknown") if exit_code is not None else "unknown",
        "verdict": verdict(exit_code, refused="refusal" in extra),
        "checks": dict(sorted(checks.items())),
        "counts": counts(checks),
        **extra,
    }
    if facts is not None:
        roles = {m.cluster: m.role for m in topology.members(facts)}
        doc.update(
            {
                "run_id": facts.run_id,
                "namespace": facts.namespace,
                "revision": facts.revision,
                "model": topology.model(facts),
                "revision_tags_split": revision_choice.split_tags(facts),
                "clusters": {
                    n: cluster_entry(c, facts.revision, roles.get(n, ""), _declared(facts, c))
                    for n, c in facts.clusters.items()
                },
                "mesh": mesh_entry(facts),
                "traffic_matrix": matrix.build(facts).as_dict(),
                "api": {n: {k: v for k, v in s.items() if k != "notes"} for n, s in facts.api.items()},
                "retries": [note for s in facts.api.values() for note in s.get("notes", [])],
                "gather_seconds": facts.wall_seconds,
            }
        )
    return doc


def write(path: Path, doc: dict[str, Any], secrets: tuple[str, ...] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(redact(json.dumps(doc, indent=2, sort_keys=True), secrets) + "\n")
    tmp.replace(path)
