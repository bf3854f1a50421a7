"""The lab serves remote secrets as real tools make them, and istiod takes each; identities are real.

istioctl 1.6 annotated istio.io/clusterContext (options.go at 1.6.8), 1.7+ networking.istio.io/cluster;
Helm, Terraform and hand-made secrets carry none; istioctl without --name names the cluster after
kube-system's UID; a secret may name another address of the same API server. Each kube-system
namespace has its own UID, the same on every read, and reading it through a secret's own server,
CA and token (meshconform/mesh/cluster_identity.py) gives the UID of the cluster that secret reaches.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sim_support import SYNC_TIMEOUT, Mesh, start
from support import tail, until

from meshconform.mesh import cluster_identity


def _secret(mesh: Mesh, i: int, name: str) -> Any:
    return mesh.core(i).read_namespaced_secret(name, "istio-system")


def _kubeconfig(secret: Any, key: str) -> dict[str, Any]:
    return yaml.safe_load(base64.b64decode(secret.data[key]))  # type: ignore[no-any-return]


def _uid(mesh: Mesh, i: int) -> str:
    return str(mesh.core(i).read_namespace("kube-system").metadata.uid)


def _entries(mesh: Mesh, i: int, name: str) -> list[cluster_identity.Entry]:
    raw = mesh.core(i).read_namespaced_secret(name, "istio-system")
    found = cluster_identity.entries({"metadata": {"name": name}, "data": raw.data})
    for e in found:
        cluster_identity.read_identity(e)
    return found


def test_kube_system_uids_exist_differ_and_stay(tmp_path_factory: pytest.TempPathFactory) -> None:
    mesh = start(tmp_path_factory, clusters=3)
    try:
        first = [_uid(mesh, i) for i in range(3)]
        assert all(first) and len(set(first)) == 3
        assert [_uid(mesh, i) for i in range(3)] == first
    finally:
        mesh.stop()


def test_each_healthy_shape_is_served_and_synced(tmp_path_factory: pytest.TempPathFactory) -> None:
    faults = (
        "secret-unannotated:cluster-1->cluster-2",
        "secret-renamed:cluster-2->cluster-1",
        "secret-other-address:cluster-1->cluster-3",
        "duplicate-secret:cluster-3->cluster-1",
    )
    mesh = start(tmp_path_factory, clusters=3, faults=faults)
    try:
        uid1, uid2, uid3 = (_uid(mesh, i) for i in range(3))
        bare = _secret(mesh, 1, "istio-remote-secret-cluster-1")
        assert bare.metadata.annotations is None and bare.metadata.labels == {"istio/multiCluster": "true"}
        renamed = _secret(mesh, 0, f"istio-remote-secret-{uid2}")
        assert list(renamed.data) == [uid2] and _kubeconfig(renamed, uid2)["current-context"] == uid2
        private = _kubeconfig(_secret(mesh, 2, "istio-remote-secret-cluster-1"), "cluster-1")
        server = private["clusters"][0]["cluster"]["server"]
        one = urlsplit(mesh.cluster(0).server_url)
        assert (urlsplit(server).hostname, urlsplit(server).port) == ("127.0.0.2", one.port)
        assert {"istio-remote-secret-cluster-3", f"istio-remote-secret-{uid3}"} <= {
            s.metadata.name for s in mesh.core(0).list_namespaced_secret("istio-system").items
        }
        mesh.wait_statuses(0, {uid2: "synced", "cluster-3": "synced", uid3: "synced"})
        mesh.wait_statuses(1, {"cluster-1": "synced", "cluster-3": "synced"})
        mesh.wait_statuses(2, {"cluster-1": "synced", "cluster-2": "synced"})
        (through_alias,) = _entries(mesh, 2, "istio-remote-secret-cluster-1")
        assert (through_alias.uid, through_alias.unknown) == (uid1, None)
    finally:
        mesh.stop()


def test_istioctl_1_6_shape_when_the_lab_runs_asm_1_6(tmp_path_factory: pytest.TempPathFactory) -> None:
    """1.6.8's createRemoteServiceAccountSecret: annotation istio.io/clusterContext=<context>, the
    kubeconfig's cluster/context/user named after that context, the data key after --name."""
    mesh = start(tmp_path_factory, clusters=2, joined=True, revisions=("asm-168-9",))
    try:
        s = _secret(mesh, 1, "istio-remote-secret-cluster-1")
        context = mesh.cluster(0).context
        assert s.metadata.annotations == {"istio.io/clusterContext": context}
        kc = _kubeconfig(s, "cluster-1")
        assert kc["current-context"] == context and kc["clusters"][0]["name"] == context
        istiod = mesh.istiod(1).metadata.name  # 1.6 has no /debug/clusterz: its log says it
        until(
            lambda: mesh.core(1).read_namespaced_pod_log(istiod, "istio-system", container="discovery"),
            lambda log: "remote cluster cluster-1 informers synced" in log,
            SYNC_TIMEOUT, "cluster-2's istiod 1.6 to log that cluster-1 synced", show=tail,
        )
    finally:
        mesh.stop()


def test_identity_is_read_with_the_secrets_own_token(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Istio's reader role may get namespaces (reader-clusterrole.yaml at 1.28.5, the base chart's
    istio-reader at 1.7.3): the UID comes back; without its binding, 403, and the reason is kept."""
    mesh = start(tmp_path_factory, clusters=3, faults=("reader-rbac-missing:cluster-1",))
    try:
        (readable,) = _entries(mesh, 0, "istio-remote-secret-cluster-2")
        assert (readable.uid, readable.unknown) == (_uid(mesh, 1), None)
        (refused,) = _entries(mesh, 1, "istio-remote-secret-cluster-1")
        assert refused.uid is None
        assert refused.unknown == "its token may not get namespace kube-system (403 Forbidden)"
    finally:
        mesh.stop()
