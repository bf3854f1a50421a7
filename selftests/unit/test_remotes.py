"""Istio's primary-remote model over synthetic facts shaped from Istio's sources: the primary's
east-west gateway and expose-istiod.yaml's Gateway (samples/multicluster/), the remote's injector
webhook and selector-less Service istiod-REV (istio-discovery chart with istiodRemote.enabled:
templates/mutatingwebhook.yaml, remote-istiod-service.yaml, remote-istiod-endpointslices.yaml),
its istio-system annotated topology.istio.io/controlPlaneClusters, its secret in the primary only.
"""

from __future__ import annotations

import copy

import pytest
from test_checks import REV, healthy

from meshconform import checks
from meshconform.checks import remotes
from meshconform.mesh import facts as mf
from meshconform.mesh.controlplane import _webhook
from meshconform.mesh.facts import (
    ControlPlane,
    CrossNetworkGateway,
    GatewayServer,
    Injector,
    IstiodService,
    MeshFacts,
    NetworkGateway,
    ProxyHost,
    ProxyView,
    Webhook,
    split_pair,
)

ADDRESS = "203.0.113.10"  # the primary's east-west gateway: status.loadBalancer.ingress[0].ip
EW_SELECTOR = {"istio": "eastwestgateway"}
NS_SELECTOR = {"matchExpressions": [{"key": "istio.io/rev", "operator": "In", "values": [REV]}]}
REMOTE_ONLY = ("test_istiod_ready", "test_istiod_version", "test_trust_domain_and_mesh_id")
EAST_WEST = (
    "test_east_west_gateway", "test_cross_network_gateway", "test_sidecar_routes_networks_through_gateways"
)
MANAGED = ("test_managed_revision_ready", "test_managed_data_plane", "test_endpoint_discovery_declared")


def exposing(control: ControlPlane) -> None:
    """gen-eastwest-gateway.sh's Service and expose-istiod.yaml's Gateway on a primary."""
    control.istiod_gateway = NetworkGateway(
        "istio-eastwestgateway", "network1", "LoadBalancer", ADDRESS, [15021, 15443, 15012, 15017], 1,
        selector=EW_SELECTOR,
    )
    control.cross_network_gateways = [
        CrossNetworkGateway("istiod-gateway", EW_SELECTOR, [
            GatewayServer(15012, "tls", "PASSTHROUGH", ["*"]),
            GatewayServer(15017, "tls", "PASSTHROUGH", ["*"]),
        ])
    ]


def remote_control(name: str, primary: str = "cluster-1") -> ControlPlane:
    """What `istioctl install --set profile=remote` leaves (values.global.remotePilotAddress=ADDRESS,
    istiodRemote.injectionPath=/inject/cluster/NAME/net/network1): no istiod, no mesh ConfigMap."""
    hook = Webhook(
        "rev.namespace.sidecar-injector.istio.io", NS_SELECTOR, service=f"istiod-{REV}",
        path=f"/inject/cluster/{name}/net/network1", port=443,
    )
    return ControlPlane(
        network="network1",
        network_label="network1",
        control_plane_clusters=primary,
        root_ca="AB:CD",
        injectors=[Injector(f"istio-sidecar-injector-{REV}", REV, [hook])],
        istiod_service=IstiodService(
            f"istiod-{REV}", True, "ClusterIP", None, [15012, 443], 15017, [ADDRESS], [15012, 15017]
        ),
    )


def primary_remote(n: int = 2) -> MeshFacts:
    """cluster-1 the primary, the others its remotes; the remotes' secrets in cluster-1 only."""
    facts = healthy(n)
    facts.clusters["cluster-1"].control.network = "network1"  # type: ignore[union-attr]
    exposing(facts.clusters["cluster-1"].control)  # type: ignore[arg-type]
    for name in facts.names[1:]:
        c = facts.clusters[name]
        c.control, c.istiod_sync, c.remote_secret_ids = remote_control(name), None, {}
    facts.pairs = {p: s for p, s in facts.pairs.items() if split_pair(p)[1] == "cluster-1"}
    return facts


