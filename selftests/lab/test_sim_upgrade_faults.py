"""The upgrade rehearsal's two lab faults, as the official client sees them through the API.

kubernetes-version-unsupported:C puts C on a Kubernetes release outside its newest revision's
window: /version and every node's kubeletVersion say so. istiod-reader-rbac-missing:C starts the
newest revision's istiod without its ClusterRoleBinding: the binding is absent, the pod stays 0/1
Running, and its discovery log shows client-go's Forbidden lists (what a real istiod logs).
"""

from __future__ import annotations

import time

from kubernetes import client
from labapi_support import start_lab

from meshconform.lab.istio import kube_support

OLD, NEW = "asm-1285-9", "asm-1295-1"


def test_kubernetes_version_unsupported_moves_version_and_kubelets(tmp_path_factory):
    env = start_lab(tmp_path_factory, clusters=2, faults=("kubernetes-version-unsupported:cluster-2",),
                    ready_delay=0.05)
    try:
        healthy, moved = client.VersionApi(env.api(0)).get_code(), client.VersionApi(env.api(1)).get_code()
        assert healthy.minor == "33" and moved.minor == "20", (healthy.git_version, moved.git_version)
        nodes = client.CoreV1Api(env.api(1)).list_node().items
        kubelets = {n.status.node_info.kubelet_version for n in nodes}
        assert kubelets == {moved.git_version}
    finally:
        env.stop()


def test_the_unsupported_release_is_outside_the_newest_revisions_window():
    assert kube_support.unsupported_for(["1.28.5-asm.9"]).minor == 20   # below 1.29-1.34
    assert kube_support.unsupported_for(["1.7.3-asm.3"]).minor == 20    # above 1.16-1.18
    assert kube_support.unsupported_for(["1.7.3-asm.3", "1.28.5-asm.9"]).minor == 20


def _istiod(core: client.CoreV1Api, revision: str) -> client.V1Pod:
    selector = f"app=istiod,istio.io/rev={revision}"
    pods = core.list_namespaced_pod("istio-system", label_selector=selector).items
    assert len(pods) == 1, [p.metadata.name for p in pods]
    return pods[0]


def test_istiod_reader_rbac_missing_leaves_the_newest_istiod_unready_and_says_why(tmp_path_factory):
    env = start_lab(
        tmp_path_factory, clusters=2, cluster_revisions=(("cluster-1", (OLD, NEW)),),
        faults=("istiod-reader-rbac-missing:cluster-1",), ready_delay=0.05,
    )
    try:
        rbac, core = client.RbacAuthorizationV1Api(env.api(0)), client.CoreV1Api(env.api(0))
        names = {b.metadata.name for b in rbac.list_cluster_role_binding().items}
        assert f"istiod-clusterrole-{NEW}-istio-system" not in names
        assert f"istiod-clusterrole-{OLD}-istio-system" in names  # the old revision keeps its own
        deadline = time.monotonic() + 10  # the recreated pod is scheduled and started like any other
        while time.monotonic() < deadline and not all(
            _istiod(core, rev).status.phase == "Running" for rev in (OLD, NEW)
        ):
            time.sleep(0.05)
        new, old = _istiod(core, NEW), _istiod(core, OLD)
        assert new.status.phase == "Running" and not new.status.container_statuses[0].ready
        assert old.status.container_statuses[0].ready
        log = core.read_namespaced_pod_log(new.metadata.name, "istio-system", container="discovery")
        user = f"system:serviceaccount:istio-system:istiod-{NEW}"
        assert f'User "{user}" cannot list resource "services"' in log
    finally:
        env.stop()
