"""istiod's remote-secret controller: really parses each kubeconfig and calls the peer API server.

Outcomes (synced, wrong CA, wrong server, bad token, forbidden, local ID, duplicate ID) are read
where the suite reads them: /debug/clusterz through `pilot-discovery request` and istiod's log.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml
from kubernetes import client
from sim_support import SYNC_TIMEOUT, Mesh, start
from support import pod_states, tail, until

from meshconform.lab.istio.pki import RootCA
from meshconform.lab.istio.remote_secret_exchange import dead_server, kubeconfig, remote_secret

ISTIOD_SECONDS = 10.0  # a new istiod pod rolled out and Ready (ready_delay 0.1 s), on a loaded machine


def _log(mesh: Mesh, i: int) -> str:
    return str(mesh.core(i).read_namespaced_pod_log(mesh.istiod(i).metadata.name, "istio-system",
                                                    container="discovery"))


def test_joined_lab_is_synced_both_ways_with_istioctl_shaped_secrets(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    mesh = start(tmp_path_factory, clusters=3, joined=True)
    try:
        # istiod connects to each peer in the background, as the real controller does: a loaded
        # machine may still show "syncing" right after start, so wait for the settled state.
        for i, me in enumerate(("cluster-1", "cluster-2", "cluster-3")):
            mesh.wait_statuses(i, {c: "synced" for c in ("cluster-1", "cluster-2", "cluster-3") if c != me})
        for i, me in enumerate(("cluster-1", "cluster-2", "cluster-3")):
            z = mesh.clusterz(i)
            assert z[0] == {"id": me, "secretName": "", "syncStatus": "synced"}
            others = {e["id"]: e for e in z[1:]}
            assert set(others) == {"cluster-1", "cluster-2", "cluster-3"} - {me}
            for cid, e in others.items():
                assert e == {
                    "id": cid,
                    "secretName": f"istio-system/istio-remote-secret-{cid}",
                    "syncStatus": "synced",
                }
        s = mesh.core(1).read_namespaced_secret("istio-remote-secret-cluster-1", "istio-system")
        assert s.metadata.labels == {"istio/multiCluster": "true"}
        assert s.metadata.annotations["networking.istio.io/cluster"] == "cluster-1"
        kc = yaml.safe_load(base64.b64decode(s.data["cluster-1"]))
        assert kc["current-context"] == "cluster-1"
        assert kc["clusters"][0]["cluster"]["server"] == mesh.cluster(0).server_url
        assert (
            base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"])
            == mesh.cluster(0).ca_pem
        )
        assert kc["users"][0]["user"]["token"]
        log = _log(mesh, 1)
        assert "Adding cluster cluster-1 from secret istio-system/istio-remote-secret-cluster-1" in log
        assert kc["users"][0]["user"]["token"] not in log
    finally:
        mesh.stop()


def _reader_token(mesh: Mesh, i: int, sa: str = "istio-reader-service-account") -> str:
    from kubernetes import client

    req = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    return str(mesh.core(i).create_namespaced_service_account_token(sa, "istio-system", req).status.token)


def test_each_kind_of_bad_secret_fails_as_istiod_would(tmp_path_factory: pytest.TempPathFactory) -> None:
    mesh = start(tmp_path_factory, clusters=2)
    try:
        one = mesh.cluster(0)
        good, ca = _reader_token(mesh, 0), one.ca_pem.decode()
        mesh.core(0).create_namespaced_service_account("istio-system", {"metadata": {"name": "nobody"}})
        cases = {
            "cluster-1": (one.server_url, ca, good),
            "bad-ca": (one.server_url, RootCA("other").pem, good),
            "bad-server": (dead_server(), ca, good),
            "bad-token": (one.server_url, ca, "not-a-token"),
            "forbidden": (one.server_url, ca, _reader_token(mesh, 0, "nobody")),
            "cluster-2": (one.server_url, ca, good),  # claims the local cluster's own ID
        }
        for cid, (server, cadata, token) in cases.items():
            body = remote_secret(cid, kubeconfig(cid, server, cadata, token))
            mesh.core(1).create_namespaced_secret("istio-system", body)
        dup = remote_secret("cluster-1", kubeconfig("cluster-1", one.server_url, ca, good))
        dup["metadata"]["name"] = "istio-remote-secret-again"
        mesh.core(1).create_namespaced_secret("istio-system", dup)
        mesh.wait_statuses(1, {
            "cluster-1": "synced",
            "bad-ca": "timeout",
            "bad-server": "timeout",
            "bad-token": "timeout",
            "forbidden": "timeout",
        })
        log = _log(mesh, 1)
        assert "x509: certificate signed by unknown authority" in log
        assert "connect: connection refused" in log
        assert "Failed to list *v1.Namespace: Unauthorized" in log
        assert 'cannot list resource "namespaces"' in log
        assert "ignoring cluster cluster-2 from secret istio-system/istio-remote-secret-cluster-2" in log
        assert "from secret istio-system/istio-remote-secret-again has already been registered" in log
        assert "remote cluster bad-ca failed to sync after" in log
        mesh.core(1).delete_namespaced_secret("istio-remote-secret-bad-ca", "istio-system")
        until(lambda: mesh.sync_statuses(1), lambda seen: "bad-ca" not in seen, SYNC_TIMEOUT,
              "bad-ca to leave clusterz once its secret is deleted")
    finally:
        mesh.stop()


def test_kubeconfig_that_does_not_parse_is_not_added(tmp_path_factory: pytest.TempPathFactory) -> None:
    mesh = start(tmp_path_factory, clusters=2)
    try:
        body = remote_secret("broken", "current-context: nowhere\n")
        mesh.core(1).create_namespaced_secret("istio-system", body)
        # The refusal in the log says the controller has read the secret; only then does its
        # absence from clusterz show that it was not added.
        refusal = "context was not found for specified context: nowhere"
        until(lambda: _log(mesh, 1), lambda log: refusal in log, SYNC_TIMEOUT,
              "istiod's refusal of the kubeconfig that does not parse", show=tail)
        assert "broken" not in mesh.sync_statuses(1)
    finally:
        mesh.stop()


def test_join_faults_bend_exactly_their_pair(tmp_path_factory: pytest.TempPathFactory) -> None:
    faults = (
        "no-secret:cluster-1->cluster-2",
        "stale-secret:cluster-2->cluster-3",
        "api-unreachable-from:cluster-4->cluster-3",
        "reader-rbac-missing:cluster-4",
    )
    mesh = start(tmp_path_factory, clusters=4, faults=faults)
    try:
        mesh.wait_statuses(0, {"cluster-2": "synced", "cluster-3": "synced", "cluster-4": "timeout"})
        mesh.wait_statuses(1, {"cluster-3": "synced", "cluster-4": "timeout"})
        mesh.wait_statuses(2, {"cluster-1": "synced", "cluster-2": "timeout", "cluster-4": "timeout"})
        mesh.wait_statuses(3, {"cluster-1": "synced", "cluster-2": "synced", "cluster-3": "timeout"})
        stale = mesh.core(2).read_namespaced_secret("istio-remote-secret-cluster-2", "istio-system")
        kc = yaml.safe_load(base64.b64decode(stale.data["cluster-2"]))
        assert kc["clusters"][0]["cluster"]["server"] != mesh.cluster(1).server_url
        assert "i/o timeout" in _log(mesh, 3)
        from kubernetes import client

        names = [
            b.metadata.name
            for b in client.RbacAuthorizationV1Api(mesh.api(3)).list_cluster_role_binding().items
        ]
        assert "istio-reader-clusterrole-asm-173-3-istio-system" not in names
    finally:
        mesh.stop()


def test_duplicate_cluster_name(tmp_path_factory: pytest.TempPathFactory) -> None:
    mesh = start(tmp_path_factory, clusters=2, faults=("duplicate-cluster-name",))
    try:
        s = mesh.core(1).read_namespaced_secret("istio-remote-secret-cluster-2", "istio-system")
        kc = yaml.safe_load(base64.b64decode(s.data["cluster-2"]))
        assert kc["clusters"][0]["cluster"]["server"] == mesh.cluster(0).server_url  # cluster-1's API
        mesh.wait_statuses(0, {"cluster-2": "synced"})
        until(lambda: _log(mesh, 1), lambda log: "as it would overwrite the local cluster" in log,
              SYNC_TIMEOUT, "cluster-2's istiod to refuse the secret that names its own cluster", show=tail)
        assert mesh.sync_statuses(1) == {}
    finally:
        mesh.stop()


def test_clusterz_follows_the_istiod_version(tmp_path_factory: pytest.TempPathFactory) -> None:
    """/debug/clusterz came with Istio 1.11 (istio/istio#33804): the guide's ASM 1.7 istiod answers
    it as any unknown debug path, 404, which `pilot-discovery request` prints with exit 0
    (pilot/pkg/request/command.go: an error only for `StatusCode > 399 && StatusCode != 404`);
    a current one lists its clusters."""
    mesh = start(tmp_path_factory, clusters=1, revisions=("asm-173-3", "asm-1285-9"))
    try:
        argv = ["pilot-discovery", "request", "GET", "/debug/clusterz"]
        old = mesh.istiod(0, "asm-173-3").metadata.name
        out, err, code = mesh.exec(0, old, "discovery", argv, "istio-system")
        assert (out, err, code) == ("404 page not found\n\n", "", 0), (out, err, code)
        new = mesh.istiod(0, "asm-1285-9").metadata.name
        out, err, code = mesh.exec(0, new, "discovery", argv, "istio-system")
        local = {"id": "cluster-1", "secretName": "", "syncStatus": "synced"}
        assert code == 0 and json.loads(out) == [local], (out, err)
    finally:
        mesh.stop()


def test_debug_endpoints_off_answer_clusterz_404_on_a_current_istiod(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """ENABLE_DEBUG_ON_HTTP=false (Istio 1.10+, pilot/pkg/xds/debug.go AddDebugHandlers returns
    before registering any /debug handler): a current istiod then answers /debug/clusterz as an old
    one does, 404 printed with exit 0. Set on the Deployment, it reaches the pods it rolls out."""
    mesh = start(tmp_path_factory, clusters=1)
    try:
        old = mesh.istiod(0).metadata.name
        env = [{"name": "ENABLE_DEBUG_ON_HTTP", "value": "false"}]
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "discovery", "env": env}]}}}}
        apps = client.AppsV1Api(mesh.api(0))
        apps.patch_namespaced_deployment("istiod-asm-1285-9", "istio-system", patch)

        def rolled(pods: list[Any]) -> list[Any]:
            new = [p for p in pods if p.metadata.name != old]
            return [p for p in new if any(c.ready for c in p.status.container_statuses or [])]

        pods = until(lambda: mesh.pods(0, "istio-system", "app=istiod"), lambda pods: bool(rolled(pods)),
                     ISTIOD_SECONDS, "a new istiod pod, Ready, after the env change", show=pod_states)
        ready = rolled(pods)
        argv = ["pilot-discovery", "request", "GET", "/debug/clusterz"]
        out, err, code = mesh.exec(0, ready[0].metadata.name, "discovery", argv, "istio-system")
        assert (out, err, code) == ("404 page not found\n\n", "", 0), (out, err, code)
    finally:
        mesh.stop()