def outcomes(facts: MeshFacts) -> dict[str, checks.Outcome]:
    """Every check on every cluster and every ordered pair, as tests/ parametrizes them (the
    pairs into a remote have no secret fact: none is made there)."""
    pairs = [mf.pair_id(a, b) for b in facts.names for a in facts.names if a != b]
    return {
        chk.id(t): checks.judge(facts, chk, t)
        for chk in checks.all_checks().values()
        for t in (pairs if chk.scope == "pair" else facts.names)
    }


def undecided(facts: MeshFacts) -> dict[str, str]:
    return {k: o.message for k, o in outcomes(facts).items() if o.status != "passed"}


def expected_skips(n: int) -> set[str]:
    names = [f"cluster-{i + 1}" for i in range(n)]
    remotes_ = names[1:]
    pairs = [f"{a}->{b}" for b in remotes_ for a in names if a != b]
    pair_checks = ("test_remote_secret_present", "test_remote_secret_targets_cluster",
                   "test_remote_secret_credentials", "test_istiod_synced")
    return {
        *(f"{c}[{n_}]" for c in EAST_WEST + MANAGED for n_ in names),
        *(f"{c}[{r}]" for c in REMOTE_ONLY for r in remotes_),
        "test_remote_uses_primary[cluster-1]",
        *(f"test_control_plane_exposed[{r}]" for r in remotes_),
        *(f"{c}[{p}]" for c in pair_checks for p in pairs),
        # no Google-managed control plane: no sidecar is asked whether it synced
        *(f"test_sidecar_synced[{a}->{b}]" for a in names for b in names if a != b),
    }


@pytest.mark.parametrize("n", [2, 3])
def test_healthy_primary_remote_passes_and_says_what_does_not_apply(n: int) -> None:
    facts = primary_remote(n)
    results = outcomes(facts)
    assert {k for k, o in results.items() if o.status == "failed"} == set()
    assert set(undecided(facts)) == expected_skips(n)
    assert all(results[k].undecided == "not-applicable" for k in expected_skips(n))
    said = results["test_remote_secret_present[cluster-1->cluster-2]"].message
    assert "cluster-2 is a remote cluster" in said and "no istiod" in said
    assert results["test_istiod_ready[cluster-2]"].message.startswith(checks.NOT_APPLICABLE)
    exposed = results["test_control_plane_exposed[cluster-2]"].message
    assert "cluster-2 is a remote cluster" in exposed and "no istiod of its own" in exposed
    assert results["test_remote_uses_primary[cluster-2]"].status == "passed"
    assert results["test_control_plane_exposed[cluster-1]"].status == "passed"
    assert results["test_remote_secret_present[cluster-2->cluster-1]"].status == "passed"


def test_multi_primary_skips_both_checks_as_not_applying() -> None:
    results = outcomes(healthy(2))
    for check in ("test_remote_uses_primary", "test_control_plane_exposed"):
        for name in ("cluster-1", "cluster-2"):
            assert results[f"{check}[{name}]"].undecided == "not-applicable"
    assert "not a remote cluster" in results["test_remote_uses_primary[cluster-1]"].message


def failing(facts: MeshFacts) -> dict[str, str]:
    return {k: o.message for k, o in outcomes(facts).items() if o.status == "failed"}


def test_injector_at_a_dead_istiod_fails_the_remote_only() -> None:
    facts = primary_remote(3)
    control = facts.clusters["cluster-2"].control
    assert control is not None and control.istiod_service is not None
    control.istiod_service.addresses = ["198.51.100.7"]  # remotePilotAddress of a gone primary
    failed = failing(facts)
    assert set(failed) == {"test_remote_uses_primary[cluster-2]"}
    message = failed["test_remote_uses_primary[cluster-2]"]
    assert f"istio-sidecar-injector-{REV} of cluster-2" in message and "198.51.100.7:15017" in message
    assert f"{ADDRESS}:15017" in message and "global.remotePilotAddress" in message


