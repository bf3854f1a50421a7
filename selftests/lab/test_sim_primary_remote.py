"""Istio's primary-remote model in the lab, as clients read it: a remote with no istiod and the
remote profile's objects, the primary's istiod exposed on its east-west gateway, injection and
discovery through that address, traffic everywhere, the two remote faults and the options' refusals
(the suite's one-line refusals of --lab-model are in selftests/safety/test_safety_bad_input.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from kubernetes import client
from labapi_support import kubectl
from sim_support import Mesh, proxy_container, proxy_hosts, proxy_status, start
from support import until

from meshconform.lab import LabConfigError, LabOptions
from meshconform.lab.istio.remote_secret_exchange import join

REV = "asm-1285-9"
ISTIOD = f"istiod-{REV}"
GATEWAY_IP = "203.0.113.10"  # cluster-1's east-west gateway (the lab's first load-balancer address)
FOLLOW_SECONDS = 10.0


def versions(calls: list[str]) -> Counter[str]:
    return Counter(
        c.split("Hello version: ")[1].split(",")[0] if "Hello version" in c else c[:3] for c in calls
    )


def guide(m: Mesh, versions_by_cluster: tuple[str, ...]) -> Mesh:
    """helloworld vN and sleep in every cluster, the namespaces labelled for the revision."""
    try:
        for i, version in enumerate(versions_by_cluster):
            m.namespace(i)
            m.deploy(i, (version,))
        for i in range(len(versions_by_cluster)):
            m.wait_ready(i, count=2)
    except BaseException:
        m.stop()
        raise
    return m


@pytest.fixture(scope="module")
def pr(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """cluster-1 primary, cluster-2 its remote, joined as the docs join them."""
    m = guide(start(tmp_path_factory, clusters=2, model="primary-remote", joined=True), ("v1", "v2"))
    yield m
    m.stop()


def test_remote_runs_no_istiod_and_has_the_remote_profile_objects(pr: Mesh) -> None:
    core = pr.core(1)
    assert pr.pods(1, "istio-system", "app=istiod") == []
    assert pr.apps(1).list_namespaced_deployment("istio-system").items == []
    svc = core.read_namespaced_service(ISTIOD, "istio-system")
    assert not svc.spec.selector and svc.spec.type == "ClusterIP"
    assert {(p.name, p.port, p.target_port) for p in svc.spec.ports} == {
        ("tcp-istiod", 15012, 15012), ("tcp-webhook", 443, 15017)}
    slices = client.DiscoveryV1Api(pr.api(1)).list_namespaced_endpoint_slice(
        "istio-system", label_selector=f"kubernetes.io/service-name={ISTIOD}").items
    assert [e.addresses for s in slices for e in s.endpoints] == [[GATEWAY_IP]]
    assert {(p.name, p.port) for p in slices[0].ports} == {("tcp-istiod", 15012), ("tcp-webhook", 15017)}
    names = {c.metadata.name for c in core.list_namespaced_config_map("istio-system").items}
    assert not names & {f"istio-{REV}", f"istio-sidecar-injector-{REV}"}  # configMap: false, omitted
    ns = core.read_namespace("istio-system")
    assert ns.metadata.annotations["topology.istio.io/controlPlaneClusters"] == "cluster-1"
    root = core.read_namespaced_config_map("istio-ca-root-cert", "sample")  # the leading primary's
    assert root.data["root-cert.pem"] == pr.core(0).read_namespaced_config_map(
        "istio-ca-root-cert", "sample").data["root-cert.pem"]
    rbac = client.RbacAuthorizationV1Api(pr.api(1))
    role = rbac.read_cluster_role(f"istio-reader-clusterrole-{REV}-istio-system")
    assert any("mutatingwebhookconfigurations" in (r.resources or []) for r in role.rules)


def test_a_remote_cannot_be_upgraded_on_its_own(pr: Mesh) -> None:
    for change in (lambda: pr.lab.install_revision("cluster-2", "asm-1286-1"),
                   lambda: pr.lab.set_tag("cluster-2", "prod-stable", REV)):
        with pytest.raises(LabConfigError, match="cluster-2 is a remote of cluster-1: it runs no istiod"):
            change()
    assert pr.apps(1).list_namespaced_deployment("istio-system").items == []


def test_remote_injector_calls_the_istiod_service_with_its_cluster_and_network(pr: Mesh) -> None:
    hook = client.AdmissionregistrationV1Api(pr.api(1)).read_mutating_webhook_configuration(
        f"istio-sidecar-injector-{REV}")
    for w in hook.webhooks:
        ref = w.client_config.service
        assert (ref.name, ref.namespace, ref.port) == (ISTIOD, "istio-system", 443)
        assert ref.path == "/inject/cluster/cluster-2/net/network1" and w.failure_policy == "Fail"
    proxy = proxy_container(pr.pods(1, "sample", "app=sleep")[0])
    env = {e.name: e.value for e in proxy.env}
    assert env["ISTIO_META_CLUSTER_ID"] == "cluster-2" and env["ISTIO_META_NETWORK"] == "network1"
    assert env["CA_ADDR"] == f"{ISTIOD}.istio-system.svc:15012"


def test_primary_exposes_istiod_and_alone_holds_secrets(pr: Mesh) -> None:
    gw = pr.custom(0).get_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "istio-system", "gateways", "istiod-gateway")
    assert {(s["port"]["number"], s["tls"]["mode"]) for s in gw["spec"]["servers"]} == {
        (15012, "PASSTHROUGH"), (15017, "PASSTHROUGH")}
    vs = pr.custom(0).get_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "istio-system", "virtualservices", f"istiod-vs-{REV}")
    assert vs["spec"]["gateways"] == ["istiod-gateway"]
    ew = pr.core(0).read_namespaced_service("istio-eastwestgateway", "istio-system")
    assert ew.spec.type == "LoadBalancer" and ew.status.load_balancer.ingress[0].ip == GATEWAY_IP
    env = {e.name: e.value for e in pr.apps(0).read_namespaced_deployment(ISTIOD, "istio-system")
           .spec.template.spec.containers[0].env}
    assert env["EXTERNAL_ISTIOD"] == "true"
    def secrets(i: int) -> list[str]:
        return [s.metadata.name for s in pr.core(i).list_namespaced_secret(
            "istio-system", label_selector="istio/multiCluster=true").items]
    assert secrets(0) == ["istio-remote-secret-cluster-2"] and secrets(1) == []


def test_kubectl_reads_the_remote_shapes(pr: Mesh) -> None:
    ctx = ["--context", pr.contexts[1], "-n", "istio-system"]
    out = kubectl(pr.kubeconfig, *ctx, "get", "endpointslices", ISTIOD, "-o",
                  "jsonpath={.endpoints[0].addresses[0]}")
    assert out.stdout == GATEWAY_IP
    table = kubectl(pr.kubeconfig, *ctx, "get", "endpointslices", ISTIOD).stdout.splitlines()
    assert table[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert table[1].split()[:4] == [ISTIOD, "IPv4", "15012,15017", GATEWAY_IP]
    out = kubectl(pr.kubeconfig, *ctx, "get", "pods", "-l", "app=istiod", "-o", "name")
    assert out.stdout.strip() == ""
    out = kubectl(pr.kubeconfig, "--context", pr.contexts[1], "get", "mutatingwebhookconfiguration",
                  f"istio-sidecar-injector-{REV}", "-o", "jsonpath={.webhooks[0].clientConfig.service.path}")
    assert out.stdout == "/inject/cluster/cluster-2/net/network1"


def test_every_cluster_reaches_every_version(pr: Mesh) -> None:
    for i in (0, 1):
        assert versions(pr.hello(i, 40)) == {"v1": 20, "v2": 20}


def test_a_dead_istiod_address_fails_pod_creation_in_the_remote(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """remote-injector-dead-istiod: the remote's istiod Service points where no primary answers; the
    webhook (failurePolicy Fail) fails every injected pod, the ReplicaSet says so; plain pods start."""
    m = start(tmp_path_factory, clusters=2, model="primary-remote", joined=True,
              faults=("remote-injector-dead-istiod:cluster-2",))
    try:
        m.namespace(1)
        m.deploy(1, ("v2",))
        failed = until(lambda: [e for e in m.core(1).list_namespaced_event("sample").items
                                if e.reason == "FailedCreate"],
                       bool, FOLLOW_SECONDS, "a FailedCreate event in cluster-2/sample", show=len)
        message = failed[0].message
        assert failed[0].involved_object.kind == "ReplicaSet"
        assert 'failed calling webhook "rev.namespace.sidecar-injector.istio.io"' in message
        assert f"https://{ISTIOD}.istio-system.svc:443/inject/cluster/cluster-2/net/network1" in message
        assert "dial tcp 203.0.113.200:15017" in message
        assert m.pods(1) == []
        m.namespace(1, "plain", labels={})
        m.deploy(1, ("v2",), ns="plain")
        m.wait_ready(1, "plain", count=2)
        m.namespace(0)
        m.deploy(0, ("v1",))
        m.wait_ready(0, count=2)  # the primary injects its own pods
    finally:
        m.stop()


def test_a_remote_without_its_secret_gets_no_certificates_and_is_in_no_view(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """remote-no-secret: the primary holds no client for the remote, so it neither authenticates the
    remote's sidecars (their native istio-proxy never passes its startup probe, holding the app
    back) nor lists the remote's endpoints for anyone."""
    m = start(tmp_path_factory, clusters=3, model="primary-remote", faults=("remote-no-secret:cluster-3",))
    try:
        for i, version in enumerate(("v1", "v2", "v2")):
            m.namespace(i)
            m.deploy(i, (version,))
        for i in (0, 1):
            m.wait_ready(i, count=2)
        m.wait_held(2, count=2)  # istio-proxy never starts, so neither does the app
        held = m.core(0).list_namespaced_secret("istio-system", label_selector="istio/multiCluster=true")
        assert [s.metadata.name for s in held.items] == ["istio-remote-secret-cluster-2"]
        events = until(lambda: m.core(2).list_namespaced_event("sample").items,
                       lambda items: any(e.reason == "Unhealthy" for e in items), FOLLOW_SECONDS,
                       "an Unhealthy event in cluster-3/sample", show=lambda items: [e.reason for e in items])
        unhealthy = next(e for e in events if e.reason == "Unhealthy")
        assert unhealthy.involved_object.field_path == "spec.initContainers{istio-proxy}"
        names = {c.metadata.name for c in m.core(2).list_namespaced_config_map("sample").items}
        assert "istio-ca-root-cert" not in names  # no primary leads cluster-3
        m.wait_joined(0)
        hidden = {p.metadata.name for p in m.pods(2, selector="app=helloworld")}
        for i in (0, 1):
            calls = m.hello(i, 40)
            assert versions(calls) == {"v1": 20, "v2": 20}
            assert not any(name in c for c in calls for name in hidden)
    finally:
        m.stop()


