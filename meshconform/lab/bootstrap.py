"""What a fresh GKE cluster holds before anyone installs anything: the state the guide assumes.

System namespaces, the `default` service account in each, a node per cluster carrying the zone
labels Istio derives locality from, and the bootstrap RBAC roles that kubectl and our RBAC
evaluation meet (cluster-admin bound to system:masters, admin/edit/view, system:discovery).
Istio's install on top is lab-sim's (lab/istio).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from .apiserver.lab_cluster import LabCluster

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
RBAC = "rbac.authorization.k8s.io"


def _cluster_role(name: str, rules: list[dict[str, Any]], **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **labels},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules}


def _binding(name: str, role: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
BOOTSTRAP_ROLES = [
    _cluster_role(
        "cluster-admin",
        [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    ),
    _cluster_role("admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": _READ + _WRITE}]),
    _cluster_role("edit", [{"apiGroups": ["", "apps"], "resources": ["*"], "verbs": _READ + _WRITE}]),
    _cluster_role("view", [{"apiGroups": ["", "apps"], "resources": ["*"], "verbs": _READ}]),
    _cluster_role(
        "system:discovery",
        [
            {
                "nonResourceURLs": [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                "verbs": ["get"],
            }
        ],
    ),
    _cluster_role(
        "system:basic-user",
        [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            }
        ],
    ),
    _cluster_role(
        "system:public-info-viewer",
        [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
    ),
]
_AUTHED = [{"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"}]
BOOTSTRAP_BINDINGS = [
    _binding(
        "cluster-admin", "cluster-admin", [{"apiGroup": RBAC, "kind": "Group", "name": "system:masters"}]
    ),
    _binding("system:discovery", "system:discovery", _AUTHED),
    _binding("system:basic-user", "system:basic-user", _AUTHED),
    _binding(
        "system:public-info-viewer",
        "system:public-info-viewer",
        [*_AUTHED, {"apiGroup": RBAC, "kind": "Group", "name": "system:unauthenticated"}],
    ),
]


def node_info(cluster: LabCluster, name: str) -> dict[str, Any]:
    """status.nodeInfo (core/v1 NodeSystemInfo): every field is required in the API's schema (the
    typed clients refuse a node without one); kubeProxyVersion is "" from 1.33, whose kubelets no
    longer set it (DisableNodeKubeProxyVersion on by default, kubernetes/kubernetes#129713)."""
    ids = hashlib.sha256(f"{cluster.name}/{name}".encode()).hexdigest()
    release = cluster.release
    return {
        "machineID": ids[:32],
        "systemUUID": f"{ids[32:40]}-{ids[40:44]}-{ids[44:48]}-{ids[48:52]}-{ids[52:64]}",
        "bootID": str(uuid.UUID(ids[:32])),
        "kernelVersion": "6.6.97+" if release.minor >= 30 else "5.4.89+",
        "osImage": "Container-Optimized OS from Google",
        "containerRuntimeVersion": release.containerd,
        "kubeletVersion": release.git_version,
        "kubeProxyVersion": release.git_version if release.minor < 33 else "",
        "operatingSystem": "linux",
        "architecture": "amd64",
    }


def node(cluster: LabCluster) -> dict[str, Any]:
    name = f"gke-{cluster.name}-default-pool-6c2a9f3b-k8m1"
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/region": cluster.region,
        "topology.kubernetes.io/zone": cluster.zone,
        "failure-domain.beta.kubernetes.io/region": cluster.region,
        "failure-domain.beta.kubernetes.io/zone": cluster.zone,
        "cloud.google.com/gke-nodepool": "default-pool",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": "10.4.0.0/24", "providerID": f"gce://meshconform-lab/{cluster.zone}/{name}"},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "nodeInfo": node_info(cluster, name),
            "addresses": [
                {"type": "InternalIP", "address": "10.128.0.2"},
                {"type": "Hostname", "address": name},
            ],
        },
    }


def install(cluster: LabCluster) -> None:
    store = cluster.store
    for ns in SYSTEM_NAMESPACES:
        store.create("namespaces", {"metadata": {"name": ns}})
    for role in BOOTSTRAP_ROLES:
        store.create(f"clusterroles.{RBAC}", role)
    for binding in BOOTSTRAP_BINDINGS:
        store.create(f"clusterrolebindings.{RBAC}", binding)
    store.create("nodes", node(cluster))