def test_injection_url_form_is_judged_by_its_host_port_and_path() -> None:
    facts = primary_remote(2)
    hook = facts.clusters["cluster-2"].control.injectors[0].webhooks[0]  # type: ignore[union-attr]
    hook.service, hook.path, hook.port = None, None, None
    hook.url = f"https://{ADDRESS}:15017/inject/cluster/cluster-2/net/network1"
    assert failing(facts) == {}
    hook.url = f"https://{ADDRESS}:15017/inject"
    message = failing(facts)["test_remote_uses_primary[cluster-2]"]
    assert "names cluster (none), not cluster-2" in message
    assert "istiodRemote.injectionPath=/inject/cluster/cluster-2/net/network1" in message


def test_injection_path_names_the_cluster_by_its_secrets_data_key() -> None:
    facts = primary_remote(2)
    facts.pairs["cluster-2->cluster-1"].cluster_id = "remote-east"
    message = failing(facts)["test_remote_uses_primary[cluster-2]"]
    assert "not remote-east (the name cluster-1 knows cluster-2 by)" in message


def test_discovery_service_leading_elsewhere_fails() -> None:
    facts = primary_remote(2)
    hook = facts.clusters["cluster-2"].control.injectors[0].webhooks[0]  # type: ignore[union-attr]
    hook.service, hook.url = None, f"https://{ADDRESS}:15017/inject/cluster/cluster-2/net/network1"
    facts.clusters["cluster-2"].control.istiod_service.external_name = "istiod.old.example"  # type: ignore[union-attr]
    message = failing(facts)["test_remote_uses_primary[cluster-2]"]
    said = f"Service istio-system/istiod-{REV} in cluster-2 leads to ExternalName istiod.old.example"
    assert said in message


def test_primary_without_the_istiod_gateway_fails_once() -> None:
    facts = primary_remote(2)
    control = facts.clusters["cluster-1"].control
    assert control is not None and control.cross_network_gateways is not None
    control.cross_network_gateways[0].servers.pop()  # 15017 no longer passed through
    assert set(failing(facts)) == {"test_control_plane_exposed[cluster-1]"}
    message = failing(facts)["test_control_plane_exposed[cluster-1]"]
    assert "primary of cluster-2" in message and "port 15017" in message and "expose-istiod.yaml" in message
    skipped = outcomes(facts)["test_remote_uses_primary[cluster-2]"]
    assert skipped.status == "skipped" and skipped.undecided == "premise"


def test_pending_load_balancer_is_named() -> None:
    facts = primary_remote(2)
    facts.clusters["cluster-1"].control.istiod_gateway.address = None  # type: ignore[union-attr]
    message = failing(facts)["test_control_plane_exposed[cluster-1]"]
    assert "no external address" in message and "istio-eastwestgateway" in message


def test_remote_naming_a_primary_not_under_test_fails() -> None:
    facts = primary_remote(2)
    facts.clusters["cluster-2"].control.control_plane_clusters = "hub"  # type: ignore[union-attr]
    message = failing(facts)["test_remote_uses_primary[cluster-2]"]
    assert "controlPlaneClusters=hub, and none is under test" in message


def test_primary_matched_by_its_istiod_cluster_id() -> None:
    facts = primary_remote(2)
    facts.clusters["cluster-1"].control.istiod[0].cluster_id = "hub"  # type: ignore[union-attr]
    facts.clusters["cluster-2"].control.control_plane_clusters = "hub"  # type: ignore[union-attr]
    assert "test_remote_uses_primary[cluster-2]" not in failing(facts)


