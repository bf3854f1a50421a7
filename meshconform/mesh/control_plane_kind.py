"""Which control plane serves a cluster: an istiod in the cluster, or Google's managed one.

A managed Cloud Service Mesh cluster has no istiod pod. What it shows through the Kubernetes API,
per Google's pages (docs/real-clusters.md lists each with its address and what was verified where):
- a `ControlPlaneRevision` (group mesh.cloud.google.com, served as v1beta1 and v1alpha1) in
  istio-system named after the revision (`asm-managed`, `asm-managed-rapid`, `asm-managed-stable`),
  whose status.conditions say whether Google provisioned it: `Reconciled`, `ProvisioningFinished`
  (what `kubectl wait --for=condition=ProvisioningFinished controlplanerevision` waits for in
  istio/istio's own managed-control-plane test set-up) and `Stalled` ("Provision a managed Cloud
  Service Mesh control plane on GKE", `kubectl describe controlplanerevision -n istio-system`);
- ConfigMap `asm-options` in istio-system whose key `multicluster_mode: connected` declares
  endpoint discovery across the fleet's clusters, the only way under the TRAFFIC_DIRECTOR
  implementation, where Istio's remote secrets are not supported ("Configuration updates for
  modernization");
- the managed data plane controller, Deployment `mdp-controller` in kube-system, and the Istio CNI
  DaemonSet `istio-cni-node` in kube-system.

The implementation itself (ISTIOD or TRAFFIC_DIRECTOR) is a fleet fact (`gcloud container fleet
mesh describe`, "Check control plane implementation"), not a Kubernetes one: the suite judges
what the clusters declare, which is what both implementations act on.
"""

from __future__ import annotations

from typing import Any

from meshconform.kube import errors
from meshconform.kube.client import Cluster
from meshconform.kube.waits import stable_name
from meshconform.mesh.facts import Condition, ManagedControlPlane, MeshFacts

ISTIO_NS = "istio-system"
SYSTEM_NS = "kube-system"
GROUP = "mesh.cloud.google.com"
VERSIONS = ("v1beta1", "v1alpha1")  # the CRD's served versions, newest first
PLURAL = "controlplanerevisions"
OPTIONS = "asm-options"
MODE_KEY = "multicluster_mode"
CONNECTED = "connected"
MDP_CONTROLLER = "mdp-controller"
CNI_NODE = "istio-cni-node"
CNI_SELECTOR = f"k8s-app={CNI_NODE}"  # the DaemonSet's selector in istio's istio-cni chart


def observe(cluster: Cluster) -> ManagedControlPlane | None:
    """The managed control plane's objects in the cluster; None when it has no ControlPlaneRevision."""
    revisions = control_plane_revisions(cluster)
    if revisions is None:
        return None
    return ManagedControlPlane(
        revisions=revisions,
        multicluster_mode=multicluster_mode(cluster),
        mdp_controller=_deployment_ready(cluster, MDP_CONTROLLER),
        cni_node=(cni := _daemonset_ready(cluster, CNI_NODE)),
        cni_unready_nodes=cni_unready_nodes(cluster) if cni and not all_ready(cni) else [],
    )


def all_ready(ready: str) -> bool:
    """Is a "ready/desired" count complete (and not of nothing)?"""
    have, _, want = ready.partition("/")
    return have == want and want != "0"


def cni_unready_nodes(cluster: Cluster) -> list[str]:
    """The nodes whose istio-cni-node pod is not Ready: there the CNI plugin is not installed, and
    pods scheduled there cannot start (the pod's events say `plugin type="istio-cni" failed`)."""
    listing = cluster.read(
        f"LIST pods {SYSTEM_NS} -l {CNI_SELECTOR}",
        cluster.core.list_namespaced_pod,
        SYSTEM_NS,
        label_selector=CNI_SELECTOR,
    )
    return sorted(
        str((p.get("spec") or {}).get("nodeName") or stable_name(p["metadata"]["name"]))
        for p in listing.get("items") or []
        if not _pod_ready(p)
    )


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def control_plane_revisions(cluster: Cluster) -> dict[str, list[Condition]] | None:
    """ControlPlaneRevision name -> its conditions; None when the kind is not served or none exists."""
    for version in VERSIONS:
        try:
            listing = cluster.read(
                f"LIST {PLURAL}.{GROUP} {ISTIO_NS}",
                cluster.custom.list_namespaced_custom_object,
                GROUP,
                version,
                ISTIO_NS,
                PLURAL,
            )
        except errors.NotFound:
            continue  # this version (or the whole CRD) is not served here
        items = listing.get("items") or []
        return {i["metadata"]["name"]: conditions(i) for i in items} or None
    return None


def conditions(obj: dict[str, Any]) -> list[Condition]:
    return [
        Condition(str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason") or ""),
                  str(c.get("message") or ""))
        for c in (obj.get("status") or {}).get("conditions") or []
    ]


def multicluster_mode(cluster: Cluster) -> str | None:
    try:
        cm = cluster.read(
            f"GET configmap {ISTIO_NS}/{OPTIONS}", cluster.core.read_namespaced_config_map, OPTIONS, ISTIO_NS
        )
    except errors.NotFound:
        return None
    mode = (cm.get("data") or {}).get(MODE_KEY)
    return str(mode) if mode is not None else None


def _deployment_ready(cluster: Cluster, name: str) -> str | None:
    try:
        dep = cluster.read(
            f"GET deployment {SYSTEM_NS}/{name}", cluster.apps.read_namespaced_deployment, name, SYSTEM_NS
        )
    except errors.NotFound:
        return None
    status = dep.get("status") or {}
    return f"{status.get('readyReplicas') or 0}/{(dep.get('spec') or {}).get('replicas', 1)}"


def _daemonset_ready(cluster: Cluster, name: str) -> str | None:
    try:
        ds = cluster.read(
            f"GET daemonset {SYSTEM_NS}/{name}", cluster.apps.read_namespaced_daemon_set, name, SYSTEM_NS
        )
    except errors.NotFound:
        return None
    status = ds.get("status") or {}
    return f"{status.get('numberReady') or 0}/{status.get('desiredNumberScheduled') or 0}"


def by_multicluster_mode(facts: MeshFacts, name: str) -> bool:
    """Whether managed cluster `name` belongs to the declarative endpoint discovery: some cluster
    under test declares multicluster_mode: connected. Its remote secrets are then not the way in
    (TRAFFIC_DIRECTOR does not support them), so none is made there and the remote-secret checks
    give way to test_endpoint_discovery_declared, which fails where the declaration is missing."""
    if facts.clusters[name].managed is None:
        return False
    declared = (c.managed.multicluster_mode for c in facts.clusters.values() if c.managed is not None)
    return CONNECTED in declared


def kind(managed: ManagedControlPlane | None) -> str:
    """How the mesh table names the cluster's control plane."""
    if managed is None:
        return "in-cluster istiod"
    mode = managed.multicluster_mode
    discovery = f"multicluster_mode {mode}" if mode else "remote secrets"
    return f"managed ({', '.join(managed.revisions)}; {discovery})"


def mesh_line(facts: MeshFacts) -> str:
    """Names a mesh whose clusters' control planes differ (one in-cluster, one managed); empty when
    they are all in-cluster, the guide's mesh."""
    managed = [n for n in facts.names if facts.clusters[n].managed is not None]
    if not managed:
        return ""
    own = [n for n in facts.names if n not in managed and facts.clusters[n].usable]
    if not own:
        return f"managed control plane in every cluster ({', '.join(managed)})"
    return f"mixed mesh: in-cluster istiod in {', '.join(own)}, managed control plane in {', '.join(managed)}"
