"""Checks on endpoint discovery between clusters (the guide's step 1), per ordered pair A->B:
B holds A's remote secret (the one whose kubeconfig reaches A, whatever its name or annotation),
labelled as istiod reads it, reaching A, with working credentials, and B's istiod reports A synced;
and per cluster, no cluster name is claimed twice and no cluster is claimed under two names.

They judge what mesh/secret_inspection.py saw (RemoteSecret) and what B's istiod listed
(IstiodSync); the wording of each verdict is here, next to the decision.
"""

from __future__ import annotations

from typing import Any

from meshconform.checks import cf, check, statistics
from meshconform.checks.cluster import istiod_ready, managed_serves, reach, rev_pods
from meshconform.kube.waits import stable_name
from meshconform.mesh import topology
from meshconform.mesh.control_plane_kind import by_multicluster_mode
from meshconform.mesh.controlplane import sync_unreported
from meshconform.mesh.facts import IstiodSync, MeshFacts, RemoteSecret, SecretClaim, split_pair
from meshconform.mesh.remote_secrets import ISTIO_NS, MULTICLUSTER_LABEL, READER_SA, SYNCED, secret_name
from meshconform.mesh.secret_inspection import REFUSED, UNAUTHENTICATED


def _pair(facts: MeshFacts, pair: str) -> RemoteSecret:
    """A's secret in B; not applicable where B takes part in the declarative endpoint discovery
    (no secret is made or needed there: test_endpoint_discovery_declared judges B), nor where B is
    a remote of Istio's primary-remote model: a remote's secret goes into its primary only
    ("Attach cluster2 as a remote cluster of cluster1", istio.io .../multicluster/primary-remote/)."""
    b = split_pair(pair)[1]
    if by_multicluster_mode(facts, b):
        raise statistics.NotApplicable(
            f"{b} is managed in a mesh that declares multicluster_mode: connected, whose endpoint "
            f"discovery needs no remote secret; test_endpoint_discovery_declared[{b}] judges it"
        )
    if topology.is_remote(facts, b):
        primaries = [m.cluster for m in topology.members(facts) if m.role == topology.PRIMARY]
        held = ", ".join(f"test_remote_secret_present[{b}->{p}]" for p in primaries[:3]) or "none"
        raise statistics.NotApplicable(
            f"{b} is a remote cluster (primary-remote model): it runs no istiod to read a remote "
            f"secret, so none is made or needed there; the primaries hold {b}'s ({held})"
        )
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
        if o != name and cf(facts, o).usable and own_cluster_id(facts, o) == own and own != o
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
    return shape_problem(fact, b)


def _unidentified(facts: MeshFacts, b: str) -> str:
    """The secrets in B whose reach could not be read: one of them may be A's under another name."""
    unknown = [c for c in cf(facts, b).remote_secret_claims if c.unknown]
    if not unknown:
        return ""
    listed = "; ".join(f"{c.secret}: {c.unknown}" for c in unknown[:3])
    return f"; {len(unknown)} of its remote secrets could not be identified ({listed})"


@check("test_remote_secret_targets_cluster", "pair", requires=lambda f, p: [(secret_present, p)])
def secret_targets(facts: MeshFacts, pair: str) -> str | None:
    fact, (a, b) = _pair(facts, pair), split_pair(pair)
    problem = targets_problem(fact, a, b, cf(facts, a).context)
    unverified = targets_unverified(fact, b)
    if problem or not unverified:
        return problem
    return _by_istiods_view(facts, pair, unverified)


@check("test_remote_secret_credentials", "pair", requires=lambda f, p: [(secret_targets, p)])
def secret_credentials(facts: MeshFacts, pair: str) -> str | None:
    fact, (a, b) = _pair(facts, pair), split_pair(pair)
    problem = credentials_problem(fact, a, b)
    unverified = credentials_unverified(fact, a, b, cf(facts, a).server)
    if problem or not unverified:
        return problem
    return _by_istiods_view(facts, pair, unverified)


