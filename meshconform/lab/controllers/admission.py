"""The built-in admission plugins a pod and a Service meet before any webhook runs.

Real apiservers run ServiceAccount (the projected `kube-api-access-xxxxx` token volume mounted at
/var/run/secrets/kubernetes.io/serviceaccount in every container, plugin/pkg/admission/
serviceaccount), DefaultTolerationSeconds (not-ready/unreachable NoExecute for 300s) and Priority
before MutatingAdmissionWebhook, so the Istio injector sees pods in that shape. Service ClusterIPs
are allocated at create as the service IP allocator does, from a per-cluster range so that IPs
never repeat across the lab's clusters.
"""

from __future__ import annotations

from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..apiserver.store import AdmissionRequest
from .kit import random_suffix
from .kubelet import cluster_index

Obj = dict[str, Any]
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
TOLERATIONS = [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": 300} for k in ("not-ready", "unreachable")]


def _token_volume() -> Obj:
    return {
        "name": f"kube-api-access-{random_suffix()}",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


def pod_admission(req: AdmissionRequest) -> Obj | None:
    if req.res != "pods" or req.operation != "CREATE":
        return None
    pod = req.obj
    spec = pod.setdefault("spec", {})
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    if spec.get("automountServiceAccountToken") is not False:
        vol = next(
            (v for v in spec.get("volumes") or [] if v.get("name", "").startswith("kube-api-access-")), None
        )
        if vol is None:
            vol = _token_volume()
            spec.setdefault("volumes", []).append(vol)
        mount = {"name": vol["name"], "readOnly": True, "mountPath": SA_MOUNT}
        for c in containers:  # containers a webhook added get it on reinvocation, as upstream
            if not any(m.get("mountPath") == SA_MOUNT for m in c.get("volumeMounts") or []):
                c.setdefault("volumeMounts", []).append(dict(mount))
    tolerations = spec.setdefault("tolerations", [])
    for t in TOLERATIONS:
        if not any(x.get("key") == t["key"] for x in tolerations):
            tolerations.append(dict(t))
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    return pod


class ServiceIPs:
    """Allocates spec.clusterIP(s) from 10.<4k+3>.240.0/20 for cluster-k."""

    def __init__(self, cluster: LabCluster) -> None:
        self.store, self.k = cluster.store, cluster_index(cluster)
        self._next = 1

    def __call__(self, req: AdmissionRequest) -> Obj | None:
        if req.res != "services" or req.operation != "CREATE":
            return None
        spec = req.obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return None
        if spec.get("clusterIP") == "None":
            spec.setdefault("clusterIPs", ["None"])
        elif not spec.get("clusterIP"):
            spec["clusterIP"] = self._allocate()
            spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        return req.obj

    def _allocate(self) -> str:
        used = {s["spec"].get("clusterIP") for s in self.store.iter("services")}
        while True:
            n, self._next = self._next, self._next + 1
            ip = f"10.{4 * self.k + 3}.{240 + (n // 254) % 16}.{n % 254 + 1}"
            if ip not in used:
                return ip