def test_remote_without_its_secret_in_the_primary_fails_the_join() -> None:
    facts = primary_remote(2)
    facts.pairs["cluster-2->cluster-1"] = mf.RemoteSecret("istio-remote-secret-cluster-2")
    assert "test_remote_secret_present[cluster-2->cluster-1]" in failing(facts)


def test_remote_without_an_injector_of_the_revision_fails() -> None:
    facts = primary_remote(2)
    facts.clusters["cluster-2"].control.injectors = []  # type: ignore[union-attr]
    message = failing(facts)["test_revision_everywhere[cluster-2]"]
    assert "cluster-2 is a remote cluster" in message and "profile=remote" in message


def test_facts_round_trip_through_json() -> None:
    facts = primary_remote(2)
    again = mf.from_json(MeshFacts, mf.to_json(facts))
    assert again == facts and outcomes(again) == outcomes(copy.deepcopy(facts))


@pytest.mark.parametrize("path", ["/inject/cluster/c2/net/n1", "/inject/net/n1/cluster/c2"])
def test_inject_path_pairs_in_either_order(path: str) -> None:
    assert remotes.inject_path(path) == {"cluster": "c2", "net": "n1"}


def test_chart_webhook_shape_is_read() -> None:
    """istio-discovery templates/mutatingwebhook.yaml with istiodRemote.injectionPath set."""
    hook = _webhook({
        "name": "rev.namespace.sidecar-injector.istio.io",
        "clientConfig": {"service": {"name": f"istiod-{REV}", "namespace": "istio-system",
                                     "path": "/inject/cluster/cluster-2/net/network1", "port": 443}},
    })
    assert (hook.service, hook.path, hook.port, hook.url) == (
        f"istiod-{REV}", "/inject/cluster/cluster-2/net/network1", 443, None
    )


def test_a_remote_refusing_its_pods_is_one_failure() -> None:
    """The dead injector refuses the remote's pods: their check is skipped on that premise."""
    facts = primary_remote(2)
    facts.clusters["cluster-2"].control.istiod_service.addresses = ["198.51.100.7"]  # type: ignore[union-attr]
    facts.clusters["cluster-2"].workloads.pods = []  # type: ignore[union-attr]
    facts.clusters["cluster-2"].workloads.problem = "FailedCreate: failed calling webhook"  # type: ignore[union-attr]
    assert set(failing(facts)) == {"test_remote_uses_primary[cluster-2]"}
    pods = outcomes(facts)["test_sample_pods_injected_and_ready[cluster-2]"]
    assert pods.undecided == "premise" and "test_remote_uses_primary[cluster-2] failed" in pods.message


def across_networks() -> MeshFacts:
    """Istio's "Install Primary-Remote on different networks": cluster-1 the primary on network1,
    cluster-2 its remote on network2 with its own east-west gateway (gen-eastwest-gateway.sh) and
    expose-services.yaml on both; each sidecar holds its own pod and the other network's gateway."""
    facts = primary_remote(2)
    passing = CrossNetworkGateway("cross-network-gateway", EW_SELECTOR, [
        GatewayServer(15443, "tls", "AUTO_PASSTHROUGH", ["*.local"])])
    addresses = {"cluster-1": ADDRESS, "cluster-2": "203.0.113.11"}
    for name, net in (("cluster-1", "network1"), ("cluster-2", "network2")):
        control = facts.clusters[name].control
        assert control is not None
        control.network = control.network_label = net
        control.gateways = [NetworkGateway("istio-eastwestgateway", net, "LoadBalancer", addresses[name],
                                           [15021, 15443, 15012, 15017], 1, selector=EW_SELECTOR)]
        control.cross_network_gateways = [*(control.cross_network_gateways or []), passing]
    for hook in facts.clusters["cluster-2"].control.injectors[0].webhooks:  # type: ignore[union-attr]
        hook.path = "/inject/cluster/cluster-2/net/network2"  # istiodRemote.injectionPath
    for name, other in (("cluster-1", "cluster-2"), ("cluster-2", "cluster-1")):
        own = [p.ip for p in facts.clusters[name].workloads.pods if p.app == "helloworld"]  # type: ignore[union-attr]
        facts.proxy_views[name] = ProxyView("sleep-1", "outbound|5000||helloworld.sample.svc.cluster.local", [
            *(ProxyHost(ip, 5000) for ip in own), ProxyHost(addresses[other], 15443)])
    return facts