def _by_istiods_view(facts: MeshFacts, pair: str, unverified: str) -> str | None:
    """What this machine cannot reach, B's istiod may: A synced through the secret is the evidence
    then (istiod's informers listed A with its server, CA and token); else no verdict."""
    status = sync_status(facts, pair)
    if status == SYNCED:
        return None
    a, b = split_pair(pair)
    seen = f"istiod in {b} reports {a} {status}" if status else "no sync status"
    raise statistics.Inconclusive(
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
    _pair(facts, pair)  # not applicable where B discovers by multicluster_mode
    a, b = split_pair(pair)
    if managed_serves(facts, b):
        raise statistics.NotApplicable(
            f"{b}'s control plane is Google-managed: no istiod in the cluster reports its sync "
            f"(test_calls_reach_every_cluster[{b}]: do {b}'s calls reach {a}?)"
        )
    seen = cf(facts, b).istiod_sync
    if seen is None:
        return f"the sync status of {a} in {b}'s istiod could not be read"
    if sync_unreported(seen):  # no sync report; what B's sidecar holds is the evidence
        raise statistics.NotApplicable(
            f"{no_clusterz_note(b, seen.pod, seen.version)} (test_sidecar_synced[{pair}] judges it from "
            f"what {b}'s sample sidecar holds)"
        )
    if seen.missing or seen.error is not None:  # an istiod that should answer and did not: no green
        unreadable = (
            clusterz_refused(b, seen.pod, seen.version)
            if seen.missing
            else f"could not read istiod's /debug/clusterz in {b}: {seen.error}"
        )
        raise statistics.Inconclusive(
            unreadable,
            "the traffic checks still judge reach; pass --allow-inconclusive to accept a run "
            "without the sync report",
        )
    return sync_problem(seen, _listed_as(facts, pair), b, _pair(facts, pair).name)


# -- the remote secret as seen: is it what istiod reads, does it lead to A ------------------------


def shape_problem(fact: RemoteSecret, target: str) -> str | None:
    """What istiod needs of the secret itself: the label its informer selects on, and a data key to
    register as a cluster ID (pkg/kube/multicluster/secretcontroller.go); the annotation is not its
    business. (The kubeconfig under the key is judged by targets_problem.)"""
    where = f"Secret {ISTIO_NS}/{fact.name} in {target}"
    if not fact.labelled:
        return f"{where} lacks label {MULTICLUSTER_LABEL}=true, so istiod ignores it"
    if not fact.cluster_ids:
        return f"{where} has no data key; istiod registers one remote cluster per key, so it registers none"
    return None


def reaches_source(fact: RemoteSecret) -> bool:
    """Its kubeconfig read A's kube-system UID through its own server, CA and token."""
    return bool(fact.reached_uid) and fact.reached_uid == fact.expected_uid


def targets_problem(fact: RemoteSecret, source: str, target: str, context: str) -> str | None:
    """None when the kubeconfig reaches A (read through its own server and CA, whatever address it
    names); a problem when it reaches another cluster; else the name and server match of old."""
    where = f"Secret {ISTIO_NS}/{fact.name} in {target}"
    if fact.kubeconfig_error is not None:
        return f"{where} holds no usable kubeconfig under key {fact.cluster_id!r}: {fact.kubeconfig_error}"
    if reaches_source(fact):
        return None
    if fact.reached_uid and fact.expected_uid:
        other = fact.reached_other or "a cluster outside this run"
        return (
            f"{where} reaches {other} (kube-system uid {fact.reached_uid}) at {fact.server}, not "
            f"{source} (uid {fact.expected_uid}): it was made for another cluster, or before "
            f"{source} was re-created; recreate it (istioctl x create-remote-secret --name "
            f"{source}) or run --join replace"
        )
    problem = _server_and_ca(fact, where, source)
    if not problem:
        return None
    why = fact.reached_unknown or f"{source}'s kube-system uid could not be read"
    if not _names_expected_server(fact):  # e.g. a private endpoint that B's istiod reaches and we do not
        why += (
            f"; if {fact.server} is another address of {source}'s API server, pass "
            f"--api-server {context}={fact.server}"
        )
    return f"{problem} (its cluster identity could not be read through it: {why})"


def _names_expected_server(fact: RemoteSecret) -> bool:
    return (fact.server or "").rstrip("/") == (fact.expected_server or "").rstrip("/")


def _server_and_ca(fact: RemoteSecret, where: str, source: str) -> str | None:
    """The kubeconfig names A's API server, and its CA verifies the certificate A serves."""
    if not _names_expected_server(fact):
        return (
            f"{where} points at {fact.server}, not {source}'s API server {fact.expected_server}; "
            f"recreate it (istioctl x create-remote-secret --name {source}) or run --join replace"
        )
    if not fact.ca_fingerprint:
        return f"{where} has no certificate-authority-data, so istiod cannot verify {source}"
    if fact.ca_error:
        return (
            f"{where}: its CA does not verify {source}'s API server {fact.server} ({fact.ca_error}); "
            "the secret is stale: recreate it"
        )
    return None


def targets_unverified(fact: RemoteSecret, target: str) -> str | None:
    """The server the secret names does not answer this machine (a private endpoint): its CA is
    no verdict either way, and B's istiod's sync status is the evidence instead."""
    if fact.server_unreachable is None:
        return None
    return (
        f"Secret {ISTIO_NS}/{fact.name} in {target} names {fact.server}, which does not answer this "
        f"machine ({fact.server_unreachable}), so its CA cannot be checked from here"
    )


def credentials_problem(fact: RemoteSecret, source: str, target: str) -> str | None:
    """The secret's token authenticates to A and may list/watch what istiod's informers need."""
    where = f"Secret {ISTIO_NS}/{fact.name} in {target}"
    if fact.auth != "token":
        return None if fact.auth != "none" else f"{where} carries no credentials for {source}"
    who = f"the token in {where}"
    if fact.reader_denied is None:
        return None
    if fact.reader_denied in REFUSED:
        unauthorized = fact.reader_denied == UNAUTHENTICATED
        answer = "401 Unauthorized" if unauthorized else "403 Forbidden to its own access review"
        return (
            f"{who} does not authenticate to {source} ({answer}); the token is "
            f"stale or revoked: recreate the secret"
        )
    return (
        f"{who} may not {fact.reader_denied} in {source}: {READER_SA} lacks its ClusterRoleBinding "
        f"(istio-reader-clusterrole); reinstall Istio's base RBAC in {source}"
    )


def credentials_unverified(fact: RemoteSecret, source: str, target: str, server: str) -> str | None:
    """The user's server (`server`, an authenticating proxy) refused the token and the server the
    secret names does not answer this machine: the token is no verdict either way from here."""
    if fact.reader_unreachable is None:
        return None
    return (
        f"{source}'s API server as this run reaches it ({server}) refused the token in Secret "
        f"{ISTIO_NS}/{fact.name} in {target} (as an authenticating proxy refuses credentials it did not "
        f"issue), and the server the secret names, {fact.server}, does not answer this machine "
        f"({fact.reader_unreachable}), so the token cannot be checked from here"
    )


def secret_identity(fact: RemoteSecret, source: str) -> str:
    """How the secret is known to be A's: by kube-system UID, or by name and server."""
    if reaches_source(fact):
        return (
            f"{source}: its server, CA and token reach kube-system uid {fact.reached_uid}, "
            f"{source}'s through the user's context"
        )
    if fact.reached_uid and fact.expected_uid:
        other = fact.reached_other or "no cluster of this run"
        return f"not {source}: it reaches kube-system uid {fact.reached_uid} ({other})"
    why = fact.reached_unknown or f"{source}'s own kube-system uid could not be read"
    return f"not confirmed ({why}); taken as {source}'s by its name and server"


# -- istiod's own view: /debug/clusterz -----------------------------------------------------------

def _listed_as(facts: MeshFacts, pair: str) -> str:
    """istiod lists a remote cluster by its secret's data key, which need not be our name for it."""
    return _pair(facts, pair).cluster_id or split_pair(pair)[0]


def _entry(seen: IstiodSync | None, cluster_id: str) -> dict[str, Any] | None:
    return next((e for e in (seen.entries if seen else []) if e.get("id") == cluster_id), None)


def sync_status(facts: MeshFacts, pair: str) -> str | None:
    """A's syncStatus as B's istiod lists it, or None when it does not list A (or was not read)."""
    entry = _entry(cf(facts, split_pair(pair)[1]).istiod_sync, _listed_as(facts, pair))
    return None if entry is None else str(entry.get("syncStatus", ""))


def sync_problem(seen: IstiodSync, source: str, target: str, secret: str | None = None) -> str | None:
    """A as B's istiod lists it: `source` is A's cluster ID there (the data key of `secret`, A's
    remote secret in B)."""
    secret, pod = secret or secret_name(source), stable_name(seen.pod)
    entry = _entry(seen, source)
    if entry is None:
        listed = ", ".join(f"{e.get('id')}={e.get('syncStatus')}" for e in seen.entries) or "none"
        return (
            f"istiod {pod} in {target} does not list cluster {source} in /debug/clusterz "
            f"(lists: {listed}); it has not loaded {secret}"
        )
    status = str(entry.get("syncStatus", ""))
    if status != SYNCED:
        return (
            f"istiod {pod} in {target} reports {source} as {status!r}, not synced: it cannot "
            f"read {source}'s API server from inside {target}; check the server address in "
            f"{secret} (--api-server) and the network path"
        )
    return None


def no_clusterz_note(target: str, pod: str, version: str | None) -> str:
    """Why the sync check cannot be judged against an istiod older than 1.11."""
    runs = f" runs {version}, which" if version else ""
    return (
        f"istiod {stable_name(pod)} in {target}{runs} has no /debug/clusterz (Istio 1.11 added it), so "
        "it cannot report which remote clusters it synced"
    )


def clusterz_refused(target: str, pod: str, version: str | None) -> str:
    """A 404 from an istiod that should serve /debug/clusterz: its sync status cannot be read."""
    return (
        f"istiod {stable_name(pod)} in {target} runs {version or 'an unknown version'} yet answers "
        "/debug/clusterz with 404 (Istio 1.11 and later serve it unless ENABLE_DEBUG_ON_HTTP=false), "
        "so it cannot show which remote clusters it synced; turn istiod's debug endpoints on "
        "(env ENABLE_DEBUG_ON_HTTP=true on the discovery container)"
    )