def test_a_remote_sidecar_turns_ready_once_its_primary_holds_the_secret(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Deployed before the join, the remote's sidecars wait for the primary; after it they pass."""
    m = start(tmp_path_factory, clusters=2, model="primary-remote")
    try:
        m.namespace(1)
        m.deploy(1, ("v2",))
        proxies = [proxy_status(p) for p in m.wait_held(1, count=2)]
        assert len(proxies) == 2 and not any(s.ready or s.started for s in proxies)
        def configmaps() -> set[str]:
            return {c.metadata.name for c in m.core(1).list_namespaced_config_map("sample").items}
        assert "istio-ca-root-cert" not in configmaps()  # no primary leads cluster-2 yet
        m.lab.call(join, m.lab)
        m.wait_ready(1, count=2)
        until(configmaps, lambda names: "istio-ca-root-cert" in names, FOLLOW_SECONDS,
              "istio-ca-root-cert in cluster-2/sample")
    finally:
        m.stop()


def test_six_clusters_on_two_networks_reach_every_version(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The mix: cluster-1 and cluster-2 primaries of network1 and network2, two remotes each; every
    sidecar reaches all six helloworld pods (three per version), the other network's through gateways."""
    m = guide(start(tmp_path_factory, clusters=6, networks=2, model="primary-remote", joined=True),
              ("v1", "v2") * 3)
    try:
        for i in (0, 1):
            m.wait_joined(i)
        ns = {i: m.core(i).read_namespace("istio-system").metadata for i in range(6)}
        leads = [(ns[i].annotations or {}).get("topology.istio.io/controlPlaneClusters") for i in range(6)]
        assert leads == [None, None, "cluster-1", "cluster-2", "cluster-1", "cluster-2"]
        for i in range(6):
            assert versions(m.hello(i, 60)) == {"v1": 30, "v2": 30}
    finally:
        m.stop()


def test_a_remote_on_another_network_is_controlled_through_the_primary_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Istio's "Install Primary-Remote on different networks" (a cluster per network): cluster-1 is the
    primary on network1, cluster-2 its remote on network2, whose istiod address is cluster-1's east-west
    gateway and whose own gateway carries network2's traffic; each sidecar holds its own network's pod
    and the other network's gateway, and reaches both versions."""
    m = guide(start(tmp_path_factory, clusters=2, networks=2, model="primary-remote", joined=True),
              ("v1", "v2"))
    try:
        m.wait_joined(0)
        ns = m.core(1).read_namespace("istio-system").metadata
        assert ns.annotations["topology.istio.io/controlPlaneClusters"] == "cluster-1"
        assert ns.labels["topology.istio.io/network"] == "network2"
        assert m.pods(1, "istio-system", "app=istiod") == []
        slices = client.DiscoveryV1Api(m.api(1)).list_namespaced_endpoint_slice(
            "istio-system", label_selector=f"kubernetes.io/service-name={ISTIOD}").items
        assert [e.addresses for s in slices for e in s.endpoints] == [[GATEWAY_IP]]
        hook = client.AdmissionregistrationV1Api(m.api(1)).read_mutating_webhook_configuration(
            f"istio-sidecar-injector-{REV}")
        paths = {w.client_config.service.path for w in hook.webhooks}
        assert paths == {"/inject/cluster/cluster-2/net/network2"}
        env = {e.name: e.value for e in proxy_container(m.pods(1, "sample", "app=sleep")[0]).env}
        assert env["ISTIO_META_NETWORK"] == "network2"
        own = m.core(1).read_namespaced_service("istio-eastwestgateway", "istio-system")
        assert own.status.load_balancer.ingress[0].ip == "203.0.113.11"
        assert own.metadata.labels["topology.istio.io/network"] == "network2"
        for i, other in ((0, "203.0.113.11:15443"), (1, f"{GATEWAY_IP}:15443")):
            hosts = proxy_hosts(m, i)
            assert other in hosts and len(hosts) == 2, hosts
            assert sum(1 for h in hosts if h.endswith(":5000")) == 1, hosts  # its own network's pod
        for i in (0, 1):
            assert versions(m.hello(i, 40)) == {"v1": 20, "v2": 20}
    finally:
        m.stop()


@pytest.mark.parametrize(("options", "says"), [
    ({"model": "primary-primary"}, "lab model 'primary-primary' is not one of multi-primary, primary-remote"),
    ({"model": "primary-remote", "clusters": 1}, "needs a remote: two clusters or more, got 1"),
    ({"model": "primary-remote", "control_planes": ("cluster-1=managed-istiod",)}, "runs its own istiod"),
    ({"model": "primary-remote", "revisions": ("asm-173-3",)}, "needs Istio 1.24 or later"),
    ({"faults": ("remote-no-secret:cluster-2",)}, "needs cluster-2 to be a remote"),
    ({"model": "primary-remote", "faults": ("remote-no-secret:cluster-1",)}, "remotes: cluster-2"),
    ({"model": "primary-remote", "faults": ("istiod-down:cluster-2",)}, "cluster-2 is a remote"),
])
def test_options_refuse_what_the_model_cannot_be(options: dict[str, Any], says: str) -> None:
    with pytest.raises(LabConfigError, match=says) as refused:
        LabOptions(**options).validate()
    assert "\n" not in str(refused.value)


def test_injection_needs_the_primary_to_expose_istiod(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Without expose-istiod.yaml's Gateway the east-west gateway has no listener on 15017: the
    remote's webhook call is refused, as the API server would report it."""
    m = start(tmp_path_factory, clusters=2, model="primary-remote", joined=True)
    try:
        m.custom(0).delete_namespaced_custom_object(
            "networking.istio.io", "v1beta1", "istio-system", "gateways", "istiod-gateway")
        m.namespace(1)
        with pytest.raises(client.ApiException) as refused:
            m.core(1).create_namespaced_pod("sample", {
                "metadata": {"name": "sleep"}, "spec": {"containers": [{"name": "sleep", "image": "curl"}]}})
        assert refused.value.status == 500
        assert f"dial tcp {GATEWAY_IP}:15017: connect: connection refused" in refused.value.body
    finally:
        m.stop()
