"""Checks on endpoint discovery between clusters (the guide's step 1), per ordered pair A->B:
B holds A's remote secret (the one whose kubeconfig reaches A, whatever its name or annotation),
labelled as istiod reads it, reaching A, with working credentials, and B's istiod reports A synced;
and per cluster, no cluster name is claimed twice and no cluster is claimed under two names.
"""

from __future__ import annotations

from meshconform.checks import cf, check
from meshconform.checks import statistics as verdicts
from meshconform.checks.cluster import istiod_ready, reach, rev_pods
from meshconform.mesh.facts import MeshFacts, RemoteSecret, SecretClaim, split_pair
from meshconform.mesh.remote_secrets import SYNCED, secret_name


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
    if own in claims and not _reaches_itself(facts, name, own):
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
    problem = claimed_twice(facts, name, own)
    if problem:
        return problem
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


def _reaches_itself(facts: MeshFacts, name: str, own: str) -> bool:
    """A secret under B's own CLUSTER_ID that reaches B itself (every cluster's secrets applied to
    every cluster) is what istiod skips by design ("ignoring cluster as it would overwrite the
    config cluster", secretcontroller.go), not a misnamed remote cluster."""
    uid = cf(facts, name).uid
    mine = [c for c in cf(facts, name).remote_secret_claims if c.cluster_id == own]
    return bool(uid) and bool(mine) and all(c.uid == uid for c in mine)


def claimed_twice(facts: MeshFacts, name: str, own: str) -> str | None:
    """One cluster under two names in B, by what the secrets reach (kube-system's UID): two secrets
    for one remote cluster, or a secret that reaches B itself under another name. istiod rejects
    only a repeated cluster ID, so it registers that cluster twice and holds its endpoints twice."""
    c = cf(facts, name)
    ctx = c.context
    for claim in c.remote_secret_claims:
        if c.uid and claim.uid == c.uid and claim.cluster_id != own:
            return (
                f"Secret istio-system/{claim.secret} in {name} reaches {name} itself (kube-system uid "
                f"{c.uid}) under the name {claim.cluster_id}, so istiod reads its own cluster a second "
                f"time as a remote one: delete it (kubectl --context={ctx} -n istio-system delete "
                f"secret {claim.secret})"
            )
    by_uid: dict[str, list[SecretClaim]] = {}
    for claim in c.remote_secret_claims:
        if claim.uid:
            by_uid.setdefault(claim.uid, []).append(claim)
    for uid, same in sorted(by_uid.items()):
        if len(same) > 1:
            who = same[0].reaches or f"one cluster (kube-system uid {uid})"
            keep = next((s for s in same if same[0].reaches and named_for(s, same[0].reaches)), same[0])
            drop = next(s for s in same if s is not keep)
            listed = " and ".join(f"Secret istio-system/{s.secret} (name {s.cluster_id})" for s in same[:3])
            return (
                f"{who} is claimed twice in {name}, by {listed}: both reach kube-system uid {uid}, so "
                f"istiod registers it under both names and reads its endpoints twice; keep one: "
                f"kubectl --context={ctx} -n istio-system delete secret {drop.secret}"
            )
    return None


def named_for(claim: SecretClaim, cluster: str) -> bool:
    return claim.secret == secret_name(cluster) or claim.cluster_id == cluster


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
            f"{b} has no remote secret for {a} (none reaches {a}'s API server, none is named "
            f"{fact.name}){why}{_unidentified(facts, b)}, so {b}'s istiod "
            f"cannot discover {a}'s endpoints; create it: istioctl x create-remote-secret "
            f"--context={cf(facts, a).context} --name={a} | kubectl apply -f - "
            f"--context={cf(facts, b).context} (or run --join create)"
        )
    return fact.shape_problem


def _unidentified(facts: MeshFacts, b: str) -> str:
    """The secrets in B whose reach could not be read: one of them may be A's under another name."""
    unknown = [c for c in cf(facts, b).remote_secret_claims if c.unknown]
    if not unknown:
        return ""
    listed = "; ".join(f"{c.secret}: {c.unknown}" for c in unknown[:3])
    return f"; {len(unknown)} of its remote secrets could not be identified ({listed})"


@check("test_remote_secret_targets_cluster", "pair", requires=lambda f, p: [(secret_present, p)])
def secret_targets(facts: MeshFacts, pair: str) -> str | None:
    fact = _pair(facts, pair)
    if fact.targets_problem or not fact.targets_unverified:
        return fact.targets_problem
    return _by_istiods_view(fact, pair, fact.targets_unverified)


@check("test_remote_secret_credentials", "pair", requires=lambda f, p: [(secret_targets, p)])
def secret_credentials(facts: MeshFacts, pair: str) -> str | None:
    fact = _pair(facts, pair)
    if fact.credentials_problem or not fact.credentials_unverified:
        return fact.credentials_problem
    return _by_istiods_view(fact, pair, fact.credentials_unverified)


def _by_istiods_view(fact: RemoteSecret, pair: str, unverified: str) -> str | None:
    """What this machine cannot reach, B's istiod may: A synced through the secret is the evidence
    then (istiod's informers listed A with its server, CA and token); else no verdict."""
    if fact.sync_status == SYNCED:
        return None
    a, b = split_pair(pair)
    seen = f"istiod in {b} reports {a} {fact.sync_status}" if fact.sync_status else "no sync status"
    raise verdicts.Inconclusive(
        f"{unverified}, and {seen}",
        f"run from a machine that reaches that address, or see test_istiod_synced[{pair}]",
    )


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
    if fact.sync_unreadable:  # an istiod that should answer and did not: no verdict, no green
        raise verdicts.Inconclusive(
            fact.sync_unreadable,
            "the traffic checks still judge reach; pass --allow-inconclusive to accept a run "
            "without the sync report",
        )
    if fact.sync_unknown:  # an istiod before 1.11 has no sync report; the calls are the evidence
        a, b = split_pair(pair)
        raise verdicts.NotApplicable(
            f"{fact.sync_unknown} (test_calls_reach_every_cluster[{b}]: do {b}'s calls reach {a}?)"
        )
    if fact.sync_status is None:
        a, b = split_pair(pair)
        return f"the sync status of {a} in {b}'s istiod could not be read"
    return None
