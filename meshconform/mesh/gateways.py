"""East-west gateways: what clusters on different networks need, found and judged through the API.

The guide's mesh is one network: pods of every cluster reach each other directly. Clusters on
different networks (the `topology.istio.io/network` label of istio-system differs) reach each
other only through each network's east-west gateway, and istiod learns a network's gateway from a
Service in istio-system carrying the same label (pilot/pkg/serviceregistry/kube/controller
network.go). Istio's multi-network guide installs it as `istio-eastwestgateway`
(samples/multicluster/gen-eastwest-gateway.sh): type LoadBalancer, so it has an address the other
network can reach, status port 15021 (the gateway's /healthz/ready), mTLS port 15443 where
cross-network traffic enters. The suite does not send cross-network calls; it says, per cluster,
whether that gateway is there, so a multi-network mesh is reported for what it is rather than
failing obscurely later.
"""

from __future__ import annotations

from meshconform.kube import errors
from meshconform.kube.client import Cluster, Obj
from meshconform.mesh.facts import ControlPlane, NetworkGateway

ISTIO_NS = "istio-system"
NETWORK_LABEL = "topology.istio.io/network"
EAST_WEST = "istio-eastwestgateway"
STATUS_PORT = 15021
MTLS_PORT = 15443
GATEWAY_PORT_ANNOTATION = "networking.istio.io/gatewayPort"  # overrides 15443 (network.go)
HOW = "samples/multicluster/gen-eastwest-gateway.sh, then expose-services.yaml"


def find(cluster: Cluster) -> list[NetworkGateway]:
    """Services in istio-system labelled with a network, the east-west gateway first."""
    listing = cluster.read(
        f"LIST services {ISTIO_NS} -l {NETWORK_LABEL}",
        cluster.core.list_namespaced_service,
        ISTIO_NS,
        label_selector=NETWORK_LABEL,
    )
    found = [_gateway(cluster, svc) for svc in listing.get("items") or []]
    return sorted(found, key=lambda g: (g.name != EAST_WEST, g.name))


def _gateway(cluster: Cluster, svc: Obj) -> NetworkGateway:
    meta, spec = svc["metadata"], svc.get("spec") or {}
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    address = next((a for i in ingress if (a := i.get("ip") or i.get("hostname"))), None)
    override = str((meta.get("annotations") or {}).get(GATEWAY_PORT_ANNOTATION, ""))
    return NetworkGateway(
        name=meta["name"],
        network=str((meta.get("labels") or {}).get(NETWORK_LABEL, "")),
        service_type=str(spec.get("type", "ClusterIP")),
        address=address or next(iter(spec.get("externalIPs") or []), None),
        ports=[int(p["port"]) for p in spec.get("ports") or [] if p.get("port")],
        ready_endpoints=_ready_endpoints(cluster, meta["name"]),
        traffic_port=int(override) if override.isdigit() else MTLS_PORT,
    )


def _ready_endpoints(cluster: Cluster, name: str) -> int:
    try:
        ep = cluster.read(
            f"GET endpoints {ISTIO_NS}/{name}", cluster.core.read_namespaced_endpoints, name, ISTIO_NS
        )
    except errors.NotFound:
        return 0
    return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])


def problem(control: ControlPlane) -> str | None:
    """What keeps this cluster's network from being reached by the others, or None."""
    mine = [g for g in control.gateways if g.network == control.network]
    if not mine:
        return (
            f"no east-west gateway (no Service in {ISTIO_NS} labelled {NETWORK_LABEL}="
            f"{control.network or '(unset)'})"
        )
    g = mine[0]
    if not g.address:
        return f"{g.name} has no external address ({g.service_type}, status.loadBalancer.ingress is empty)"
    if STATUS_PORT not in g.ports:
        return f"{g.name} at {g.address} does not expose status port {STATUS_PORT}"
    if g.traffic_port not in g.ports:
        return f"{g.name} at {g.address} does not expose port {g.traffic_port} (cross-network calls)"
    if not g.ready_endpoints:
        return f"{g.name} at {g.address} has no ready endpoints (its gateway pods are not Ready)"
    return None


def describe(name: str, control: ControlPlane | None) -> str:
    """`cluster-1: istio-eastwestgateway at 203.0.113.10:15021, 1 ready` or what is missing."""
    if control is None:
        return f"{name}: control plane not read"
    missing = problem(control)
    if missing:
        return f"{name}: {missing}"
    g = next(g for g in control.gateways if g.network == control.network)
    return f"{name}: {g.name} at {g.address}:{STATUS_PORT}, {g.ready_endpoints} ready"
