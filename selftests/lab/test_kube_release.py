"""The Kubernetes release each lab cluster runs: one its Istio supports, reported as a real one is.

/version has the shape of k8s.io/apimachinery/pkg/version.Info at that release (1.33 adds the
emulation and min-compatibility fields), the node's kubelet and OpenAPI's info carry the same
gitVersion, and `LabCluster.set_release` moves them all (what a fault builds on).
"""

from __future__ import annotations

import pytest
from kubernetes import client
from labapi_support import start_lab

from meshconform.lab.apiserver import kube_release
from meshconform.lab.istio import kube_support


@pytest.mark.parametrize(
    ("tags", "minor"),
    [
        (["1.28.5-asm.9"], 33),          # a current CSM: Istio 1.28 supports 1.29-1.34
        (["1.7.3-asm.3"], 18),           # the guide's ASM 1.7: 1.16-1.18
        (["1.6.8-asm.9"], 18),
        (["1.10.2-asm.3"], 20),          # 1.18-1.21: the newest the lab has is 1.20
        (["1.7.3-asm.3", "1.8.1"], 18),  # both support 1.18
        (["1.7.3-asm.3", "1.28.5"], 33),  # nothing in common: the newest revision decides
        (["latest"], 33),                # an unversioned tag counts as current
    ],
)
def test_release_for_a_clusters_revisions(tags, minor):
    assert kube_support.release_for(tags).minor == minor


def test_every_release_the_table_picks_is_supported_by_its_istio():
    for istio_minor, kube in kube_support.SUPPORTED_KUBERNETES.items():
        assert kube_support.release_for([f"1.{istio_minor}.0"]).minor in kube or not (
            set(kube) & set(kube_release.RELEASES)
        )


def test_version_info_shapes():
    v133 = kube_release.release(33).version_info()
    assert (v133["major"], v133["minor"], v133["emulationMinor"], v133["minCompatibilityMinor"]) == (
        "1", "33", "33", "32",
    )
    assert v133["gitVersion"].startswith("v1.33.") and "-gke." in v133["gitVersion"]
    v118 = kube_release.release(18).version_info()
    assert "emulationMajor" not in v118 and v118["minor"] == "18"
    assert kube_release.parse("1.29.4-gke.1043002").version_info()["minor"] == "29"
    with pytest.raises(ValueError):
        kube_release.parse("2.0")


def _node_kubelet(api: client.ApiClient) -> str:
    return str(client.CoreV1Api(api).list_node().items[0].status.node_info.kubelet_version)


def test_served_version_follows_the_revision_and_set_release(tmp_path_factory):
    env = start_lab(
        tmp_path_factory, clusters=2, cluster_revisions=(("cluster-2", ("asm-173-3",)),), ready_delay=0.05
    )
    try:
        current, guide = env.api(0), env.api(1)
        assert client.VersionApi(current).get_code().git_version.startswith("v1.33.")
        assert client.VersionApi(guide).get_code().git_version.startswith("v1.18.")
        assert _node_kubelet(current).startswith("v1.33.") and _node_kubelet(guide).startswith("v1.18.")
        assert env.json("GET", "/openapi/v2")[1]["info"]["version"].startswith("v1.33.")
        old = kube_release.release(20)
        env.lab.call(env.lab.cluster("cluster-1").set_release, old)
        assert client.VersionApi(current).get_code().minor == "20"
        assert _node_kubelet(current) == old.git_version
        assert env.json("GET", "/openapi/v2")[1]["info"]["version"] == old.git_version
    finally:
        env.stop()
