"""The server's side of each cross-cluster call: A's calls that vB answered, B's sidecars counted as
received from A over mutual TLS, from A's sleep identity.

The caller's curl shows that vB answered; the receiving sidecars' `istio_requests_total`
(reporter="destination") shows how the call arrived: connection_security_policy="mutual_tls" and
source_principal `spiffe://<trust domain>/ns/<ns>/sa/<sleep's service account>` prove that it
went through both sidecars with the workload certificates of the shared root, and source_cluster
(the caller proxy's cluster ID) that it came from A. The servers count at least what A saw
answered: retries and failed answers are counted too, and the readings bracket every retake. A
server view that cannot be read (an exec refused, metrics disabled) cannot decide: the check says
why and what to change.

Istio labels source_cluster in multi-cluster installs since 1.6 (istio/istio#23095, set from
global.multiCluster.clusterName) and everywhere since 1.9 (istio/istio#30036). A proxy that does
not label it at all cannot tell the callers apart: then the calls all sources saw vB answer are
weighed against all that vB's sidecars confirmed from the sleep identity, and the message says so.
"""

from __future__ import annotations

from meshconform.checks import Need, cf, check, statistics
from meshconform.checks.traffic import hello_ok, plaintext_rule, premises, reach_every_cluster
from meshconform.mesh import membership
from meshconform.mesh.facts import MeshFacts, Received, ServerView, split_pair

MTLS = "mutual_tls"
ISTIO_NS = "istio-system"
STATS = "`kubectl exec POD -c istio-proxy -- pilot-agent request GET stats/prometheus`"


def _requires(facts: MeshFacts, pair: str) -> list[Need]:
    source, target = split_pair(pair)
    needs = [*premises(facts, source), (reach_every_cluster, source)]
    if not _answered(facts, source, target):  # the failed calls are the finding, not the servers
        needs.append((hello_ok, source))
    return needs


def _version(facts: MeshFacts, name: str) -> str:
    wl = cf(facts, name).workloads
    return wl.version if wl else ""


def _answered(facts: MeshFacts, source: str, target: str) -> int:
    tally = facts.traffic.get(source)
    return tally.by_version.get(_version(facts, target), 0) if tally else 0


def cluster_ids(facts: MeshFacts, name: str) -> set[str]:
    """The IDs a cluster's proxies announce (istiod's CLUSTER_ID; the name when istiod gives none)."""
    control = cf(facts, name).control
    ids = {p.cluster_id for p in control.istiod if p.cluster_id} if control else set()
    if control is not None and not control.istiod:  # a remote: the name its primaries know it by
        ids |= {s.cluster_id for p, s in facts.pairs.items() if s.cluster_id and split_pair(p)[0] == name}
    return ids or {name}


def identity(facts: MeshFacts, name: str) -> str | None:
    """spiffe://<trust domain>/ns/<namespace>/sa/<service account of the calling pod>."""
    c = cf(facts, name)
    wl, control = c.workloads, c.control
    pod = next((p for p in wl.pods if p.name == wl.source_pod), None) if wl else None
    if pod is None or control is None:
        return None
    domain = control.trust_domain or "cluster.local"
    return f"spiffe://{domain}/ns/{facts.namespace}/sa/{pod.service_account or 'default'}"


def _view(facts: MeshFacts, target: str) -> ServerView:
    view = facts.server_view.get(target)
    if view is None:
        raise statistics.Inconclusive(
            f"the helloworld sidecars of {target} were not read",
            "the traffic stage did not run there; see why in its traffic checks",
        )
    if view.problems and len(view.problems) == len(view.pods):
        why = next(iter(view.problems.values()))
        raise statistics.Inconclusive(
            f"cannot read what {target}'s helloworld sidecars received: {why}",
            f"grant pods/exec on the helloworld pods of {facts.namespace} and check the proxy's admin "
            f"endpoint answers (try {STATS})",
        )
    return view


@check("test_calls_arrive_over_mtls", scope="pair", requires=_requires)
def arrive_over_mtls(facts: MeshFacts, pair: str) -> str | None:
    source, target = split_pair(pair)
    answered, version = _answered(facts, source, target), _version(facts, target)
    if not answered:
        raise statistics.NotApplicable(
            f"no call from {source} was answered by {version} ({target}), so there is nothing to confirm; "
            f"test_calls_reach_every_cluster[{source}] and test_hello_calls_succeed[{source}] judge that"
        )
    view = _view(facts, target)
    expected = identity(facts, source)
    ids = cluster_ids(facts, source)
    pooled = bool(view.received) and all(r.source_cluster == "" for r in view.received)
    if pooled:  # no source_cluster label: every source's calls to vB against all vB confirmed
        ids = {""}
        answered = sum(_answered(facts, s, target) for s in facts.names if s != target)
        answered += _answered(facts, target, target)
    from_source = [r for r in view.received if r.source_cluster in ids]
    confirmed = sum(r.calls for r in from_source if r.security == MTLS and r.source_principal == expected)
    if confirmed >= answered:
        return None
    if not view.received and view.telemetry_off:
        raise statistics.Inconclusive(
            f"{target}'s sidecars count no requests: Telemetry {', '.join(view.telemetry_off)} disables "
            "Istio's request metrics",
            "remove its metrics override (or exempt the test namespace) so that the receiving side can "
            "confirm the calls",
        )
    callers = "all clusters (its proxies do not label source_cluster)" if pooled else source
    head = (
        f"{version} ({target}) answered {answered} calls from {callers}, but its sidecars confirm "
        f"{confirmed} received over mTLS from {expected}"
    )
    return head + "; " + _why(facts, view, from_source, expected, source, target)


