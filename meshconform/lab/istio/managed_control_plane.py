"""Google's managed control plane in a lab cluster: what managed Cloud Service Mesh leaves in it.

A managed cluster runs no istiod. Google's control plane serves its revision from outside, and the
cluster shows (shapes and their sources in lab/ARCHITECTURE.md, "Managed control plane"):
- CRD controlplanerevisions.mesh.cloud.google.com and one ControlPlaneRevision in istio-system
  named after the revision (`asm-managed`, the regular channel), spec.type managed_service and
  spec.channel, status.conditions Reconciled / ProvisioningFinished / Stalled (Google, "Provision a
  managed Cloud Service Mesh control plane on GKE"; istio/istio's managed-control-plane test
  set-up waits on `--for=condition=ProvisioningFinished`);
- the revision's mesh and injector ConfigMaps (istio-asm-managed, istio-sidecar-injector-asm-managed)
  and its injector webhook, whose clientConfig is a URL (the managed injector is not a Service of
  the cluster);
- under TRAFFIC_DIRECTOR, ConfigMap istio-system/asm-options with `multicluster_mode: connected`:
  endpoint discovery across the fleet, Istio's remote secrets being unsupported there (Google,
  "Configuration updates for modernization"); managed istiod reads remote secrets as istiod does;
- the managed data plane controller (Deployment kube-system/mdp-controller) and the Istio CNI
  (DaemonSet kube-system/istio-cni-node).
The control plane's machinery (injection, the per-proxy endpoint view) is the lab's istiod
simulation, run where Google runs it: nothing of it is a pod in the cluster.
"""

from __future__ import annotations

from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..controllers.kit import owner_ref, random_suffix
from . import revisions as rv

Obj = dict[str, Any]
IN_CLUSTER, MANAGED_ISTIOD, MANAGED_TD = "in-cluster", "managed-istiod", "managed-td"
REVISION = "asm-managed"                 # the regular channel's revision
GROUP = "mesh.cloud.google.com"
OPTIONS = "asm-options"
MODE_KEY = "multicluster_mode"
CONNECTED = "connected"
MDP = "mdp-controller"
CNI = "istio-cni-node"
SYSTEM_NS = "kube-system"
# Where the managed injector answers; the shape (a Cloud Run URL per revision, cluster and network
# in the path) is read from public set-up material, not observed on a real cluster.
INJECT_URL = "https://istiod-asm-managed-lab-uc.a.run.app:443/inject/cluster/{cluster}/net/{network}"


def managed(kind: str) -> bool:
    return kind in (MANAGED_ISTIOD, MANAGED_TD)


def crd() -> Obj:
    versions: list[Obj] = [
        {
            "name": v,
            "served": True,
            "storage": v == "v1beta1",
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            "subresources": {"status": {}},
        }
        for v in ("v1beta1", "v1alpha1")
    ]
    names = {
        "kind": "ControlPlaneRevision",
        "listKind": "ControlPlaneRevisionList",
        "plural": "controlplanerevisions",
        "singular": "controlplanerevision",
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"controlplanerevisions.{GROUP}"},
        "spec": {"group": GROUP, "names": names, "scope": "Namespaced", "versions": versions},
    }


def control_plane_revision(revision: str) -> Obj:
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "ControlPlaneRevision",
        "metadata": {
            "name": revision,
            "namespace": rv.ISTIO_NS,
            "labels": {"mesh.cloud.google.com/managed-cni-enabled": "true"},
        },
        "spec": {"type": "managed_service", "channel": "regular"},
    }


def _condition(kind: str, status: str, reason: str, message: str) -> Obj:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def status(stalled: bool) -> Obj:
    """The ControlPlaneRevision's status: provisioned, or stalled before provisioning."""
    if stalled:
        return {
            "conditions": [
                _condition("Reconciled", "False", "Stalled", "Provisioning has not finished"),
                _condition("ProvisioningFinished", "False", "Stalled", "Provisioning has not finished"),
                _condition("Stalled", "True", "PreconditionFailed", "fleet membership not found"),
            ]
        }
    return {
        "conditions": [
            _condition("Reconciled", "True", "Ready", "Control plane is ready"),
            _condition("ProvisioningFinished", "True", "Provisioned", "Provisioning finished"),
            _condition("Stalled", "False", "NotStalled", "Provisioning is progressing"),
        ]
    }


def asm_options(connected: bool) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": OPTIONS, "namespace": rv.ISTIO_NS},
        "data": {MODE_KEY: CONNECTED} if connected else {},
    }


def mdp_controller() -> Obj:
    labels = {"app": MDP}
    container = {"name": MDP, "image": "gcr.io/gke-release/asm/mdp:1.28.5-asm.9"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": MDP, "namespace": SYSTEM_NS, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def cni_node() -> Obj:
    labels = {"k8s-app": CNI}
    # istio/istio manifests/charts/istio-cni/templates/daemonset.yaml (1.2x): install-cni reports
    # ready on /readyz, port 8000, once its CNI plugin is installed on the node.
    probe = {"httpGet": {"path": "/readyz", "port": 8000}}
    container = {"name": "install-cni", "image": "gcr.io/gke-release/asm/install-cni:1.28.5-asm.9",
                 "readinessProbe": probe}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": CNI, "namespace": SYSTEM_NS, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def cni_pod(ds: Obj, node: str) -> Obj:
    """The DaemonSet controller's pod for `node`: its template, bound to the node, owned by the set."""
    meta = {**ds["spec"]["template"]["metadata"]}
    meta["labels"] = {**meta.get("labels", {}), "pod-template-generation": "1"}
    meta.update({"name": f"{CNI}-{random_suffix()}", "generateName": f"{CNI}-", "namespace": SYSTEM_NS,
                 "ownerReferences": [owner_ref(ds)]})
    spec = {**ds["spec"]["template"]["spec"], "nodeName": node}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def cni_status(nodes: int, ready: int) -> Obj:
    """The lab runs no DaemonSet controller: the status it would leave for one pod per node."""
    return {
        "desiredNumberScheduled": nodes,
        "currentNumberScheduled": nodes,
        "numberReady": ready,
        "numberAvailable": ready,
        "numberUnavailable": nodes - ready,
        "updatedNumberScheduled": nodes,
        "numberMisscheduled": 0,
        "observedGeneration": 1,
    }


def url_webhook(hook: Obj, cluster: str, network: str) -> Obj:
    """The managed injector's webhook: the in-cluster shape, but called at Google's URL."""
    cc = hook["clientConfig"]
    return {**hook, "clientConfig": {"url": INJECT_URL.format(cluster=cluster, network=network),
                                     "caBundle": cc.get("caBundle", "")}}


def declares_connected(cluster: LabCluster) -> bool:
    cm = cluster.store.find("configmaps", rv.ISTIO_NS, OPTIONS)
    return ((cm or {}).get("data") or {}).get(MODE_KEY) == CONNECTED
