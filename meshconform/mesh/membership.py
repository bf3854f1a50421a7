"""The mesh beyond the run: clusters the istiods under test know that the run was not given.

Istiod merges a service across every cluster it registers (pilot/pkg/serviceregistry/aggregate),
so a cluster of the mesh that nobody handed to this run can still answer its hello calls. Two
sources name those clusters, both already read by the run: each istiod's own list of remote
clusters (`pilot-discovery request GET /debug/clusterz`, pilot/pkg/xds/debug.go -> ListRemoteClusters,
Istio 1.11 and later: the config cluster with no secret, then one entry per remote secret's data
key) and, for an istiod without that endpoint, the data keys of the remote secrets in its
istio-system (each a cluster ID it registers, pkg/kube/multicluster/secretcontroller.go addSecret).
A cluster ID counts as under test when it is a cluster's name, its istiod's CLUSTER_ID, the data
key of its remote secret in another cluster, or the key of a secret whose kubeconfig reaches it
(its kube-system UID); every other ID is a cluster of the mesh outside the run. This is an
observation, not a verdict: a mesh may well have more clusters than a run tests.
"""

from __future__ import annotations

from meshconform.mesh.facts import MeshFacts


def under_test_ids(facts: MeshFacts) -> set[str]:
    """Every ID by which the clusters of this run are known to the istiods (see the docstring)."""
    ids = set(facts.names)
    for c in facts.clusters.values():
        ids |= {p.cluster_id for p in (c.control.istiod if c.control else []) if p.cluster_id}
        ids |= {claim.cluster_id for claim in c.remote_secret_claims if claim.reaches}
    ids |= {secret.cluster_id for secret in facts.pairs.values() if secret.cluster_id}
    return ids


def outside_clusters(facts: MeshFacts) -> dict[str, list[str]]:
    """Cluster ID not under test -> the clusters under test whose istiod registers it, in run order."""
    ours = under_test_ids(facts)
    found: dict[str, list[str]] = {}
    for name, c in facts.clusters.items():
        known = set(c.istiod_remotes or []) | {claim.cluster_id for claim in c.remote_secret_claims}
        for cid in sorted(known - ours):
            found.setdefault(cid, []).append(name)
    return dict(sorted(found.items()))


def count_line(facts: MeshFacts) -> str:
    """`the mesh has 3 clusters; 2 under test`."""
    return f"the mesh has {len(facts.names) + len(facts.outside)} clusters; {len(facts.names)} under test"


def mesh_line(facts: MeshFacts) -> str:
    """`the mesh has 3 clusters; 2 under test; not under test: cluster-3 (registered by istiod in
    cluster-1, cluster-2)`, or "" when every cluster the istiods know is under test."""
    if not facts.outside:
        return ""
    others = "; ".join(
        f"{cid} (registered by istiod in {', '.join(where)})" for cid, where in facts.outside.items()
    )
    return f"{count_line(facts)}; not under test: {others}"


def registered_by(facts: MeshFacts, name: str) -> list[str]:
    """The clusters outside the run that the istiod in `name` registers: where its sidecars'
    endpoints for a merged service may come from besides the clusters under test."""
    return [cid for cid, where in facts.outside.items() if name in where]
