"""Each answer's origin: every hello reply names its pod (`instance: POD`) and a version, and every
such pod must be one this run deployed, answering the version its labels say, in the cluster that
version belongs to. Istiod merges `helloworld.<ns>` across every cluster of the mesh, not only
the clusters a run is given, so a cluster not under test (or a leftover deployment) that serves the
same service in the same namespace answers too, and its replies look like ours: the version is
whatever its Deployment says. Any other answerer fails, named, with where it likely runs. A pod of
ours whose answer names another version (its SERVICE_VERSION or image is not its label's) makes the
version-counting checks place its calls in the wrong cluster: that fails here too, with the pod.
"""

from __future__ import annotations

from meshconform.checks import cf, check
from meshconform.checks.statistics import fmt_counts
from meshconform.checks.traffic import judged_premises
from meshconform.mesh import membership
from meshconform.mesh.facts import MeshFacts, PodFact, Tally


def run_pods(facts: MeshFacts) -> dict[str, str]:
    """This run's helloworld pods -> the cluster each runs in."""
    return {pod.name: name for name, pod in _helloworld_pods(facts)}


def _helloworld_pods(facts: MeshFacts) -> list[tuple[str, PodFact]]:
    found = []
    for name in facts.names:
        wl = cf(facts, name).workloads
        found += [(name, pod) for pod in (wl.pods if wl else []) if pod.app == "helloworld"]
    return found


@check("test_answers_come_from_this_run", requires=judged_premises)
def answers_from_this_run(facts: MeshFacts, source: str) -> str | None:
    tally = facts.traffic.get(source) or Tally(source)
    problems = [p for p in (_foreign(facts, source, tally), _mislabelled(facts, source, tally)) if p]
    return "; ".join(problems) or None


def _foreign(facts: MeshFacts, source: str, tally: Tally) -> str:
    ours = run_pods(facts)
    foreign = {pod: n for pod, n in tally.by_pod.items() if pod not in ours}
    if not foreign:
        return ""
    return (
        f"from {source}: {sum(foreign.values())} calls were answered by pods no cluster under test runs "
        f"{fmt_counts(foreign)}: {_where(facts, source)} serves helloworld in {facts.namespace} (istiod "
        f"merges helloworld.{facts.namespace} across the whole mesh); see the answering endpoints with "
        f"istioctl proxy-config endpoints on {source}'s sleep pod, then remove that deployment or run "
        "with another --namespace"
    )


def _where(facts: MeshFacts, source: str) -> str:
    """The clusters outside the run that the source's istiod registers (membership.py)."""
    others = membership.registered_by(facts, source)
    if others:
        return (
            f"a cluster of the mesh not under test ({membership.count_line(facts)}; istiod in {source} "
            f"also registers {', '.join(others)})"
        )
    return "a cluster of the mesh not given to this run, or a leftover deployment,"


def _owners(facts: MeshFacts) -> dict[str, str]:
    """version -> the cluster under test whose helloworld it is."""
    found = {}
    for name in facts.names:
        wl = cf(facts, name).workloads
        if wl is not None and wl.version:
            found[wl.version] = name
    return found


def _mislabelled(facts: MeshFacts, source: str, tally: Tally) -> str:
    """Our pods whose answers name a version other than their label, or a version not their cluster's."""
    owners, lies, liars = _owners(facts), [], []
    for cluster, pod in _helloworld_pods(facts):
        for said in tally.pod_versions.get(pod.name, []):
            if said == pod.version and owners.get(said) == cluster:
                continue
            owner = owners.get(said)
            belongs = f"{said} is {owner}'s version" if owner else f"no cluster under test runs {said}"
            liars.append(pod.name)
            lies.append(
                f"{pod.name} in {cluster}, labelled version={pod.version}, answered {said} "
                f"({tally.by_pod.get(pod.name, 0)} calls; {belongs})"
            )
    if not lies:
        return ""
    return (
        f"from {source}: a pod of this run answers as another version: {'; '.join(lies)}: the reach and "
        "split checks count versions, so they place these calls in the wrong cluster; the reply's version "
        f"is the container's SERVICE_VERSION (else its image's): compare kubectl get pod {liars[0]} -n "
        f"{facts.namespace} -o yaml with Deployment {_deployment(liars[0])}, and remove what rewrites it "
        "(a mutating admission policy, an image mirror's tag)"
    )


def _deployment(pod: str) -> str:
    """helloworld-v2-7d9f8c-x2x4k -> helloworld-v2 (a Deployment's pod: <deployment>-<hash>-<id>)."""
    parts = pod.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else pod
