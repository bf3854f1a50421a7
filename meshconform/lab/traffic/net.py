"""The network a pod's curl sees: cluster DNS, kube-proxy, pod-to-pod reachability, time.

DNS is the caller's own cluster's: `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc[.cluster.local]` resolve
(resolv.conf search `<ns>.svc.cluster.local svc.cluster.local cluster.local`, ndots 5) only if that
Service exists *in the caller's cluster*; a headless Service resolves to a ready pod. A ClusterIP
reached without a sidecar goes through kube-proxy to a random ready endpoint of the local
Endpoints only (none: the REJECT rule, connection refused). Pods of all clusters share one flat
network (the guide's shared VPC) unless the clusters are installed on different Istio networks
(then a pod IP of another cluster does not route; its east-west gateway's address does) or
`partition:A,B` cuts A from B (connections refused).
PeerAuthentication (workload over namespace over istio-system) decides whether a sidecar takes plain
text.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..istio import eds
from ..istio import state as ist_state
from ..istio import template as tmpl

Obj = dict[str, Any]
SEARCH = ("svc.cluster.local", "cluster.local")


@dataclass
class Caller:
    cluster: LabCluster
    pod: Obj
    container: str
    rng: random.Random
    _dns: dict[str, tuple[str, Obj | None] | None] = field(default_factory=dict)
    _pods: dict[str, tuple[LabCluster, Obj]] | None = None

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def sidecar(self) -> bool:
        """Outbound traffic of this container goes through istio-proxy (not for the proxy's own uid).
        sidecar-bypass:C: in C the pod's outbound redirect is missing, as when the pod started before
        the istio-cni node agent was ready (istio.io/latest/docs/setup/additional-setup/cni/, "Race
        condition & mitigation"): the app's calls leave in plain text, past its own sidecar."""
        if self.cluster.faults.touches("sidecar-bypass", self.cluster.name) and not _server(self.pod):
            return False
        return tmpl.injected(self.pod) and self.container != "istio-proxy"

    def proxy_ready(self) -> bool:
        return bool(tmpl.proxy_status(self.pod).get("ready"))

    # -- DNS -------------------------------------------------------------------------------------
    def resolve(self, host: str) -> tuple[str, Obj | None] | None:
        """-> (ip, the Service it is, if one) or None when the name does not resolve."""
        if host not in self._dns:
            self._dns[host] = self._lookup(host)
        return self._dns[host]

    def _lookup(self, host: str) -> tuple[str, Obj | None] | None:
        host = host.rstrip(".").lower()
        try:
            ipaddress.ip_address(host.strip("[]"))
            return host.strip("[]"), self.service_by_ip(host.strip("[]"))
        except ValueError:
            pass
        if host == "localhost":
            return "127.0.0.1", None
        names = [host] if host.count(".") >= 5 else [f"{host}.{self.namespace}.svc.cluster.local"] + [
            f"{host}.{s}" for s in SEARCH] + [host]
        for name in names:
            parts = name.split(".")
            if len(parts) == 5 and parts[2:] == ["svc", "cluster", "local"]:
                svc = self.cluster.store.find("services", parts[1], parts[0])
                if svc is not None:
                    return self._service_ip(svc), svc
        return None

    def _service_ip(self, svc: Obj) -> str:
        ip = str(svc["spec"].get("clusterIP") or "")
        if ip and ip != "None":
            return ip
        ep = self.cluster.store.find("endpoints", svc["metadata"]["namespace"], svc["metadata"]["name"])
        for s in (ep or {}).get("subsets") or []:
            for a in s.get("addresses") or []:
                return str(a["ip"])
        return ""

    def service_by_ip(self, ip: str) -> Obj | None:
        return next(
            (s for s in self.cluster.store.iter("services") if s["spec"].get("clusterIP") == ip), None
        )

    def pod_by_ip(self, ip: str) -> tuple[LabCluster, Obj] | None:
        if self._pods is None:
            self._pods = {}
            for c in [self.cluster, *self.cluster.peers.values()]:
                for p in c.store.iter("pods"):
                    pip = (p.get("status") or {}).get("podIP")
                    if pip and not p["spec"].get("hostNetwork"):
                        self._pods[pip] = (c, p)
        return self._pods.get(ip)

    # -- kube-proxy ------------------------------------------------------------------------------
    def kube_proxy(self, svc: Obj, port: int) -> tuple[LabCluster, Obj, int] | None:
        """A random ready local endpoint of `svc` port `port`: (cluster, pod, target port)."""
        eps = eds.endpoints([self.cluster], svc["metadata"]["namespace"], svc["metadata"]["name"], port)
        if not eps:
            return None
        e = self.rng.choice(eps)
        return e.cluster, e.pod, e.port


def _server(pod: Obj) -> bool:
    return (pod["metadata"].get("labels") or {}).get("app") == "helloworld"


def strict_mtls(cluster: LabCluster, pod: Obj) -> bool:
    """The pod's effective PeerAuthentication mode is STRICT, composed as istiod does
    (pilot/pkg/security/authn ComposePeerAuthentication): per level the OLDEST policy (mesh: root
    namespace without selector; namespace: without selector; workload: with a matching selector,
    not in the root namespace), then mesh < namespace < workload, an UNSET mode inheriting, and
    PERMISSIVE when none is set."""
    labels = pod["metadata"].get("labels") or {}
    chosen: dict[int, Obj] = {}
    for ns in dict.fromkeys((pod["metadata"]["namespace"], "istio-system")):
        for pa in cluster.store.iter("peerauthentications.security.istio.io", ns):
            sel = ((pa.get("spec") or {}).get("selector") or {}).get("matchLabels")
            if sel and (ns == "istio-system" or not all(labels.get(k) == v for k, v in sel.items())):
                continue
            level = 0 if ns == "istio-system" else (2 if sel else 1)
            if level not in chosen or _created(pa) < _created(chosen[level]):
                chosen[level] = pa
    mode = "PERMISSIVE"
    for level in sorted(chosen):
        set_to = str(((chosen[level].get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET")
        mode = mode if set_to == "UNSET" else set_to
    return mode == "STRICT"


def _created(obj: Obj) -> tuple[str, str]:
    """istiod sorts policies by creation time, then name (pilot/pkg/model sortConfigByCreationTime)."""
    return str(obj["metadata"].get("creationTimestamp", "")), str(obj["metadata"].get("name", ""))


def partitioned(a: LabCluster, b: LabCluster) -> bool:
    return any({a.name, b.name} == set(f.args) for f in a.faults.named("partition")) and a is not b


def routable(a: LabCluster, b: LabCluster) -> bool:
    """Pod IPs of b reach from a: same cluster, or same network (flat VPC)."""
    return a is b or same_network(a, b)


def same_network(a: LabCluster, b: LabCluster) -> bool:
    """Whether a and b really share a network: the install's, not istio-system's label (which
    wrong-network bends); pod IPs route between them, and port 15443 is never filtered."""
    return _physical(a) == _physical(b)


def _physical(c: LabCluster) -> str:
    values = ist_state.of(c).mesh_values
    return values.network if values is not None else eds.network(c)


def rtt(a: LabCluster, b: LabCluster) -> float:
    """Round-trip seconds between pods of two clusters: same zone, same region, across regions."""
    if a is b or a.zone == b.zone:
        return 0.0004
    return 0.002 if a.region == b.region else 0.034