def _unread(view: ServerView) -> str:
    if not view.problems:
        return ""
    return f" ({len(view.problems)} of its pods could not be read: {next(iter(view.problems.values()))})"


def _why(
    facts: MeshFacts,
    view: ServerView,
    from_source: list[Received],
    expected: str | None,
    source: str,
    target: str,
) -> str:
    """What is missing: plain text, another identity, nothing from the source, or too few."""
    plain = sum(r.calls for r in view.received if r.security != MTLS)
    others = sorted(
        {r.source_principal for r in from_source if r.security == MTLS and r.source_principal != expected}
    )
    if plain:
        return f"received {plain} in plaintext (connection_security_policy=none): " + _plaintext(
            facts, source, target
        )
    if others:
        return f"received from another identity ({', '.join(others)}): " + _other_identity(
            facts, others, expected, source
        )
    if not from_source:
        return (
            f"received none from {source}{_unread(view)}: the answers came from elsewhere (a cluster of "
            f"the mesh not under test serving helloworld in this namespace?) or {target}'s metrics are off"
        )
    others = membership.registered_by(facts, source)
    where = (
        f": a cluster of the mesh not under test ({membership.count_line(facts)}; istiod in {source} also "
        f"registers {', '.join(others)}), whose pods test_answers_come_from_this_run[{source}] names"
        if others
        else " (a pod serving helloworld that this run did not deploy?)"
    )
    return f"counted fewer than answered{_unread(view)}: some answers came from elsewhere{where}"


def _plaintext(facts: MeshFacts, source: str, target: str) -> str:
    """Who sent plain text, and why the servers took it: both halves, each with its object."""
    rule = plaintext_rule(facts, source)
    sent = (
        f"DestinationRule {rule.namespace}/{rule.name} (host {rule.host}) in {source} sets tls.mode DISABLE, "
        f"so {source}'s sidecars send it (delete it or set tls.mode ISTIO_MUTUAL)"
        if rule
        else "calls bypass a sidecar (check the caller's outbound interception: istio-init or istio-cni)"
    )
    return f"{sent}; {_taken(facts, target)}"


def _taken(facts: MeshFacts, target: str) -> str:
    """Why target's sidecars accept plain text although the run asked for STRICT."""
    wl = cf(facts, target).workloads
    ns = facts.namespace
    applied = wl.server_mtls if wl else None
    if wl is None or wl.peer_authns is None:
        return f"and {target}'s sidecars accept it: make the PeerAuthentication for helloworld in {ns} STRICT"
    if applied is None:
        return (
            f"and {target}'s sidecars accept it: no PeerAuthentication in {ns} sets a mode (the run's STRICT "
            f"`default` is missing there); apply one with mode STRICT"
        )
    if applied.mode == "STRICT":
        return (
            f"yet {target}'s sidecars took it although PeerAuthentication {ns}/{applied.name} is STRICT: "
            f"see what its proxies enforce with istioctl x describe pod on a helloworld pod of {target}"
        )
    owner = "this run's" if applied.ours else "not this run's: it was there first"
    scope = "selects helloworld" if applied.selector else "is the oldest namespace-wide policy"
    return (
        f"and {target}'s sidecars accept it: PeerAuthentication {ns}/{applied.name} ({applied.mode}, "
        f"{owner}) {scope}, and istiod applies it; remove it, or stop whatever adds it to new namespaces"
    )


def _split(principal: str) -> tuple[str, str]:
    """spiffe://<trust domain>/ns/<ns>/sa/<sa> -> (trust domain, /ns/<ns>/sa/<sa>)."""
    rest = principal.removeprefix("spiffe://")
    domain, _, path = rest.partition("/")
    return domain, "/" + path


def _other_identity(facts: MeshFacts, others: list[str], expected: str | None, source: str) -> str:
    """The sleep pod's own identity under an older trust domain, or another workload's."""
    want_domain, want_path = _split(expected or "")
    split = [_split(p) for p in others]
    stale = sorted({domain for domain, path in split if path == want_path and domain != want_domain})
    if stale:
        control = cf(facts, source).control
        config = f"{ISTIO_NS}/{control.mesh_config}" if control and control.mesh_config else "the mesh config"
        istiods = ", ".join(sorted(control.deployments)) if control and control.deployments else "istiod"
        return (
            f"the run's sleep pod in {source} carries a certificate of trust domain {', '.join(stale)}, "
            f"while {config} in {source} says {want_domain}: an istiod before Istio 1.11 signs with the "
            f"trust domain it started with, so the mesh config changed after; restart {istiods} in "
            f"{ISTIO_NS} of {source}, then the workloads (istio.io's trust domain migration task)"
        )
    return (
        f"a proxy between {source}'s sleep pod and the server (a gateway re-originating mTLS with its own "
        f"certificate) or a pod of {source} other than the run's sleep pod made these calls; see the "
        f"route with istioctl proxy-config routes on {source}'s sleep pod"
    )
