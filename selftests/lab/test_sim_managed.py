"""Google's managed control plane in the lab, as clients read it: a ControlPlaneRevision and no
istiod pod, the injector at a URL, the managed data plane's objects, asm-options under
TRAFFIC_DIRECTOR, the discovery it declares, and the managed faults."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from labapi_support import kubectl
from sim_support import Mesh, start

GROUP, PLURAL = "mesh.cloud.google.com", "controlplanerevisions"


def conditions(m: Mesh, i: int, version: str = "v1beta1") -> dict[str, str]:
    cpr = m.custom(i).get_namespaced_custom_object(GROUP, version, "istio-system", PLURAL, "asm-managed")
    return {c["type"]: c["status"] for c in cpr["status"]["conditions"]}


@pytest.fixture(scope="module")
def td(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    """The guide's workloads on two TRAFFIC_DIRECTOR clusters, the namespaces labelled for asm-managed."""
    m = start(tmp_path_factory, clusters=2, control_planes=("managed-td",))
    for i in (0, 1):
        m.namespace(i, labels={"istio.io/rev": "asm-managed"})
        m.deploy(i, (f"v{i + 1}",))
    for i in (0, 1):
        m.wait_ready(i, count=2)
    yield m
    m.lab.stop()


def test_managed_cluster_has_a_provisioned_revision_and_no_istiod(td: Mesh) -> None:
    for i in (0, 1):
        assert td.pods(i, "istio-system", "app=istiod") == []
        assert conditions(td, i) == {"Reconciled": "True", "ProvisioningFinished": "True", "Stalled": "False"}
        assert conditions(td, i, "v1alpha1")["ProvisioningFinished"] == "True"  # both versions served


def test_kubectl_lists_the_control_plane_revision(td: Mesh) -> None:
    out = kubectl(td.kubeconfig, "--context", td.contexts[0], "-n", "istio-system", "get",
                  "controlplanerevision", "-o", "name")
    assert out.stdout.split() == ["controlplanerevision.mesh.cloud.google.com/asm-managed"]


def test_the_managed_injector_is_called_at_its_url_and_injects(td: Mesh) -> None:
    hook = client.AdmissionregistrationV1Api(td.api(0)).read_mutating_webhook_configuration(
        "istio-sidecar-injector-asm-managed"
    )
    assert hook.metadata.labels["istio.io/rev"] == "asm-managed"
    assert all(w.client_config.url and not w.client_config.service for w in hook.webhooks)
    pod = td.pods(0, "sample", "app=sleep")[0]
    # the managed injector is CSM 1.28's: on 1.33 nodes istio-proxy is a native sidecar
    assert [c.name for c in pod.spec.containers] == ["sleep"]
    assert [(c.name, c.restart_policy) for c in pod.spec.init_containers][-1] == ("istio-proxy", "Always")


def test_managed_data_plane_and_declared_discovery(td: Mesh) -> None:
    for i in (0, 1):
        mdp = td.apps(i).read_namespaced_deployment("mdp-controller", "kube-system")
        assert mdp.status.ready_replicas == 1
        ds = td.apps(i).read_namespaced_daemon_set("istio-cni-node", "kube-system")
        assert ds.status.number_ready == ds.status.desired_number_scheduled == 1
        options = td.core(i).read_namespaced_config_map("asm-options", "istio-system")
        assert options.data == {"multicluster_mode": "connected"}
        secrets = td.core(i).list_namespaced_secret("istio-system", label_selector="istio/multiCluster=true")
        assert secrets.items == []


def test_connected_clusters_reach_each_other_without_secrets(td: Mesh) -> None:
    for i in (0, 1):
        versions = {call.split("version: ")[1].split(",")[0] for call in td.hello(i, 20) if "version" in call}
        assert versions == {"v1", "v2"}


def test_managed_faults_bend_their_objects(tmp_path_factory: pytest.TempPathFactory) -> None:
    m = start(tmp_path_factory, clusters=2, control_planes=("managed-td",),
              faults=("revision-stalled:cluster-2", "multicluster-mode-missing:cluster-1"))
    try:
        assert conditions(m, 1)["Stalled"] == "True" and conditions(m, 0)["Stalled"] == "False"
        assert m.core(0).read_namespaced_config_map("asm-options", "istio-system").data in (None, {})
    finally:
        m.lab.stop()


