"""The per-proxy endpoint view: which endpoints a sidecar's istiod pushes for each service.

A proxy in cluster X talks to the istiod it was injected against (its CA_ADDR). That istiod merges
services by hostname `<svc>.<ns>.svc.cluster.local` across its own cluster and every remote
cluster its remote-secret controller has *synced*, taking each cluster's ready endpoints with the
locality of their node (topology.kubernetes.io/region and /zone). The Envoy cluster name is
`outbound|<port>||<hostname>`.

Networks are split-horizon EDS (istio/istio 1.28, pilot/pkg/xds/endpoints/ep_filters.go
`EndpointsByNetworkFilter`): an endpoint's network is its cluster's istio-system label
topology.istio.io/network (pilot/pkg/serviceregistry/kube/controller/network.go); endpoints on the
proxy's network are kept as they are; an endpoint on another network is replaced by that network's
gateways (the ones in the endpoint's own cluster first, `selectNetworkGateways`), each gateway
endpoint weighing the sum of the endpoints it stands for, split evenly where several gateways
serve one cluster; only mTLS endpoints (with a sidecar) cross networks; an endpoint whose network
has no gateway is kept with its pod IP (it will not connect); and a proxy or endpoint without a
network is in every network (pilot/pkg/model/context.go `InNetwork`: "or if either ... is
unspecified"). A gateway is a Service in istio-system of any cluster the istiod knows, labelled
topology.istio.io/network, with a load-balancer IP (a hostname is not used), on port
networking.istio.io/gatewayPort or 15443 (network.go `getGatewayDetails`). Weights are scaled by
the least common multiple of the gateways per network, as `GetLBWeightScaleFactor` does, so that
an even split stays whole.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from . import managed_control_plane as managed
from . import remote, state, template
from . import revisions as rv

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
    weight: int = 1
    # A network gateway's endpoint: the gateway, and the endpoints of its network it stands for.
    gateway: Gateway | None = None
    behind: tuple[Endpoint, ...] = field(default=(), compare=False)

    @property
    def pod_name(self) -> str:
        return str(self.pod["metadata"]["name"])


@dataclass(frozen=True)
class Gateway:
    """A network's gateway as istiod learns it from a labelled Service (network.go)."""

    address: str
    port: int
    network: str
    cluster: LabCluster
    name: str


GATEWAY_PORT = 15443
GATEWAY_PORT_ANNOTATION = "networking.istio.io/gatewayPort"


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
    """The caller's cluster plus the remote clusters its istiod has synced."""
    revision = template.serving_revision(pod)
    return view(cluster, revision)


def view(cluster: LabCluster, revision: str | None) -> list[LabCluster]:
    """The clusters istiod `revision` of `cluster` knows: its own and the ones it has synced. A
    remote's proxies know what the primary's istiod their istiod Service leads to knows (none if it
    leads nowhere); that includes the remote itself only if the primary holds its secret."""
    if state.of(cluster).remote:
        home = remote.discovery(cluster, revision) if revision is not None else None
        return view(home, revision) if home is not None and not state.of(home).remote else []
    ctl = state.of(cluster).controller(revision) if revision is not None else None
    out = [cluster]
    for rc in ctl.synced() if ctl is not None else []:
        t = rc.target
        if t is not None and all(t is not c for c in out):
            out.append(t)
    for t in connected_peers(cluster):
        if all(t is not c for c in out):
            out.append(t)
    return out


def gateways(clusters: list[LabCluster]) -> list[Gateway]:
    """Every network gateway the istiod of these clusters learns, sorted as model.SortGateways."""
    out = []
    for c in clusters:
        for svc in c.store.iter("services", rv.ISTIO_NS):
            meta = svc["metadata"]
            net = (meta.get("labels") or {}).get(NETWORK_LABEL)
            port = str((meta.get("annotations") or {}).get(GATEWAY_PORT_ANNOTATION, GATEWAY_PORT))
            ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            ips = [i["ip"] for i in ingress if i.get("ip")] + list(svc["spec"].get("externalIPs") or [])
            if net and port.isdigit():
                out += [Gateway(ip, int(port), str(net), c, meta["name"]) for ip in ips]
    return sorted(out, key=lambda g: (g.cluster.name, g.network, g.address, g.port))


def split_horizon(eps: list[Endpoint], home: str, gws: list[Gateway]) -> list[Endpoint]:
    """What the proxy on network `home` is sent for these endpoints (EndpointsByNetworkFilter)."""
    if not gws:
        return eps  # multi-network is not configured: every endpoint is reached directly
    per_network: dict[str, int] = defaultdict(int)
    for g in gws:
        per_network[g.network] += 1
    scale = math.lcm(*per_network.values())
    out: list[Endpoint] = []
    weights: dict[tuple[str, str, int], int] = defaultdict(int)
    stands_for: dict[tuple[str, str, int], list[Endpoint]] = defaultdict(list)
    by_key = {_gw_key(g): g for g in gws}
    for e in eps:
        net = network(e.cluster)
        chosen = [g for g in gws if g.network == net and g.cluster is e.cluster]
        chosen = chosen or [g for g in gws if g.network == net]
        if not home or not net or net == home or not chosen:  # Proxy.InNetwork: unset is everywhere
            out.append(replace(e, weight=e.weight * scale))
        elif e.sidecar:  # cross-network traffic relies on mTLS for SNI routing
            for g in chosen:
                weights[_gw_key(g)] += e.weight * scale // len(chosen)
                stands_for[_gw_key(g)].append(e)
    for key in sorted(weights):
        g, first = by_key[key], stands_for[key][0]
        out.append(
            Endpoint(g.address, g.port, g.cluster, first.pod, first.region, first.zone, True,
                     max(1, weights[key]), g, tuple(stands_for[key]))
        )
    return out


def _gw_key(g: Gateway) -> tuple[str, str, int]:
    return (g.cluster.name, g.address, g.port)


def network_endpoints(gw: Gateway, namespace: str, name: str, port: int) -> list[Endpoint]:
    """Where the gateway's sni-dnat listener sends a call for this service: the endpoints of its own
    network that its istiod knows (ISTIO_META_REQUESTED_NETWORK_VIEW is the gateway's network)."""
    revisions = state.of(gw.cluster).revision_names
    known = view(gw.cluster, revisions[0] if revisions else None)
    return [e for e in endpoints(known, namespace, name, port) if network(e.cluster) == gw.network]


def connected_peers(cluster: LabCluster) -> list[LabCluster]:
    """Google's declarative endpoint discovery: a managed cluster that declares multicluster_mode:
    connected discovers every other managed cluster of the fleet that declares it too. A cluster
    under fleet-discovery-broken declares it yet is not of the others' fleet (registered to another
    fleet host project, which Google's provisioning page rules out for one mesh): neither side
    learns the other's endpoints, and nothing in either cluster's API says so."""
    def declaring(c: LabCluster) -> bool:
        if c is not cluster and (c.faults.touches("fleet-discovery-broken", c.name)
                                 or c.faults.touches("fleet-discovery-broken", cluster.name)):
            return False
        return managed.managed(state.of(c).control_plane) and managed.declares_connected(c)

    if not declaring(cluster):
        return []
    return [p for p in cluster.peers.values() if declaring(p)]


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
