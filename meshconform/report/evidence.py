"""The facts a check judged, for every test in the report: what it saw, not what it concluded.

A check reads a few facts of its target (a cluster, or a pair A->B) and, for comparisons, of the
reference cluster (the first one, already in the mesh). This module picks exactly those out of the
run's MeshFacts by the check's area, as a small JSON-ready dict, so a passing test shows why it
passed and a failing one shows the observed object next to its message. Facts hold no secrets
(fingerprints only), and the text is still redacted and bounded before it is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from meshconform.checks import reference
from meshconform.checks.join import secret_identity
from meshconform.checks.mtls import cluster_ids, identity
from meshconform.checks.traffic import plaintext_rule, targets
from meshconform.kube.redact import redact
from meshconform.mesh.facts import ClusterFacts, MeshFacts, split_pair
from meshconform.report.hints import Area, area_of

LIMIT = 6000  # characters of JSON per test: a screenful, enough for any single check's facts


# Pickers return the fact objects themselves; orjson walks dataclasses in C (asdict and
# json.dumps with indentation are pure Python, and at 20 clusters the suite writes about 1,700
# evidence texts, a pair's traffic evidence holding the source's whole tally).
_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _dumps(picked: dict[str, Any], indent: bool = False) -> bytes:
    return orjson.dumps(picked, default=str, option=_JSON | (orjson.OPT_INDENT_2 if indent else 0))


def _cluster(facts: MeshFacts, name: str) -> ClusterFacts | None:
    return facts.clusters.get(name)


def _reach(facts: MeshFacts, target: str) -> dict[str, Any]:
    c = _cluster(facts, target)
    if c is None:
        return {}
    seen: dict[str, Any] = {"version": c.server_version, "error": c.api_error}
    seen |= {"unauthorized": c.api_unauthorized, "may_list_istio_system_pods": not c.api_denied}
    return {"context": c.context, "server": c.server, **seen}


def _control(facts: MeshFacts, target: str) -> dict[str, Any]:
    c = _cluster(facts, target)
    control = c.control if c else None
    return {
        "revision": facts.revision_of(target) if c else None,
        "revision_tag": c.tag if c else None,
        "revision_problem": (c.revision_problem if c else None) or facts.revision_problem,
        "revisions": control.revisions if control else None,
        "deployments": control.deployments if control else None,
        "istiod": control.istiod if control else None,
        "problems": c.problems if c else None,
    }


def _trust_of(c: ClusterFacts | None) -> dict[str, Any]:
    control = c.control if c else None
    if control is None:
        return {"control": None}
    keys = (
        "root_cas", "root_note", "root_ca_configmap", "signing_chain_note",
        "trust_domain", "mesh_id", "network", "mesh_config",
    )  # fmt: skip
    return {k: getattr(control, k) for k in keys}


def _trust(facts: MeshFacts, target: str) -> dict[str, Any]:
    ref = reference(facts, lambda c: c.control is not None)
    out = {target: _trust_of(_cluster(facts, target))}
    if ref is not None and ref.name != target:
        out[f"{ref.name} (reference)"] = _trust_of(ref)
    return out


def _names(facts: MeshFacts, target: str) -> dict[str, Any]:
    ids = {
        n: sorted({p.cluster_id for p in (c.control.istiod if c.control else []) if p.cluster_id})
        for n, c in facts.clusters.items()
    }
    c = _cluster(facts, target)
    return {
        "remote_secrets": c.remote_secret_ids if c else None,
        "istiod_cluster_ids": ids,
        "kube_system_uids": {n: o.uid for n, o in facts.clusters.items()},
        "what each remote secret reaches": c.remote_secret_claims if c else None,
    }


def _join(facts: MeshFacts, target: str) -> dict[str, Any]:
    a, b = split_pair(target)
    c, secret = _cluster(facts, b), facts.pairs.get(target)
    return {
        "secret": secret,
        "identity": secret_identity(secret, a) if secret and secret.present else None,
        f"remote secrets in {b}": c.remote_secret_ids if c else None,
        f"istiod's remote clusters in {b}": c.istiod_sync if c else None,
    }


def _injection(facts: MeshFacts, target: str) -> dict[str, Any]:
    c = _cluster(facts, target)
    control = c.control if c else None
    return {
        "revision": facts.revision_of(target) if c else None,
        "revision_tag": c.tag if c else None,
        "injection_label": c.injection if c else None,
        "workloads": c.workloads if c else None,
        "injectors": control.injectors if control else None,
        "problems": c.problems if c else None,
    }


def _traffic(facts: MeshFacts, target: str) -> dict[str, Any]:
    if "->" in target:  # A->B: A's calls as A's curl saw them, and what B's sidecars received
        a, b = split_pair(target)
        return {
            "tally": facts.traffic.get(a),
            "server_view": facts.server_view.get(b),
            "caller_identity": identity(facts, a),
            "caller_cluster_ids": sorted(cluster_ids(facts, a)),
            "caller_plaintext_rule": plaintext_rule(facts, a),
            "server_peer_authentication": _server_policy(facts, b),
            "mesh_beyond_the_run": facts.outside,
        }
    c = _cluster(facts, target)
    control = c.control if c else None
    return {
        "tally": facts.traffic.get(target),
        "curl_error": facts.curl_errors.get(target),
        "expected": targets(facts),
        "destination_rules": control.destination_rules if control else None,
        "mesh_beyond_the_run": facts.outside,
    }


def _server_policy(facts: MeshFacts, name: str) -> Any:
    """The PeerAuthentication istiod applies to the helloworld pods of `name`, if read."""
    c = _cluster(facts, name)
    return c.workloads.server_mtls if c and c.workloads else None


PICKERS: dict[Area, Callable[[MeshFacts, str], dict[str, Any]]] = {
    "reach": _reach,
    "control": _control,
    "trust": _trust,
    "names": _names,
    "join": _join,
    "injection": _injection,
    "traffic": _traffic,
}


def _picked(facts: MeshFacts, check: str, target: str) -> dict[str, Any]:
    area = area_of(check)
    if area is None:
        return {name: c for name, c in facts.clusters.items() if name in target.split("->")}
    return PICKERS[area](facts, target)


def evidence(facts: MeshFacts, check: str, target: str) -> dict[str, Any]:
    """The facts `check` judged for `target` as plain JSON data; every fact of the target if the
    check is unknown."""
    data: dict[str, Any] = orjson.loads(_dumps(_picked(facts, check, target)))
    return data


def evidence_text(facts: MeshFacts, check: str, target: str, secrets: tuple[str, ...] = ()) -> str:
    """`evidence` as indented JSON, redacted and cut at LIMIT characters."""
    text = _dumps(_picked(facts, check, target), indent=True).decode()
    if len(text) > LIMIT:
        text = text[:LIMIT] + f"\n... ({len(text) - LIMIT} more characters cut)"
    return redact(text, secrets)


class Texts:
    """`evidence_text` once per (facts, area, target): a check's evidence is its area's facts about
    its target, which every check of that area shares (at 20 clusters 1,800 checks ask for 500
    distinct texts; building each is JSON plus the redaction). The
    facts are kept with their text so that a key's id() is never another object's."""

    def __init__(self) -> None:
        self._texts: dict[tuple[int, str, str], tuple[MeshFacts, str]] = {}

    def __call__(self, facts: MeshFacts, check: str, target: str, secrets: tuple[str, ...] = ()) -> str:
        key = (id(facts), area_of(check) or check, target)
        hit = self._texts.get(key)
        if hit is None or hit[0] is not facts:
            hit = self._texts[key] = (facts, evidence_text(facts, check, target, secrets))
        return hit[1]
