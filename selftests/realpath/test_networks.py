"""Locality and networks: what the suite says when traffic stays local on purpose, or when the
clusters are on different networks.

- Locality: a DestinationRule with outlierDetection turns on locality load balancing, and calls
  stay in the caller's zone. The traffic check must say so and say what to do; doing what it says
  (localityLbSetting.enabled: false, through the official client) must make the run pass.
- Networks: a multi-network install has an east-west gateway per network (Istio's
  gen-eastwest-gateway.sh) and a Gateway passing *.local through on 15443 (expose-services.yaml).
  The lab installs both with --lab-networks 2, as those would; the suite must find them through the
  API, say which cluster lacks one or has an unusable one, and see that istiod sends the sidecars
  the other network's gateway, not its pod IPs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client
from support import LabEnv, run_suite

from meshconform.checks import networks
from meshconform.checks.traffic import applies_to, explain_routing
from meshconform.mesh import proxy_view
from meshconform.mesh.facts import (
    ClusterFacts,
    ControlPlane,
    CrossNetworkGateway,
    DestinationRule,
    GatewayServer,
    MeshFacts,
    NetworkGateway,
    PodFact,
    ProxyHost,
    ProxyView,
    Tally,
    Workloads,
)

GATEWAY = "istio-eastwestgateway"
REACH = "test_calls_reach_every_cluster"
EAST_WEST = "test_east_west_gateway"
DR_API = ("networking.istio.io", "v1beta1", "istio-system", "destinationrules")


# -- locality -------------------------------------------------------------------------------------


@pytest.mark.selftest_slow
def test_locality_rule_is_explained_and_the_advice_works(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path, faults=("locality-lb",)) as env:
        first = run_suite(tmp_path / "first", *env.args())
        failed = {k for k, v in first.outcomes.items() if v == "failed"}
        assert failed == {f"{REACH}[cluster-1]", f"{REACH}[cluster-2]"}, first.tail()
        for source in ("cluster-1", "cluster-2"):
            message = first.messages[f"{REACH}[{source}]"]
            assert f"all calls stayed in {source}: DestinationRule istio-system/helloworld-sample" in message
            assert "localityLbSetting.enabled: false" in message
        for i in range(2):
            disable_locality(env, i)
        second = run_suite(tmp_path / "second", *env.args())
        assert second.returncode == 0, second.tail()


def disable_locality(env: LabEnv, i: int) -> None:
    custom = client.CustomObjectsApi(env.api(i))
    group, version, ns, plural = DR_API
    for rule in custom.list_namespaced_custom_object(group, version, ns, plural)["items"]:
        lb = rule["spec"]["trafficPolicy"]["loadBalancer"]
        lb["localityLbSetting"] = {"enabled": False}
        custom.replace_namespaced_custom_object(group, version, ns, plural, rule["metadata"]["name"], rule)


def traffic_facts(by_version: dict[str, int], rule: DestinationRule) -> MeshFacts:
    facts = MeshFacts(run_id="r1", namespace="sample")
    for i, name in enumerate(("cluster-1", "cluster-2")):
        facts.clusters[name] = ClusterFacts(
            name=name,
            context=name,
            server="https://x",
            control=ControlPlane(destination_rules=[rule]),
            workloads=Workloads(namespace="sample", version=f"v{i + 1}"),
        )
    facts.traffic["cluster-1"] = Tally(source="cluster-1", calls=50, by_version=by_version)
    return facts


def rule(host: str = "helloworld.sample.svc.cluster.local", **kw: bool) -> DestinationRule:
    return DestinationRule(
        **{"namespace": "istio-system", "name": "hw", "host": host, "outlier_detection": True, **kw}
    )


def test_locality_is_the_explanation_only_when_every_call_stayed_local() -> None:
    assert "all calls stayed in cluster-1" in explain_routing(traffic_facts({"v1": 50}, rule()), "cluster-1")
    # some calls left the cluster: the rule does not explain a miss elsewhere (a partition, say)
    assert explain_routing(traffic_facts({"v1": 40, "v2": 10}, rule()), "cluster-1") == ""
    # no outlier detection (locality LB inactive), or locality LB disabled in the rule
    assert explain_routing(traffic_facts({"v1": 50}, rule(outlier_detection=False)), "cluster-1") == ""
    assert explain_routing(traffic_facts({"v1": 50}, rule(locality_disabled=True)), "cluster-1") == ""
    assert (
        explain_routing(traffic_facts({"v1": 50}, rule(host="reviews.sample.svc.cluster.local")), "cluster-1")
        == ""
    )


@pytest.mark.parametrize(
    ("host", "namespace", "covers"),
    [
        ("helloworld.sample.svc.cluster.local", "istio-system", True),
        ("helloworld", "sample", True),  # short names are relative to the rule's namespace
        ("helloworld", "istio-system", False),
        ("helloworld.sample", "istio-system", True),
        ("*.sample.svc.cluster.local", "istio-system", True),
        ("*.local", "istio-system", True),
        ("*", "istio-system", True),
        ("helloworld.other.svc.cluster.local", "istio-system", False),
        ("helloworld-v1.sample.svc.cluster.local", "istio-system", False),
    ],
)
def test_destination_rule_hosts_match_as_istio_resolves_them(host: str, namespace: str, covers: bool) -> None:
    r = DestinationRule(namespace=namespace, name="r", host=host)
    assert applies_to(r, "helloworld.sample.svc.cluster.local") is covers


# -- networks -------------------------------------------------------------------------------------


def test_lab_installs_an_east_west_gateway_only_on_several_networks(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path, networks=2) as env:
        for i in range(2):
            core = env.core(i)
            svc = core.read_namespaced_service(GATEWAY, "istio-system")
            assert svc.spec.type == "LoadBalancer"
            assert svc.metadata.labels["topology.istio.io/network"] == f"network{i + 1}"
            assert svc.status.load_balancer.ingress[0].ip
            assert {15021, 15443} <= {p.port for p in svc.spec.ports}
            ep = core.read_namespaced_endpoints(GATEWAY, "istio-system")
            assert sum(len(s.addresses or []) for s in ep.subsets or []) == 1
            custom = client.CustomObjectsApi(env.api(i))
            gw = custom.get_namespaced_custom_object(
                "networking.istio.io", "v1beta1", "istio-system", "gateways", "cross-network-gateway"
            )
            assert gw["spec"]["servers"][0]["tls"]["mode"] == "AUTO_PASSTHROUGH"
    with LabEnv.start(tmp_path / "single") as env:
        labelled = env.core(0).list_namespaced_service(
            "istio-system", label_selector="topology.istio.io/network"
        )
        assert labelled.items == []


@pytest.mark.selftest_slow
def test_missing_and_unusable_gateways_are_named(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path, networks=2) as env:
        env.core(1).delete_namespaced_service(GATEWAY, "istio-system")
        core = env.core(0)
        svc = core.read_namespaced_service_status(GATEWAY, "istio-system")
        svc.status.load_balancer.ingress = []  # the cloud never allocated an address
        core.replace_namespaced_service_status(GATEWAY, "istio-system", svc)
        run = run_suite(tmp_path / "reports", *env.args())
    failed = {k for k, v in run.outcomes.items() if v == "failed"}
    assert failed == {f"{EAST_WEST}[cluster-1]", f"{EAST_WEST}[cluster-2]"}, run.tail()
    text = (run.report_dir / "junit.xml").read_text()
    assert "cluster-1 (network network1): istio-eastwestgateway has no external address (LoadBalancer" in text
    missing = "no Service in istio-system labelled topology.istio.io/network=network2"
    assert f"cluster-2 (network network2): no east-west gateway for network network2 ({missing}" in text


def control(network: str, *gws: NetworkGateway) -> ControlPlane:
    return ControlPlane(network=network, gateways=list(gws))


def gw(**kw: object) -> NetworkGateway:
    base: dict[str, object] = {
        "name": GATEWAY,
        "network": "network2",
        "service_type": "LoadBalancer",
        "address": "203.0.113.11",
        "ports": [15021, 15443, 15012, 15017],
        "ready_endpoints": 1,
        "selector": {"istio": "eastwestgateway", "app": GATEWAY},
    }
    return NetworkGateway(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gateway", "says"),
    [
        (gw(), None),
        (gw(address=None, service_type="NodePort"), "has no external address (NodePort"),
        (gw(ports=[15443]), "does not expose status port 15021"),
        (gw(ports=[15021]), "does not expose port 15443"),
        (gw(ports=[15021, 16443], traffic_port=16443), None),
        (gw(ready_endpoints=0), "has no ready endpoints"),
    ],
)
def test_gateway_problems(gateway: NetworkGateway, says: str | None) -> None:
    problem = networks.gateway_problem(gateway)
    assert (problem is None) if says is None else (says in str(problem)), problem


def two_networks(
    *gws: NetworkGateway, label: str | None = "network2", installed: str = "network2"
) -> MeshFacts:
    """cluster-1 on network1 with a usable gateway; cluster-2 as given."""
    facts = MeshFacts(run_id="r1", namespace="sample", revision="r")
    one = ControlPlane(
        revisions=["r"], network="network1", network_label="network1", install_network="network1",
        gateways=[gw(network="network1", address="203.0.113.10")], cross_network_gateways=[passthrough()],
    )
    two = ControlPlane(
        revisions=["r"], network=label or installed, network_label=label, install_network=installed,
        gateways=list(gws), cross_network_gateways=[passthrough()],
    )
    for name, ctl in (("cluster-1", one), ("cluster-2", two)):
        facts.clusters[name] = ClusterFacts(name=name, context=name, server="https://x", control=ctl)
    return facts


def verdict(check: object, facts: MeshFacts, name: str = "cluster-2") -> str | None:
    from meshconform.checks import judge

    outcome = judge(facts, check, name)  # type: ignore[arg-type]
    return None if outcome.status == "passed" else f"{outcome.status}: {outcome.message}"


def test_a_network_label_that_disagrees_with_the_install_is_named() -> None:
    assert verdict(networks.network_declared, two_networks(gw())) is None
    said = verdict(networks.network_declared, two_networks(gw(), label="network1"))
    assert said and "topology.istio.io/network=network1, but its install says network network2" in said
    facts = two_networks(gw(network="network3"), label="network3", installed="")
    said = verdict(networks.network_declared, facts)
    assert said is None  # no install network to compare: the label and its own gateway agree
    facts = two_networks(gw(network="network1"), label="network2", installed="")
    said = verdict(networks.network_declared, facts)
    assert said and "its east-west gateway istio-eastwestgateway is labelled network1" in said


def test_a_network_reached_through_another_clusters_gateway_passes() -> None:
    facts = two_networks()  # cluster-2 has no gateway of its own...
    assert "no east-west gateway for network network2" in str(verdict(networks.east_west_gateway, facts))
    facts.clusters["cluster-3"] = ClusterFacts(
        name="cluster-3", context="c3", server="https://y",
        control=ControlPlane(revisions=["r"], network="network2", network_label="network2", gateways=[gw()]),
    )
    assert verdict(networks.east_west_gateway, facts) is None  # ... cluster-3's serves network2
    assert "skipped: does not apply" in str(verdict(networks.cross_network_gateway, facts))


def test_one_network_needs_no_gateway() -> None:
    facts = two_networks(label="network1", installed="network1")
    said = verdict(networks.east_west_gateway, facts)
    assert said and said.startswith("skipped: does not apply: every cluster is on network network1")


def passthrough(port: int = 15443, mode: str = "AUTO_PASSTHROUGH", hosts: tuple[str, ...] = ("*.local",),
                selector: dict[str, str] | None = None) -> CrossNetworkGateway:
    return CrossNetworkGateway(
        name="cross-network-gateway",
        selector={"istio": "eastwestgateway"} if selector is None else selector,
        servers=[GatewayServer(port=port, protocol="TLS", tls_mode=mode, hosts=list(hosts))],
    )


@pytest.mark.parametrize(
    ("gateway", "passes"),
    [
        (passthrough(), True),
        (passthrough(hosts=("*/*.local",)), True),
        (passthrough(hosts=("*",)), True),
        (passthrough(mode="ISTIO_MUTUAL"), False),
        (passthrough(port=443), False),
        (passthrough(hosts=("helloworld.sample.svc.cluster.local",)), False),
        (passthrough(selector={"istio": "ingressgateway"}), False),
        (None, False),
    ],
)
def test_cross_network_gateway_must_pass_local_through(
    gateway: CrossNetworkGateway | None, passes: bool
) -> None:
    facts = two_networks(gw())
    ctl = facts.clusters["cluster-2"].control
    assert ctl is not None
    ctl.cross_network_gateways = [gateway] if gateway else []
    said = verdict(networks.cross_network_gateway, facts)
    assert (said is None) is passes, said
    if not passes:
        assert "apply the cross-network Gateway" in str(said)


def with_view(*hosts: tuple[str, int]) -> MeshFacts:
    facts = two_networks(gw())
    for name, ip in (("cluster-1", "10.1.0.5"), ("cluster-2", "10.2.0.5")):
        pod = PodFact(name=f"helloworld-{name}", app="helloworld", version="v1", phase="Running", ready=True,
                      ready_containers=2, total_containers=2, has_proxy=True, ip=ip)
        facts.clusters[name].workloads = Workloads(namespace="sample", pods=[pod])
    name = "outbound|5000||helloworld.sample.svc.cluster.local"
    facts.proxy_views["cluster-1"] = ProxyView("sleep-x", name, [ProxyHost(a, p) for a, p in hosts])
    return facts


def test_sidecar_must_hold_the_other_networks_gateway_not_its_pods() -> None:
    ok = with_view(("10.1.0.5", 5000), ("203.0.113.11", 15443))
    assert verdict(networks.through_gateways, ok, "cluster-1") is None
    pods = with_view(("10.1.0.5", 5000), ("10.2.0.5", 5000))
    leaked = verdict(networks.through_gateways, pods, "cluster-1")
    assert leaked and "pod IPs of network network2 (10.2.0.5)" in leaked
    assert "no endpoint at network network2's east-west gateway (203.0.113.11:15443 from Service " in leaked
    unread = with_view()
    unread.proxy_views["cluster-1"].problem = "exec into sleep-x/istio-proxy failed: boom"
    said = verdict(networks.through_gateways, unread, "cluster-1")
    assert said and said.startswith("failed: cannot be judged: exec into sleep-x")


def test_failed_calls_name_the_gateway_that_did_not_connect() -> None:
    facts = with_view(("10.1.0.5", 5000), ("203.0.113.11", 15443))
    assert networks.failed_gateways(facts, "cluster-1") == ""
    facts.proxy_views["cluster-1"].hosts[1].connect_failures = 7
    said = networks.failed_gateways(facts, "cluster-1")
    assert "east-west gateway of network2 at 203.0.113.11:15443" in said
    assert "check that port 15443 is open from network1" in said


def test_the_sidecar_hosts_are_read_from_envoys_admin_json() -> None:
    admin = {
        "cluster_statuses": [
            {"name": "outbound|9080||other.sample.svc.cluster.local", "host_statuses": []},
            {
                "name": "outbound|5000||helloworld.sample.svc.cluster.local",
                "host_statuses": [
                    {"address": {"socket_address": {"address": "10.1.0.5", "port_value": 5000}},
                     "stats": [{"name": "cx_connect_fail"}, {"name": "rq_total", "value": "3"}]},
                    {"address": {"socket_address": {"address": "203.0.113.11", "port_value": 15443}},
                     "weight": 2, "stats": [{"name": "cx_connect_fail", "value": "4"}]},
                ],
            },
        ]
    }
    hosts = proxy_view.hosts(json.dumps(admin), proxy_view.envoy_cluster("sample"))
    assert hosts == [ProxyHost("10.1.0.5", 5000, 1, 0), ProxyHost("203.0.113.11", 15443, 2, 4)]
