"""East-west gateways: what clusters on different networks need, found and judged through the API.

The guide's mesh is one network: pods of every cluster reach each other directly. Clusters on
different networks (the `topology.istio.io/network` label of istio-system differs) reach each
other only through each network's east-west gateway, and istiod learns a network's gateway from a
Service in istio-system carrying the same label (pilot/pkg/serviceregistry/kube/controller
network.go). Istio's multi-network guide installs it as `istio-eastwestgateway`
(samples/multicluster/gen-eastwest-gateway.sh): type LoadBalancer, so it has an address the other
network can reach, status port 15021 (the gateway's /healthz/ready), mTLS port 15443 where
cross-network traffic enters; then `samples/multicluster/expose-services.yaml`, a Gateway that
opens 15443 in AUTO_PASSTHROUGH mode for `*.local` on the pods labelled istio=eastwestgateway. This
module reads both; checks/networks.py judges them.
"""

from __future__ import annotations

from meshconform.kube import errors
from meshconform.kube.client import Cluster, Obj
from meshconform.mesh.facts import CrossNetworkGateway, GatewayServer, NetworkGateway

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
    found = [service_gateway(cluster, svc) for svc in listing.get("items") or []]
    return sorted(found, key=lambda g: (g.name != EAST_WEST, g.name))


def service_gateway(cluster: Cluster, svc: Obj) -> NetworkGateway:
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
        selector={str(k): str(v) for k, v in (spec.get("selector") or {}).items()},
    )


def _ready_endpoints(cluster: Cluster, name: str) -> int:
    try:
        ep = cluster.read(
            f"GET endpoints {ISTIO_NS}/{name}", cluster.core.read_namespaced_endpoints, name, ISTIO_NS
        )
    except errors.NotFound:
        return 0
    return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])


def cross_network(cluster: Cluster) -> list[CrossNetworkGateway] | None:
    """Gateways (networking.istio.io) in istio-system; None when the API refuses to list them (the
    check then cannot tell, and says which permission is missing)."""
    try:
        listing = cluster.read(
            f"LIST gateways {ISTIO_NS}",
            cluster.custom.list_namespaced_custom_object,
            "networking.istio.io",
            "v1beta1",
            ISTIO_NS,
            "gateways",
        )
    except errors.NotFound:  # no Istio networking CRDs: no Gateway can exist
        return []
    except errors.Forbidden:
        return None
    return [_cross_network(item) for item in listing.get("items") or []]


def _cross_network(item: Obj) -> CrossNetworkGateway:
    spec = item.get("spec") or {}
    servers = []
    for server in spec.get("servers") or []:
        port = server.get("port") or {}
        servers.append(
            GatewayServer(
                port=int(port.get("number") or 0),
                protocol=str(port.get("protocol") or ""),
                tls_mode=str((server.get("tls") or {}).get("mode") or ""),
                hosts=[str(h) for h in server.get("hosts") or []],
            )
        )
    selector = {str(k): str(v) for k, v in (spec.get("selector") or {}).items()}
    return CrossNetworkGateway(name=item["metadata"]["name"], selector=selector, servers=servers)