def test_a_remote_on_another_network_than_its_primary_passes() -> None:
    facts = across_networks()
    results = outcomes(facts)
    assert {k for k, o in results.items() if o.status == "failed"} == set()
    for check in EAST_WEST:
        for name in facts.names:
            assert results[f"{check}[{name}]"].status == "passed", results[f"{check}[{name}]"].message
    assert results["test_remote_uses_primary[cluster-2]"].status == "passed"


def test_a_remote_refusing_its_pods_on_another_network_has_no_sidecar_to_read() -> None:
    """The dead injector on a remote across networks: no pod, so no sidecar view; its network
    routing is skipped on that premise, not judged inconclusive."""
    facts = across_networks()
    facts.clusters["cluster-2"].control.istiod_service.addresses = ["198.51.100.7"]  # type: ignore[union-attr]
    facts.clusters["cluster-2"].workloads.pods = []  # type: ignore[union-attr]
    facts.clusters["cluster-2"].workloads.problem = "FailedCreate: failed calling webhook"  # type: ignore[union-attr]
    del facts.proxy_views["cluster-2"]
    assert set(failing(facts)) == {"test_remote_uses_primary[cluster-2]"}
    routes = outcomes(facts)["test_sidecar_routes_networks_through_gateways[cluster-2]"]
    assert routes.undecided == "premise" and "test_remote_uses_primary[cluster-2] failed" in routes.message


def test_a_remotes_traffic_presupposes_its_primarys_sync() -> None:
    """The remote's sidecars get cluster-1's istiod's endpoints and certificates: without the
    remote's secret there, its pods and calls are skipped on that premise, not failed again."""
    facts = primary_remote(2)
    facts.pairs["cluster-2->cluster-1"] = mf.RemoteSecret("istio-remote-secret-cluster-2")
    facts.traffic["cluster-2"].by_version = {"v2": 50}
    for pod in facts.clusters["cluster-2"].workloads.pods:  # type: ignore[union-attr]
        pod.ready, pod.ready_containers = False, 1  # no certificate for its sidecar: never Ready
    assert set(failing(facts)) == {"test_remote_secret_present[cluster-2->cluster-1]"}
    assert outcomes(facts)["test_sample_pods_injected_and_ready[cluster-2]"].undecided == "premise"
    reach = outcomes(facts)["test_calls_reach_every_cluster[cluster-2]"]
    assert reach.undecided == "premise"


def test_a_remotes_root_ca_is_published_by_the_primary_that_reads_it() -> None:
    """istio-ca-root-cert in a remote comes from the primary's istiod once it reads the remote:
    without the remote's secret there, its absence is that failure, not a second one."""
    facts = primary_remote(2)
    facts.pairs["cluster-2->cluster-1"] = mf.RemoteSecret("istio-remote-secret-cluster-2")
    control = facts.clusters["cluster-2"].control
    assert control is not None
    control.root_ca, control.root_ca_configmap = None, False
    assert set(failing(facts)) == {"test_remote_secret_present[cluster-2->cluster-1]"}
    assert outcomes(facts)["test_root_ca_shared[cluster-2]"].undecided == "premise"
    facts = primary_remote(2)
    facts.clusters["cluster-2"].control.root_ca = None  # type: ignore[union-attr]
    facts.clusters["cluster-2"].control.root_ca_configmap = False  # type: ignore[union-attr]
    assert "istio-ca-root-cert is missing in cluster-2" in failing(facts)["test_root_ca_shared[cluster-2]"]
