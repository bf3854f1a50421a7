"""Locality and networks: what the suite says when traffic stays local on purpose, or when the
clusters are on different networks.

- Locality: a DestinationRule with outlierDetection turns on locality load balancing, and calls
  stay in the caller's zone. The traffic check must say so and say what to do; doing what it says
  (localityLbSetting.enabled: false, through the official client) must make the run pass.
- Networks: a multi-network install has an east-west gateway per network (Istio's
  gen-eastwest-gateway.sh). The lab installs one with multi-network, as that script would; the
  suite must find it through the API, and say which cluster lacks one or has an unusable one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from support import LabEnv, run_suite

from meshconform.checks.traffic import applies_to, explain_routing
from meshconform.mesh import gateways
from meshconform.mesh.facts import (
    ClusterFacts,
    ControlPlane,
    DestinationRule,
    MeshFacts,
    NetworkGateway,
    Tally,
    Workloads,
)

GATEWAY = "istio-eastwestgateway"
REACH = "test_calls_reach_every_cluster"
NETWORK = "test_single_network[cluster-2]"
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


def test_lab_installs_an_east_west_gateway_only_with_multi_network(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path, faults=("multi-network",)) as env:
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
def test_multi_network_with_gateways_is_reported_as_such(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--lab", "--lab-fault", "multi-network")
    failed = {k for k, v in run.outcomes.items() if v == "failed"}
    assert failed == {NETWORK}, run.tail()
    message = (run.report_dir / "junit.xml").read_text()
    assert "every network has its east-west gateway" in message
    assert "cluster-1: istio-eastwestgateway at 203.0.113.10:15021, 1 ready" in message
    assert "cluster-2: istio-eastwestgateway at 203.0.113.11:15021, 1 ready" in message


@pytest.mark.selftest_slow
def test_missing_and_unusable_gateways_are_named(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path, faults=("multi-network",)) as env:
        env.core(1).delete_namespaced_service(GATEWAY, "istio-system")
        core = env.core(0)
        svc = core.read_namespaced_service_status(GATEWAY, "istio-system")
        svc.status.load_balancer.ingress = []  # the cloud never allocated an address
        core.replace_namespaced_service_status(GATEWAY, "istio-system", svc)
        run = run_suite(tmp_path / "reports", *env.args())
    failed = {k for k, v in run.outcomes.items() if v == "failed"}
    assert failed == {NETWORK}, run.tail()
    text = (run.report_dir / "junit.xml").read_text()
    assert "east-west gateway missing or not usable in cluster-1, cluster-2" in text
    assert "cluster-1: istio-eastwestgateway has no external address (LoadBalancer" in text
    missing = "no Service in istio-system labelled topology.istio.io/network=network2"
    assert f"cluster-2: no east-west gateway ({missing})" in text


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
    }
    return NetworkGateway(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gateway", "says"),
    [
        (gw(), None),
        (gw(network="network1"), "no east-west gateway"),
        (gw(address=None, service_type="NodePort"), "has no external address (NodePort"),
        (gw(ports=[15443]), "does not expose status port 15021"),
        (gw(ports=[15021]), "does not expose port 15443"),
        (gw(ports=[15021, 16443], traffic_port=16443), None),
        (gw(ready_endpoints=0), "has no ready endpoints"),
    ],
)
def test_gateway_problems(gateway: NetworkGateway, says: str | None) -> None:
    problem = gateways.problem(control("network2", gateway))
    assert (problem is None) if says is None else (says in str(problem)), problem
