"""Gateways declared in mesh config `meshNetworks`, over fakes shaped from Istio's sources: data key
`meshNetworks` of ConfigMap istio-REV as the istio-discovery chart writes it (templates/
configmap.yaml: `networks:` then values.global.meshNetworks), entries shaped as istio.mesh.v1alpha1
Network.IstioNetworkGateway (`address`/`registryServiceName` and `port`), and a NodePort east-west
gateway whose Service has no load-balancer ingress (the case meshNetworks' `address` is for).
"""

from __future__ import annotations

import types

from test_checks import REV, healthy, outcomes

from meshconform.checks import networks
from meshconform.kube import errors
from meshconform.mesh import controlplane, gateways
from meshconform.mesh.facts import (
    CrossNetworkGateway,
    DeclaredGateway,
    GatewayServer,
    MeshFacts,
    NetworkGateway,
    ProxyHost,
    ProxyView,
)
from meshconform.report import summary

SELECTOR = {"istio": "eastwestgateway"}
EW_FQDN = "istio-eastwestgateway.istio-system.svc.cluster.local"
NODE_ADDRESS = "192.0.2.7"  # a node (or the external balancer in front of the NodePort)
NODE_PORT = 31443
LB = "203.0.113.10"
CHART_MESH_NETWORKS = f"""networks:
  network1:
    endpoints:
    - fromRegistry: cluster-1
    gateways:
    - registryServiceName: istio-eastwestgateway.istio-system.svc.cluster.local
      port: 15443
  network2:
    endpoints:
    - fromRegistry: cluster-2
    gateways:
    - address: {NODE_ADDRESS}
      port: {NODE_PORT}
"""


def nodeport(net: str) -> NetworkGateway:
    """gen-eastwest-gateway.sh's Service made type NodePort: ports and Ready pods, no address."""
    return NetworkGateway("istio-eastwestgateway", net, "NodePort", None, [15021, 15443, 15012, 15017], 1,
                          selector=SELECTOR, node_ports=[31021, NODE_PORT, 31012, 31017])


def two_networks(declared: list[DeclaredGateway], cluster2_gateway: bool = True) -> MeshFacts:
    """cluster-1 on network1 behind a load balancer, cluster-2 on network2 behind a NodePort (or
    no Service at all); `declared` in cluster-1's mesh config; each sidecar holds its own pod and
    the address the other network is reached at."""
    facts = healthy(2)
    passing = CrossNetworkGateway("cross-network-gateway", SELECTOR, [
        GatewayServer(15443, "tls", "AUTO_PASSTHROUGH", ["*.local"])])
    for name, net in (("cluster-1", "network1"), ("cluster-2", "network2")):
        control = facts.clusters[name].control
        assert control is not None
        control.network = control.network_label = net
        control.cross_network_gateways = [passing]
    one, two = facts.clusters["cluster-1"].control, facts.clusters["cluster-2"].control
    assert one is not None and two is not None
    one.gateways = [NetworkGateway("istio-eastwestgateway", "network1", "LoadBalancer", LB,
                                   [15021, 15443, 15012, 15017], 1, selector=SELECTOR)]
    two.gateways = [nodeport("network2")] if cluster2_gateway else []
    one.declared_gateways = declared
    reached = {"cluster-1": (NODE_ADDRESS, NODE_PORT), "cluster-2": (LB, 15443)}
    for i, name in enumerate(facts.names):
        for pod in facts.clusters[name].workloads.pods:  # type: ignore[union-attr]
            pod.ip = f"10.{i + 1}.0.5" if pod.app == "helloworld" else f"10.{i + 1}.0.6"
        own = [p.ip for p in facts.clusters[name].workloads.pods if p.app == "helloworld"]  # type: ignore[union-attr]
        facts.proxy_views[name] = ProxyView("sleep-1", "outbound|5000||helloworld.sample.svc.cluster.local",
                                            [*(ProxyHost(ip, 5000) for ip in own), ProxyHost(*reached[name])])
    return facts


def ids(facts: MeshFacts, status: str) -> set[str]:
    return {k for k, o in outcomes(facts).items() if o.status == status}


ADDRESS = [DeclaredGateway("network2", NODE_PORT, address=NODE_ADDRESS)]


def test_the_charts_mesh_networks_are_read_beside_the_mesh_config() -> None:
    cluster = types.SimpleNamespace(
        core=types.SimpleNamespace(read_namespaced_config_map=lambda name, ns: {
            "metadata": {"name": name},
            "data": {"mesh": "trustDomain: cluster.local\n", "meshNetworks": CHART_MESH_NETWORKS},
        }),
        read=lambda what, fn, *a, **k: fn(*a, **k),
    )
    name, _, _, declared = controlplane.mesh_config(cluster, REV)  # type: ignore[arg-type]
    assert name == f"istio-{REV}"
    assert declared == [
        DeclaredGateway("network1", 15443, service="istio-eastwestgateway.istio-system.svc.cluster.local"),
        DeclaredGateway("network2", NODE_PORT, address=NODE_ADDRESS),
    ]


def test_entries_istiod_refuses_are_left_out() -> None:
    """No port, or neither address nor registryServiceName; the chart's empty `networks: {}`."""
    text = (
        "networks:\n  n1:\n    gateways:\n    - address: 192.0.2.1\n    - port: 15443\n    - [1]\n"
        "  n2: null\n"
    )
    assert gateways.declared(text) == []
    assert gateways.declared("networks: {}") == [] and gateways.declared(": not yaml: [") == []


