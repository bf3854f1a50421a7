"""The per-proxy endpoint view: which endpoints a sidecar's istiod pushes for each service.

A proxy in cluster X talks to the istiod it was injected against (its CA_ADDR). That istiod merges
services by hostname `<svc>.<ns>.svc.cluster.local` across its own cluster and every remote
cluster its remote-secret controller has *synced*, taking each cluster's ready endpoints with the
locality of their node (topology.kubernetes.io/region and /zone). Endpoints of a cluster on
another network (topology.istio.io/network on istio-system) are dropped, as split-horizon EDS does
when that network has no gateway (pilot/pkg/xds/ep_filters.go); the lab drops them even when the
multi-network install gave each network an east-west gateway (it routes nothing through gateways,
and the suite sends no cross-network calls). The Envoy cluster name is
`outbound|<port>||<hostname>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from . import revisions as rv
from . import state, template

Obj = dict[str, Any]
SUFFIX = "svc.cluster.local"
NETWORK_LABEL = "topology.istio.io/network"


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    cluster: LabCluster
    pod: Obj
    region: str
    zone: str
    sidecar: bool             # the endpoint pod has istio-proxy (so the caller's Envoy uses mTLS)

    @property
    def pod_name(self) -> str:
        return str(self.pod["metadata"]["name"])


def network(cluster: LabCluster) -> str:
    ns = cluster.store.find("namespaces", None, rv.ISTIO_NS)
    return str(((ns or {}).get("metadata", {}).get("labels") or {}).get(NETWORK_LABEL, ""))


def locality(cluster: LabCluster, pod: Obj) -> tuple[str, str]:
    node = (
        cluster.store.find("nodes", None, pod["spec"].get("nodeName", ""))
        if pod["spec"].get("nodeName")
        else None
    )
    labels = (node or {}).get("metadata", {}).get("labels") or {}
    return (
        str(labels.get("topology.kubernetes.io/region", cluster.region)),
        str(labels.get("topology.kubernetes.io/zone", cluster.zone)),
    )


def known_clusters(cluster: LabCluster, pod: Obj) -> list[LabCluster]:
    """The caller's cluster plus the remote clusters its istiod has synced (same network only)."""
    revision = template.serving_revision(pod)
    ctl = state.of(cluster).controller(revision) if revision is not None else None
    out, home = [cluster], network(cluster)
    for rc in ctl.synced() if ctl is not None else []:
        t = rc.target
        if t is not None and all(t is not c for c in out) and network(t) == home:
            out.append(t)
    return out


def _port_of(svc_port: Obj, subset: Obj) -> int | None:
    name = svc_port.get("name", "")
    for p in subset.get("ports") or []:
        if p.get("name", "") == name:
            return int(p["port"])
    return None


def endpoints(clusters: list[LabCluster], namespace: str, name: str, port: int) -> list[Endpoint]:
    """Ready endpoints of service `name` port `port` across `clusters`, as one Envoy cluster."""
    out: list[Endpoint] = []
    for c in clusters:
        svc = c.store.find("services", namespace, name)
        ep = c.store.find("endpoints", namespace, name)
        if svc is None or ep is None:
            continue
        sport = next((p for p in svc["spec"].get("ports") or [] if int(p.get("port", 0)) == port), None)
        if sport is None:
            continue
        for subset in ep.get("subsets") or []:
            target = _port_of(sport, subset)
            if target is None:
                continue
            for a in subset.get("addresses") or []:
                ref = a.get("targetRef") or {}
                pod = c.store.find("pods", ref.get("namespace", namespace), ref.get("name", ""))
                if pod is None:
                    continue
                region, zone = locality(c, pod)
                out.append(Endpoint(a["ip"], target, c, pod, region, zone, template.injected(pod)))
    return out


def services(clusters: list[LabCluster]) -> list[tuple[str, str, int]]:
    """(namespace, name, port) of every service the proxy's istiod knows, merged by hostname."""
    seen: dict[tuple[str, str, int], None] = {}
    for c in clusters:
        for svc in c.store.iter("services"):
            if svc["spec"].get("type") == "ExternalName":
                continue
            for p in svc["spec"].get("ports") or []:
                seen[(svc["metadata"]["namespace"], svc["metadata"]["name"], int(p.get("port", 0)))] = None
    return sorted(seen)


def cluster_name(namespace: str, name: str, port: int) -> str:
    return f"outbound|{port}||{name}.{namespace}.{SUFFIX}"
