"""Checks on cross-cluster load balancing (the guide's step 6), per source cluster: hello calls
succeed, reach every version (vK lives only in cluster K, so a version is a cluster), and split as
the replicas say. They presuppose a mesh that should carry traffic: every cluster's sample pods
injected and ready, one root of trust, every network reachable (through its east-west gateway where
there are several), and every other cluster synced into the source's istiod (on a managed control
plane, into its sample sidecar); otherwise they are skipped with the first broken premise. Where a
source has no answered call at all, its failed hello calls are the broken premise of the other two:
the failure that test_hello_calls_succeed reports is why nothing shows where calls go.

The budgets (statistics.py) are per run: the reach and split checks split them over sources x
versions, the same count the traffic stage planned its calls with (sampling.plan_calls).
"""

from __future__ import annotations

from meshconform.checks import Need, cf, check, networks, remotes, statistics
from meshconform.checks.cluster import istiod_ready, root_ca_shared, trust_domain
from meshconform.checks.join import istiod_synced
from meshconform.checks.managed import sidecar_synced
from meshconform.checks.workloads import injected_by_revision, pods_ready
from meshconform.mesh import sampling
from meshconform.mesh.facts import DestinationRule, MeshFacts, Tally, pair_id


def premises(facts: MeshFacts, source: str) -> list[Need]:
    order = [source] + [n for n in facts.names if n != source]
    needs: list[Need] = []
    for name in order:
        needs += [
            (pods_ready, name),
            (injected_by_revision, name),
            (istiod_ready, name),
            (root_ca_shared, name),
            (trust_domain, name),
        ]
    # The istiod that configures the source's sidecars knows every other cluster: the source's own,
    # or on a remote its primaries' (which hold the remote's secret as well); where Google's managed
    # control plane serves the source, its sidecar is asked instead.
    for istiod in remotes.primaries_of(facts, source) or [source]:
        needs += [(istiod_synced, pair_id(other, istiod)) for other in facts.names if other != istiod]
    needs += [(sidecar_synced, pair_id(other, source)) for other in facts.names if other != source]
    return [*needs, *networks.premises(facts, source)]


targets = sampling.targets  # one per cluster: its version, weighted by its ready replicas


def _tally(facts: MeshFacts, source: str) -> Tally:
    """The source's tally; judged only when some call answered (else `judged_premises` skips)."""
    return facts.traffic.get(source) or Tally(source=source)


def judged_premises(facts: MeshFacts, source: str) -> list[Need]:
    """The shared premises, plus the source's hello calls when none of them answered."""
    tally = facts.traffic.get(source)
    silent = tally is None or tally.answered == 0
    return [*premises(facts, source), *([(hello_ok, source)] if silent else [])]


def applies_to(rule: DestinationRule, host: str) -> bool:
    """Does the rule's host (short, FQDN or `*.suffix`, short names relative to the rule's
    namespace, as Istio resolves them) cover `host` (a service FQDN)?"""
    pattern = rule.host
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    if "." not in pattern:
        pattern = f"{pattern}.{rule.namespace}"
    return host == pattern or host.startswith(pattern + ".")  # helloworld.sample -> ...svc.cluster.local


def explain_routing(facts: MeshFacts, source: str) -> str:
    """A DestinationRule with outlierDetection turns on locality load balancing (unless it disables
    it): Envoy keeps every call in the caller's locality while local endpoints are healthy. When
    all calls stayed in the caller's cluster, that is the explanation, and what to do about it."""
    c = cf(facts, source)
    tally, own = facts.traffic.get(source), c.workloads.version if c.workloads else None
    if tally is None or not tally.by_version or set(tally.by_version) != {own}:
        return ""
    host = f"helloworld.{facts.namespace}.svc.cluster.local"
    rules = [
        r
        for r in (c.control.destination_rules if c.control else [])
        if r.outlier_detection and not r.locality_disabled and applies_to(r, host)
    ]
    if not rules:
        return ""
    r = rules[0]
    return (
        f"; all calls stayed in {source}: DestinationRule {r.namespace}/{r.name} sets outlierDetection, so "
        "locality load balancing keeps calls local while local endpoints are healthy (failover at work, not "
        "a broken mesh); to test balancing, set its loadBalancer.localityLbSetting.enabled: false"
    )


def plaintext_rule(facts: MeshFacts, source: str) -> DestinationRule | None:
    """The DestinationRule that sets how the source's sidecars call helloworld, when it sends them
    in plain text (tls.mode DISABLE): of the rules whose host covers it, the most specific host."""
    c = cf(facts, source)
    host = f"helloworld.{facts.namespace}.svc.cluster.local"
    rules = [r for r in (c.control.destination_rules if c.control else []) if applies_to(r, host)]
    rule = max(rules, key=lambda r: (not r.host.startswith("*"), len(r.host)), default=None)
    return rule if rule is not None and rule.tls_mode == "DISABLE" else None


