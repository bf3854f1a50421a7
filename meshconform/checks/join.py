"""Checks on endpoint discovery between clusters (the guide's step 1), per ordered pair A->B:
B holds A's remote secret, shaped as istioctl makes it, pointing at A, with working credentials,
and B's istiod reports A synced; and per cluster, no cluster name is claimed twice.
"""

from __future__ import annotations

from meshconform import verdicts
from meshconform.checks import cf, check
from meshconform.checks.cluster import istiod_ready, reach, rev_pods
from meshconform.facts import MeshFacts, RemoteSecret, split_pair
from meshconform.join import secret_name


def _pair(facts: MeshFacts, pair: str) -> RemoteSecret:
    return facts.pairs.get(pair) or RemoteSecret(name=secret_name(split_pair(pair)[0]))


def own_cluster_id(facts: MeshFacts, name: str) -> str:
    """istiod's CLUSTER_ID (its own name for itself), else the name we call the cluster."""
    ids = {p.cluster_id for p in rev_pods(facts, name) if p.cluster_id}
    return sorted(ids)[0] if ids else name


@check("test_cluster_names_unique", requires=lambda f, t: [(reach, t)])
def names_unique(facts: MeshFacts, name: str) -> str | None:
    own = own_cluster_id(facts, name)
    claims: dict[str, list[str]] = {}
    for secret, ids in sorted(cf(facts, name).remote_secret_ids.items()):
        for cid in ids:
            claims.setdefault(cid, []).append(secret)
    if own in claims:
        return (
            f"Secret istio-system/{claims[own][0]} in {name} claims cluster name {own}, which is "
            f"{name}'s own CLUSTER_ID; istiod ignores it: recreate it with the remote cluster's --name"
        )
    twice = {cid: secrets for cid, secrets in claims.items() if len(secrets) > 1}
    if twice:
        cid, secrets = sorted(twice.items())[0]
        return (
            f"cluster name {cid} is claimed by {len(secrets)} remote secrets in {name} "
            f"({', '.join(secrets)}); istiod registers only the first: give every cluster its own --name"
        )
    others = [
        o
        for o in facts.names
        if o != name and not cf(facts, o).reach_problem and own_cluster_id(facts, o) == own and own != o
    ]
    if others:
        return (
            f"istiod in {name} and in {others[0]} both use CLUSTER_ID {own}; every cluster of a mesh needs "
            f"its own (values.global.multiCluster.clusterName)"
        )
    return None


@check(
    "test_remote_secret_present",
    "pair",
    # With names claimed twice in B, which secret is A's is ambiguous: names_unique(B) says why.
    requires=lambda f, p: [
        (reach, split_pair(p)[0]),
        (reach, split_pair(p)[1]),
        (names_unique, split_pair(p)[1]),
    ],
)
def secret_present(facts: MeshFacts, pair: str) -> str | None:
    a, b = split_pair(pair)
    fact = _pair(facts, pair)
    if not fact.present:
        why = f" ({fact.note})" if fact.note else ""
        return (
            f"{b} has no remote secret for {a} (Secret istio-system/{fact.name}){why}, so {b}'s istiod "
            f"cannot discover {a}'s endpoints; create it: istioctl x create-remote-secret "
            f"--context={cf(facts, a).context} --name={a} | kubectl apply -f - "
            f"--context={cf(facts, b).context} (or run --join create)"
        )
    return fact.shape_problem


@check("test_remote_secret_targets_cluster", "pair", requires=lambda f, p: [(secret_present, p)])
def secret_targets(facts: MeshFacts, pair: str) -> str | None:
    return _pair(facts, pair).targets_problem


@check("test_remote_secret_credentials", "pair", requires=lambda f, p: [(secret_targets, p)])
def secret_credentials(facts: MeshFacts, pair: str) -> str | None:
    return _pair(facts, pair).credentials_problem


@check(
    "test_istiod_synced",
    "pair",
    requires=lambda f, p: [
        (secret_credentials, p),
        (istiod_ready, split_pair(p)[1]),
        (names_unique, split_pair(p)[1]),
    ],
)
def istiod_synced(facts: MeshFacts, pair: str) -> str | None:
    fact = _pair(facts, pair)
    if fact.sync_problem:
        return fact.sync_problem
    if fact.sync_unknown:
        raise verdicts.Inconclusive(fact.sync_unknown)
    if fact.sync_status is None:
        a, b = split_pair(pair)
        return f"the sync status of {a} in {b}'s istiod could not be read"
    return None
