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

A mesh may also declare each network's gateways in mesh config `meshNetworks` (the istio-discovery
chart's templates/configmap.yaml writes values.global.meshNetworks under `networks:` in data key
`meshNetworks` of ConfigMap istio[-REV]; API istio.mesh.v1alpha1 MeshNetworks, Network.
IstioNetworkGateway: `{address, port}` or `{registryServiceName, port}`). istiod merges them with
the label-discovered ones (Istio 1.28, pilot/pkg/model/network.go NetworkManager.reload: gateways
with an `address` are taken as they are, hostnames resolved by DNS; pilot/pkg/serviceregistry/kube/
controller/network.go: a Service named by registryServiceName is a gateway of the declared network
unless it carries the topology.istio.io/network label, which wins, and its address is its own).
A NodePort or externally-fronted gateway has no load-balancer ingress and is declared by address:
`declared` reads those entries, `named` resolves the registryServiceName ones in this cluster.
"""

from __future__ import annotations

from typing import Any

import yaml

from meshconform.kube import errors
from meshconform.kube.client import Cluster, Obj
from meshconform.kube.yamlload import SAFE_LOADER
from meshconform.mesh.facts import CrossNetworkGateway, DeclaredGateway, GatewayServer, NetworkGateway

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
        ready_endpoints=_ready_endpoints(cluster, meta["name"], meta.get("namespace") or ISTIO_NS),
        traffic_port=int(override) if override.isdigit() else MTLS_PORT,
        selector={str(k): str(v) for k, v in (spec.get("selector") or {}).items()},
        node_ports=[int(p["nodePort"]) for p in spec.get("ports") or [] if p.get("nodePort")],
    )


def declared(mesh_networks: str) -> list[DeclaredGateway]:
    """The gateways of data key `meshNetworks` (`networks: {NET: {gateways: [...]}}`); entries
    without a port or without an address and a service name are left out, as istiod's validation
    refuses them (pkg/config/validation ValidateMeshNetworks)."""
    try:
        doc = yaml.load(mesh_networks or "", Loader=SAFE_LOADER) or {}
    except yaml.YAMLError:
        return []
    nets = doc.get("networks") if isinstance(doc, dict) else None
    out = []
    for net, conf in (nets if isinstance(nets, dict) else {}).items():
        listed = conf.get("gateways") if isinstance(conf, dict) else None
        for gw in listed if isinstance(listed, list) else []:
            entry = _declared_gateway(str(net), gw)
            if entry is not None:
                out.append(entry)
    return out


def _declared_gateway(network: str, gw: Any) -> DeclaredGateway | None:
    if not isinstance(gw, dict) or not str(gw.get("port", "")).isdigit():
        return None
    address, service = gw.get("address"), gw.get("registryServiceName")
    if not address and not service:
        return None
    return DeclaredGateway(network, int(gw["port"]), str(address) if address else None,
                           str(service) if service else None)


def named(cluster: Cluster, found: list[NetworkGateway], decl: list[DeclaredGateway]) -> list[NetworkGateway]:
    """`found` plus the unlabelled Services that meshNetworks names by registryServiceName
    (NAME.NAMESPACE.svc.DOMAIN), on the declared network and port; a labelled one keeps its label."""
    out = list(found)
    for d in decl:
        name, _, rest = (d.service or "").partition(".")
        namespace = rest.partition(".")[0] or ISTIO_NS
        if not name or (namespace == ISTIO_NS and any(g.name == name for g in found)):
            continue
        try:
            svc = cluster.read(
                f"GET service {namespace}/{name}", cluster.core.read_namespaced_service, name, namespace
            )
        except errors.NotFound:
            continue
        g = service_gateway(cluster, svc)
        g.network, g.traffic_port = d.network, d.port
        g.declared = f"meshNetworks: {d.network} gateway registryServiceName {d.service}:{d.port}"
        out.append(g)
    return out


def _ready_endpoints(cluster: Cluster, name: str, namespace: str = ISTIO_NS) -> int:
    try:
        ep = cluster.read(
            f"GET endpoints {namespace}/{name}", cluster.core.read_namespaced_endpoints, name, namespace
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
