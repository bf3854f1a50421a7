"""Each answer's origin: every hello reply names its pod (`instance: POD`), and every such pod must
be one this run deployed. Istiod merges `helloworld.<ns>` across every cluster of the mesh, not only
the clusters a run is given, so a cluster not under test (or a leftover deployment) that serves the
same service in the same namespace answers too, and its replies look like ours: the version label
is whatever its Deployment says. Any other answerer fails, named, with where it likely runs.
"""

from __future__ import annotations

from meshconform.checks import cf, check
from meshconform.checks.statistics import fmt_counts
from meshconform.checks.traffic import judged_premises
from meshconform.mesh.facts import MeshFacts, Tally


def run_pods(facts: MeshFacts) -> dict[str, str]:
    """This run's helloworld pods -> the cluster each runs in."""
    found = {}
    for name in facts.names:
        wl = cf(facts, name).workloads
        for pod in wl.pods if wl else []:
            if pod.app == "helloworld":
                found[pod.name] = name
    return found


@check("test_answers_come_from_this_run", requires=judged_premises)
def answers_from_this_run(facts: MeshFacts, source: str) -> str | None:
    ours, tally = run_pods(facts), facts.traffic.get(source) or Tally(source)
    foreign = {pod: n for pod, n in tally.by_pod.items() if pod not in ours}
    if not foreign:
        return None
    return (
        f"from {source}: {sum(foreign.values())} calls were answered by pods no cluster under test runs "
        f"{fmt_counts(foreign)}: {_where(facts, source)} serves helloworld in {facts.namespace} (istiod "
        f"merges helloworld.{facts.namespace} across the whole mesh); see the answering endpoints with "
        f"istioctl proxy-config endpoints on {source}'s sleep pod, then remove that deployment or run "
        "with another --namespace"
    )


def _where(facts: MeshFacts, source: str) -> str:
    """The clusters the source's istiod registers (its remote secrets' keys) that are not under test."""
    claims = cf(facts, source).remote_secret_claims
    others = sorted({c.cluster_id for c in claims if c.reaches is None and c.cluster_id not in facts.names})
    if others:
        return f"a cluster of the mesh not under test (istiod in {source} also registers {', '.join(others)})"
    return "a cluster of the mesh not given to this run, or a leftover deployment,"