ADMIN = ["pilot-agent", "request", "GET", "clusters?format=json"]
HELLO = "outbound|5000||helloworld.sample.svc.cluster.local"


def sidecar_hosts(m: Mesh, i: int) -> set[str]:
    """The addresses the sleep sidecar of cluster i holds for helloworld, as Envoy's admin prints them."""
    out, _, code = m.exec(i, m.sleep_pod(i), "istio-proxy", ADMIN)
    assert code == 0, out
    statuses = {c["name"]: c for c in json.loads(out)["cluster_statuses"]}
    return {h["address"]["socket_address"]["address"] for h in statuses[HELLO]["host_statuses"]}


def hello_ips(m: Mesh, i: int) -> set[str]:
    return {p.status.pod_ip for p in m.pods(i, selector="app=helloworld")}


def test_a_managed_sidecar_holds_every_connected_clusters_endpoints(td: Mesh) -> None:
    for i in (0, 1):
        assert sidecar_hosts(td, i) == hello_ips(td, 0) | hello_ips(td, 1)


def test_a_cluster_outside_the_fleet_is_neither_discovered_nor_discovers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """fleet-discovery-broken: both declare connected, yet neither sidecar holds the other's pods."""
    m = start(tmp_path_factory, clusters=2, control_planes=("managed-td",),
              faults=("fleet-discovery-broken:cluster-2",))
    try:
        for i in (0, 1):
            m.namespace(i, labels={"istio.io/rev": "asm-managed"})
            m.deploy(i, (f"v{i + 1}",))
        for i in (0, 1):
            m.wait_ready(i, count=2)
            options = m.core(i).read_namespaced_config_map("asm-options", "istio-system")
            assert options.data == {"multicluster_mode": "connected"}
        assert sidecar_hosts(m, 0) == hello_ips(m, 0) and sidecar_hosts(m, 1) == hello_ips(m, 1)
    finally:
        m.lab.stop()


def test_cni_node_not_ready_shows_as_a_real_daemonset_does(tmp_path_factory: pytest.TempPathFactory) -> None:
    """cni-node-not-ready: the DaemonSet counts fewer ready than scheduled, and its pod on the node is
    Running but not Ready, its readiness probe failing (the kubelet's Unhealthy event)."""
    m = start(tmp_path_factory, clusters=2, control_planes=("managed-istiod",),
              faults=("cni-node-not-ready:cluster-1",))
    try:
        ds = m.apps(0).read_namespaced_daemon_set("istio-cni-node", "kube-system")
        assert ds.status.desired_number_scheduled == 1 and ds.status.number_ready == 0
        pods = m.pods(0, "kube-system", "k8s-app=istio-cni-node")
        assert len(pods) == 1 and pods[0].status.phase == "Running"
        assert pods[0].metadata.owner_references[0].kind == "DaemonSet"
        assert pods[0].spec.node_name.startswith("gke-cluster-1-")  # bound to its node
        ready = {c.type: c.status for c in pods[0].status.conditions}
        assert ready["Ready"] == "False" and ready["ContainersReady"] == "False"
        healthy = m.apps(1).read_namespaced_daemon_set("istio-cni-node", "kube-system")
        assert healthy.status.number_ready == healthy.status.desired_number_scheduled == 1
        others = m.pods(1, "kube-system", "k8s-app=istio-cni-node")
        assert others and all(p.status.container_statuses[0].ready for p in others)
    finally:
        m.lab.stop()


def test_managed_faults_need_a_managed_cluster() -> None:
    from meshconform.lab import LabConfigError, LabOptions

    with pytest.raises(LabConfigError, match="needs cluster-2 to run managed-td"):
        options = LabOptions(faults=("secrets-under-td:cluster-2",), control_planes=("cluster-1=managed-td",))
        options.validate()
    with pytest.raises(LabConfigError, match="'istiod' is not one of in-cluster, managed-istiod, managed-td"):
        LabOptions(control_planes=("istiod",)).validate()