def test_a_nodeport_gateway_declared_by_address_passes() -> None:
    """Before meshNetworks was read, the NodePort gateway was 'no external address' and failed."""
    facts = two_networks(ADDRESS)
    results = outcomes(facts)
    for check in ("test_east_west_gateway", "test_cross_network_gateway",
                  "test_sidecar_routes_networks_through_gateways"):
        for name in facts.names:
            assert results[f"{check}[{name}]"].status == "passed", results[f"{check}[{name}]"].message


def test_without_a_declaration_the_nodeport_gateway_fails_naming_both_sources() -> None:
    facts = two_networks([])
    facts.proxy_views["cluster-1"].hosts[-1] = ProxyHost(LB, 15443)  # anything: not judged here
    assert ids(facts, "failed") == {"test_east_west_gateway[cluster-2]"}
    message = outcomes(facts)["test_east_west_gateway[cluster-2]"].message
    assert "status.loadBalancer.ingress is empty" in message
    assert "meshNetworks" in message and "networks.network2.gateways[].address" in message


def test_a_sidecar_missing_the_declared_address_fails_naming_where_it_was_declared() -> None:
    facts = two_networks(ADDRESS)
    facts.proxy_views["cluster-1"].hosts[-1] = ProxyHost("198.51.100.9", 15443)
    failed = ids(facts, "failed")
    assert failed == {"test_sidecar_routes_networks_through_gateways[cluster-1]"}, failed
    message = outcomes(facts)["test_sidecar_routes_networks_through_gateways[cluster-1]"].message
    assert f"{NODE_ADDRESS}:{NODE_PORT} from meshNetworks of cluster-1" in message


def test_a_declared_nodeport_gateway_without_ready_pods_still_fails_on_its_service() -> None:
    facts = two_networks(ADDRESS)
    facts.clusters["cluster-2"].control.gateways[0].ready_endpoints = 0  # type: ignore[union-attr]
    message = outcomes(facts)["test_east_west_gateway[cluster-2]"].message
    assert "no ready endpoints" in message
    assert "meshNetworks of cluster-1: network2 gateway address" in message


def test_a_declared_address_without_a_service_is_judged_as_declared() -> None:
    """No Service of network2 anywhere: the declaration is all the API holds; its gateway check
    passes on it, the Gateway check cannot match pods and says so, the sidecar still must hold it."""
    facts = two_networks(ADDRESS, cluster2_gateway=False)
    results = outcomes(facts)
    assert results["test_east_west_gateway[cluster-2]"].status == "passed"
    skipped = results["test_cross_network_gateway[cluster-2]"]
    assert skipped.status == "skipped"
    assert f"meshNetworks of cluster-1 at {NODE_ADDRESS}:{NODE_PORT}" in skipped.message
    assert results["test_sidecar_routes_networks_through_gateways[cluster-1]"].status == "passed"
    bad = two_networks([DeclaredGateway("network2", 0, address=NODE_ADDRESS)], cluster2_gateway=False)
    assert "with port 0" in outcomes(bad)["test_east_west_gateway[cluster-2]"].message


def test_a_registry_service_name_makes_an_unlabelled_service_the_networks_gateway() -> None:
    """network.go: the Service named by registryServiceName is a gateway of the declared network
    on the declared port; a Service with the network label keeps its own."""
    svc = {"metadata": {"name": "ew-unlabelled", "namespace": "istio-system"},
           "spec": {"type": "LoadBalancer", "ports": [{"port": 15021}, {"port": 443}]},
           "status": {"loadBalancer": {"ingress": [{"hostname": "ew.example.com"}]}}}
    endpoints = {"subsets": [{"addresses": [{"ip": "10.0.0.5"}]}]}

    def service(name: str, ns: str) -> dict:
        if name != "ew-unlabelled":
            raise errors.NotFound(f"GET service {ns}/{name}", "NotFound")
        return svc

    cluster = types.SimpleNamespace(
        core=types.SimpleNamespace(read_namespaced_service=service,
                                   read_namespaced_endpoints=lambda name, ns: endpoints),
        read=lambda what, fn, *a, **k: fn(*a, **k),
    )
    labelled = nodeport("network1")
    decl = [DeclaredGateway("network2", 443, service="ew-unlabelled.istio-system.svc.cluster.local"),
            DeclaredGateway("network1", 15443, service=EW_FQDN),
            DeclaredGateway("network3", 443, service="absent.istio-system.svc.cluster.local")]
    found = gateways.named(cluster, [labelled], decl)  # type: ignore[arg-type]
    assert found[0] is labelled and labelled.network == "network1"
    assert [(g.name, g.network, g.address, g.traffic_port, g.ready_endpoints) for g in found[1:]] == [
        ("ew-unlabelled", "network2", "ew.example.com", 443, 1)]


def _summary_gateway(facts: MeshFacts, name: str) -> dict[str, object]:
    c = facts.clusters[name]
    declared = networks.declarations(facts, c.control.network or "") if c.control else []
    entry: dict[str, object] = summary.cluster_entry(c, REV, "primary", declared)["east_west_gateway"]
    return entry


def test_summary_json_gives_the_declared_address_where_the_gateway_service_has_none() -> None:
    """summary.json's east_west_gateway: a NodePort Service has no address of its own; the address
    istiod hands out for its network is the one meshNetworks declares, and it says where."""
    facts = two_networks(ADDRESS)
    assert _summary_gateway(facts, "cluster-2") == {
        "name": "istio-eastwestgateway", "address": NODE_ADDRESS, "port": NODE_PORT, "ready": 1,
        "address_from": "meshNetworks of cluster-1",
    }
    served = _summary_gateway(facts, "cluster-1")
    assert served["address"] == LB and "address_from" not in served
    alone = _summary_gateway(two_networks(ADDRESS, cluster2_gateway=False), "cluster-2")
    assert alone["name"] is None and alone["address"] == NODE_ADDRESS