def explain_plaintext(facts: MeshFacts, source: str) -> str:
    """Plain text from the source's sidecars meets the run's STRICT servers, which close the
    connection: each such call fails with 503 (connection termination)."""
    r = plaintext_rule(facts, source)
    if r is None:
        return ""
    return (
        f"; DestinationRule {r.namespace}/{r.name} (host {r.host}) in {source} sets tls.mode DISABLE, so "
        f"{source}'s sidecars call helloworld in plain text and the run's STRICT servers close those "
        "connections (503, reset reason: connection termination); delete it or set its tls.mode to "
        "ISTIO_MUTUAL"
    )


@check("test_hello_calls_succeed", requires=premises)
def hello_ok(facts: MeshFacts, source: str) -> str | None:
    if source not in facts.traffic:
        return calls_not_sent(facts, source) or f"no hello calls were sent from {source}"
    tally = _tally(facts, source)
    problem = statistics.ok_status()(tally)
    explained = explain_plaintext(facts, source) or _shortfall(facts, tally)
    return problem + explained + networks.failed_gateways(facts, source) if problem else None


def calls_not_sent(facts: MeshFacts, source: str) -> str | None:
    """Why the traffic stage sent no hello call from `source`: its curl could not run, or it has no
    Ready sleep pod to call from; None when it sent some, or the stage did not run there."""
    if source in facts.traffic:
        return None
    c = cf(facts, source)
    wl = c.workloads
    if source in facts.curl_errors:
        pod = wl.source_pod if wl else None
        return f"could not run curl in {pod} ({source}): {facts.curl_errors[source]}"
    ran = facts.traffic_plan is not None and c.usable
    if ran and (wl is None or not wl.source_pod or not wl.source_container):
        return f"no Ready sleep pod in {facts.namespace} of {source} to call from"
    return None


def _shortfall(facts: MeshFacts, tally: Tally) -> str:
    """Failed calls name no version; the one that answered furthest below its replica-weighted share
    is where they most likely went (the traffic matrix and the sidecar's endpoints show more)."""
    if tally.answered >= tally.calls:
        return ""
    short = sorted(
        ((t.weight * tally.calls - tally.by_version.get(t.version, 0), t) for t in targets(facts)),
        key=lambda item: item[0],
        reverse=True,
    )
    if not short:
        return ""
    (missing, worst), runner_up = short[0], (short[1][0] if len(short) > 1 else 0.0)
    # Blame one version only when it stands out: all calls failing leaves every version short alike.
    if missing - runner_up < max(1.0, (tally.calls - tally.answered) / 2):
        return ""
    got = tally.by_version.get(worst.version, 0)
    return (
        f"; {worst.version} ({worst.cluster}) answered {got} of the {worst.weight * tally.calls:.0f} "
        f"calls its replicas should get: the failures most likely come from {worst.cluster}"
    )


@check("test_calls_reach_every_cluster", requires=judged_premises)
def reach_every_cluster(facts: MeshFacts, source: str) -> str | None:
    problem = statistics.reached(targets(facts), sampling.cells(facts))(_tally(facts, source))
    if not problem:
        return None
    return problem + (explain_routing(facts, source) or unanswered_everywhere(facts, source))


def unanswered_everywhere(facts: MeshFacts, source: str) -> str:
    """A version no source reached, not even its own cluster, points at its pods, not the paths."""
    answered = [t for t in facts.traffic.values() if t.answered]
    if len(answered) < 2:
        return ""
    silent = [
        t
        for t in targets(facts)
        if t.weight > 0
        and facts.traffic[source].by_version.get(t.version, 0) == 0
        and all(tally.by_version.get(t.version, 0) == 0 for tally in answered)
    ]
    if not silent:
        return ""
    t = silent[0]
    ours = _pods_of(facts, t.cluster)
    answered_as_other = [pod for tally in answered for pod in tally.by_pod if pod in ours]
    if answered_as_other:
        return (
            f"; no cluster's calls reached {t.version}, yet {answered_as_other[0]} in {t.cluster} answered: "
            "as another version (test_answers_come_from_this_run names the pod and what it answered)"
        )
    return (
        f"; no cluster's calls reached {t.version}, not even {t.cluster}'s own: its helloworld pods are "
        "Ready yet answer nothing, so look at them, not at the paths (an app that listens on 127.0.0.1 "
        "only is not reached through the sidecar since Istio 1.10: istioctl analyze reports IST0143)"
    )


def _pods_of(facts: MeshFacts, name: str) -> set[str]:
    wl = cf(facts, name).workloads
    return {p.name for p in wl.pods if p.app == "helloworld"} if wl else set()


@check(
    "test_split_follows_replicas",
    requires=lambda f, s: [*judged_premises(f, s), (reach_every_cluster, s)],
)
def split_follows_replicas(facts: MeshFacts, source: str) -> str | None:
    problem = statistics.not_skewed(targets(facts), sampling.cells(facts))(_tally(facts, source))
    return problem + explain_routing(facts, source) if problem else None
