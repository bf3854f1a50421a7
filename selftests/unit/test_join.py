"""Remote secrets: the istioctl shape, kubeconfig parsing, validation messages, clusterz parsing."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
import types

import pytest
import trustme
import yaml

from meshconform.checks import join, statistics
from meshconform.kube import client, errors
from meshconform.mesh import remote_secrets, secret_inspection
from meshconform.mesh.facts import ClusterFacts, ControlPlane, IstiodPod, IstiodSync, MeshFacts, RemoteSecret
from meshconform.run import pipeline

TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def secret(name="cluster-1", server="https://10.0.0.1", ca=b"CA", token=TOKEN):
    return remote_secrets.build_remote_secret(
        name, server, ca, token, labels={"app.kubernetes.io/managed-by": "meshconform"}
    )


def test_shape_is_what_istioctl_emits():
    s = secret()
    assert s["metadata"]["name"] == "istio-remote-secret-cluster-1"
    assert s["metadata"]["namespace"] == "istio-system"
    assert s["metadata"]["annotations"] == {"networking.istio.io/cluster": "cluster-1"}
    assert s["metadata"]["labels"]["istio/multiCluster"] == "true"
    assert list(s["stringData"]) == ["cluster-1"]
    kc = yaml.safe_load(s["stringData"]["cluster-1"])
    assert kc["current-context"] == "cluster-1"
    assert kc["clusters"] == [
        {
            "name": "cluster-1",
            "cluster": {
                "certificate-authority-data": base64.b64encode(b"CA").decode(),
                "server": "https://10.0.0.1",
            },
        }
    ]
    assert kc["contexts"] == [{"name": "cluster-1", "context": {"cluster": "cluster-1", "user": "cluster-1"}}]
    assert kc["users"] == [{"name": "cluster-1", "user": {"token": TOKEN}}]


def test_parse_kubeconfig_round_trip():
    kc = secret_inspection.parse_kubeconfig(secret()["stringData"]["cluster-1"])
    assert (
        kc["server"] == "https://10.0.0.1"
        and kc["ca"] == b"CA"
        and kc["token"] == TOKEN
        and kc["auth"] == "token"
    )


def test_parse_kubeconfig_rejects_garbage():
    with pytest.raises(ValueError):
        secret_inspection.parse_kubeconfig("just text")


def shape_problem(s):
    """The shape verdict on what inspection saw of `s` (nothing past the shape is asked)."""
    source = types.SimpleNamespace(name="cluster-1", server="https://10.0.0.1")
    seen = secret_inspection.inspect(s, None, secret_inspection.Reached(), source, "", "sample")
    return join.shape_problem(seen, "cluster-2")


def test_shape_problems_are_what_istiod_reads(monkeypatch):
    """istiod selects on the label and registers each data key (secretcontroller.go): the
    annotation and the key's name are not its business, so they are no problem here."""
    monkeypatch.setattr(secret_inspection, "_leads_to", lambda *a: False)  # no network here
    s = secret()
    assert shape_problem(s) is None
    s["metadata"]["labels"].pop("istio/multiCluster")
    assert "lacks label istio/multiCluster=true" in shape_problem(s)
    s = secret()
    s["metadata"]["annotations"]["networking.istio.io/cluster"] = "other"
    assert shape_problem(s) is None
    s["stringData"] = {"cluster-9": "x"}
    assert shape_problem(s) is None
    s["stringData"] = {}
    assert "has no data key" in shape_problem(s)


def test_decode_data_reads_base64_data_and_string_data():
    s = {"data": {"a": base64.b64encode(b"one").decode()}, "stringData": {"b": "two"}}
    assert remote_secrets.decode_data(s) == {"a": "one", "b": "two"}


def test_fingerprint_hides_the_value():
    fp = remote_secrets.fingerprint(TOKEN)
    assert fp.startswith("sha256:") and TOKEN not in fp and len(fp) == 23


def test_ownership():
    assert remote_secrets.owned(
        {
            "metadata": {
                "labels": {"app.kubernetes.io/managed-by": "meshconform", "meshconform.io/run-id": "r1"}
            }
        },
        "r1",
    )
    assert not remote_secrets.owned({"metadata": {"labels": {"app.kubernetes.io/managed-by": "meshconform"}}})
    assert not remote_secrets.owned({"metadata": {}})


@pytest.fixture(scope="module")
def tls_server():
    """A TLS server on loopback whose certificate a trustme CA signed for 127.0.0.1."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{sock.getsockname()[1]}", ca.cert_pem.bytes()
    stop.set()
    thread.join()
    sock.close()


def test_tls_verify_accepts_the_right_ca(tls_server):
    server, ca = tls_server
    assert secret_inspection.tls_verify(server, ca) is None


def test_tls_verify_names_a_wrong_ca(tls_server):
    server, _ = tls_server
    problem = secret_inspection.tls_verify(server, trustme.CA().cert_pem.bytes())
    assert problem and "unable to get local issuer certificate" in problem


def _closed_port() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return f"https://127.0.0.1:{port}"


def test_tls_verify_says_when_the_server_does_not_answer_this_machine():
    """A closed port is no verdict on the CA: it is told apart from a failed verification."""
    with pytest.raises(secret_inspection.NotReachableFromHere):
        secret_inspection.tls_verify(_closed_port(), trustme.CA().cert_pem.bytes())


def test_the_ca_is_checked_against_the_server_the_secret_names(tls_server, monkeypatch):
    """Behind an authenticating proxy the user's kubeconfig names the proxy (another CA); the secret
    names the API server istiod dials (--api-server), and its CA is checked there."""
    server, ca = tls_server
    monkeypatch.setattr(secret_inspection, "reader_denied", lambda *a: None)
    proxy = types.SimpleNamespace(name="cluster-1", server=_closed_port())
    s = remote_secrets.build_remote_secret("cluster-1", server, ca, TOKEN)
    seen = secret_inspection.inspect(s, "cluster-1", secret_inspection.Reached(), proxy, server, "sample")
    assert seen.ca_verified is True and seen.ca_error is None and seen.server_unreachable is None, seen
    assert join.targets_problem(seen, "cluster-1", "cluster-2", "ctx") is None


def test_a_wrong_ca_is_seen_and_judged_stale(tls_server, monkeypatch):
    """The handshake's own error is the evidence; the verdict names the secret and says recreate it."""
    server, _ = tls_server
    monkeypatch.setattr(secret_inspection, "reader_denied", lambda *a: pytest.fail("token asked"))
    source = types.SimpleNamespace(name="cluster-1", server=server)
    s = remote_secrets.build_remote_secret("cluster-1", server, trustme.CA().cert_pem.bytes(), TOKEN)
    seen = secret_inspection.inspect(s, "cluster-1", secret_inspection.Reached(), source, server, "sample")
    assert seen.ca_verified is False and "unable to get local issuer certificate" in (seen.ca_error or "")
    problem = join.targets_problem(seen, "cluster-1", "cluster-2", "ctx") or ""
    assert problem.startswith(
        f"Secret istio-system/istio-remote-secret-cluster-1 in cluster-2: its CA does not verify "
        f"cluster-1's API server {server} (unable to get local issuer certificate"
    ), problem
    assert "the secret is stale: recreate it (its cluster identity could not be read through it" in problem


def _unverified_facts(status):
    fact = RemoteSecret(name="istio-remote-secret-cluster-1", present=True, cluster_id="cluster-1")
    fact.server = fact.expected_server = "https://10.0.0.1"
    fact.ca_fingerprint = "sha256:x"
    fact.server_unreachable = "ConnectionRefusedError connecting to 10.0.0.1:443"
    names = ("cluster-1", "cluster-2")
    clusters = {n: ClusterFacts(name=n, context=n, server="https://" + n) for n in names}
    entries = [{"id": "cluster-1", "syncStatus": status}] if status else []
    clusters["cluster-2"].istiod_sync = IstiodSync("istiod-x", "1.28.5", entries)
    facts = MeshFacts(run_id="r", namespace="sample", revision="rev", clusters=clusters)
    facts.pairs["cluster-1->cluster-2"] = fact
    return facts


@pytest.mark.parametrize(
    ("status", "verdict"), [("synced", "passed"), ("timeout", "failed"), (None, "failed")]
)
def test_a_secret_this_machine_cannot_reach_is_judged_by_istiods_view(status, verdict):
    """Unreachable from the runner (a private endpoint): istiod syncing A through it passes the
    check; otherwise it cannot be judged, which fails the run with the reason and the remedy."""
    outcome = join.secret_targets.evaluate
    facts = _unverified_facts(status)
    if verdict == "passed":
        assert outcome(facts, "cluster-1->cluster-2") is None
    else:
        with pytest.raises(statistics.Inconclusive, match="which does not answer this machine"):
            outcome(facts, "cluster-1->cluster-2")


def test_sync_problem_from_clusterz():
    entries = [
        {
            "id": "cluster-1",
            "secretName": "istio-system/istio-remote-secret-cluster-1",
            "syncStatus": "synced",
        },
        {
            "id": "cluster-3",
            "secretName": "istio-system/istio-remote-secret-cluster-3",
            "syncStatus": "timeout",
        },
    ]
    seen = IstiodSync("istiod-x", "1.28.5", entries)
    assert join.sync_problem(seen, "cluster-1", "cluster-2") is None
    problem = join.sync_problem(seen, "cluster-3", "cluster-2") or ""
    assert "reports cluster-3 as 'timeout', not synced" in problem
    problem = join.sync_problem(seen, "cluster-4", "cluster-2") or ""
    assert "does not list cluster cluster-4" in problem
    listed = "(lists: cluster-1=synced, cluster-3=timeout); it has not loaded istio-remote-secret-cluster-4"
    assert listed in problem


def test_istioctl_secret_gets_our_labels(monkeypatch):
    from meshconform.mesh import istioctl

    seen = {}

    def fake(context, name, kubeconfig, server):
        seen.update(context=context, name=name, kubeconfig=kubeconfig, server=server)
        return secret(name=name)

    class Source:
        context, name = "gke_p_z_cluster-1", "cluster-1"

    monkeypatch.setattr(istioctl, "create_remote_secret", fake)
    s = remote_secrets.istioctl_secret(Source(), "https://1.2.3.4", "/kc", {"meshconform.io/run-id": "r1"})
    assert seen == {
        "context": "gke_p_z_cluster-1",
        "name": "cluster-1",
        "kubeconfig": "/kc",
        "server": "https://1.2.3.4",
    }
    assert s["metadata"]["labels"]["meshconform.io/run-id"] == "r1"
    assert s["metadata"]["labels"]["istio/multiCluster"] == "true"


def test_istioctl_failure_is_one_line(monkeypatch):
    from meshconform.mesh import istioctl

    def fail(*args):
        raise istioctl.IstioctlError("istioctl is not on PATH; install it or use --join-with native")

    class Source:
        context, name = "ctx", "cluster-1"

    monkeypatch.setattr(istioctl, "create_remote_secret", fail)
    with pytest.raises(remote_secrets.JoinFailed, match="istioctl is not on PATH"):
        remote_secrets.istioctl_secret(Source(), None, None, {})


class _Istiod:
    """A cluster whose istiod answers `pilot-discovery request GET /debug/clusterz` as given."""

    name = "cluster-2"

    def __init__(self, stdout: str, stderr: str = "", exit_code: int = 0) -> None:
        self.result = client.ExecResult(stdout, stderr, exit_code)
        self.calls = 0

    def exec_with_retry(self, *args, **kwargs):
        self.calls += 1
        return self.result


# What `pilot-discovery request GET /debug/clusterz` prints on an istiod without the endpoint:
# pilot/pkg/request/command.go Do (1.6.8 ... 1.28.5) errors only for `StatusCode > 399 &&
# StatusCode != 404`, so the 404 body (Go's http.NotFound) is printed by fmt.Println, exit 0.
NOT_FOUND_PRINTED = "404 page not found\n\n"


def test_clusterz_of_an_istiod_older_than_1_11_is_not_served():
    """ASM 1.6.8-1.10 istiod has no /debug/clusterz: pilot-discovery request prints the 404 body and
    exits 0. The suite must not poll it for the whole ready timeout nor fail the sync check on it:
    it says the status cannot be known."""
    old = _Istiod(NOT_FOUND_PRINTED)
    with pytest.raises(secret_inspection.ClusterzMissing):
        secret_inspection.clusterz(old, "istiod-asm-173-3-abc")
    cfg, old.calls = types.SimpleNamespace(ready_timeout=30.0), 0
    started = time.monotonic()
    result = pipeline._poll_clusterz(cfg, old, "istiod-x", ["cluster-1"], threading.Event())
    assert isinstance(result, secret_inspection.ClusterzMissing) and old.calls == 1
    assert time.monotonic() - started < 5
    note = join.no_clusterz_note("cluster-2", "istiod-asm-173-3-5d4f8c7b9-x2x7q", "1.7.3-asm.6")
    assert "runs 1.7.3-asm.6, which has no /debug/clusterz (Istio 1.11 added it)" in note


def test_clusterz_body_without_remote_clusters_is_json_null():
    """writeJSON of a nil []cluster.DebugInfo (1.11-1.13 ListRemoteClusters, no secrets yet) is `null`."""
    assert secret_inspection.clusterz(_Istiod("null\n"), "istiod-x") == []
    for status in (400, 403, 503):  # every error status but 404 exits 1 with the status in stderr
        other = _Istiod("", f"Error: received unsuccessful status code {status}: \n", 1)
        with pytest.raises(errors.ExecFailed) as caught:
            secret_inspection.clusterz(other, "istiod-x")
        assert not isinstance(caught.value, secret_inspection.ClusterzMissing)


def test_a_body_that_merely_mentions_404_is_not_the_not_found_page():
    """Only http.NotFound's exact body is the missing endpoint; anything else non-JSON is an error."""
    with pytest.raises(ValueError):
        secret_inspection.clusterz(_Istiod("<html>404 page not found, try /debug</html>\n"), "istiod-x")


def _sync_facts(version: str) -> MeshFacts:
    """cluster-2's ready istiod at `version`, holding cluster-1's remote secret."""
    facts = MeshFacts(run_id="r1", namespace="sample", revision="rev")
    for name in ("cluster-1", "cluster-2"):
        pod = IstiodPod(f"istiod-rev-5d4f8c7b9-{name[-1]}x2x", "rev", True, "Running", "pilot", version)
        control = ControlPlane(istiod=[pod])
        facts.clusters[name] = ClusterFacts(name, f"ctx-{name}", "https://x", control=control)
    facts.pairs["cluster-1->cluster-2"] = RemoteSecret("istio-remote-secret-cluster-1", present=True)
    return facts


@pytest.mark.parametrize(
    ("version", "skipped"), [("1.7.3-asm.3", True), ("1.10.6-asm.2", True), ("1.28.5-asm.9", False)]
)
def test_a_404_from_clusterz_is_excused_only_for_an_istiod_before_1_11(version, skipped):
    """A 1.11+ istiod serves /debug/clusterz; its 404 (debug endpoints off) is not "too old"."""
    facts = _sync_facts(version)
    target = _Istiod(NOT_FOUND_PRINTED)
    source = types.SimpleNamespace(name="cluster-1")
    cfg = types.SimpleNamespace(ready_timeout=30.0)
    pipeline.gather_sync(cfg, [source, target], facts, threading.Event())
    seen = facts.clusters["cluster-2"].istiod_sync
    assert seen is not None and seen.missing and seen.entries == [] and seen.version == version, seen
    if skipped:  # the endpoint is absent on an istiod < 1.11: the check does not apply
        with pytest.raises(statistics.NotApplicable, match="has no /debug/clusterz"):
            join.istiod_synced.evaluate(facts, "cluster-1->cluster-2")
    else:  # absent on 1.11+: its debug endpoints are off, the sync status cannot be read
        with pytest.raises(statistics.Inconclusive) as caught:
            join.istiod_synced.evaluate(facts, "cluster-1->cluster-2")
        assert f"runs {version} yet answers /debug/clusterz with 404" in str(caught.value)
        assert "ENABLE_DEBUG_ON_HTTP" in str(caught.value)


def test_the_sync_stage_keeps_every_cluster_istiod_registers_and_names_those_not_under_test():
    """clusterz lists the config cluster (no secret) and each remote one; a cluster of the mesh
    the run was not given is kept as outside, with the istiod that registers it."""
    facts = _sync_facts("1.28.5-asm.9")
    listed = [
        {"id": "cluster-2", "secretName": "", "syncStatus": "synced"},
        {"id": "cluster-1", "secretName": "istio-remote-secret-cluster-1", "syncStatus": "synced"},
        {"id": "cluster-9", "secretName": "istio-remote-secret-cluster-9", "syncStatus": "synced"},
    ]
    target = _Istiod(json.dumps(listed, indent=2) + "\n")
    cfg = types.SimpleNamespace(ready_timeout=30.0)
    pipeline.gather_sync(cfg, [types.SimpleNamespace(name="cluster-1"), target], facts, threading.Event())
    assert facts.clusters["cluster-2"].istiod_remotes == ["cluster-1", "cluster-9"]
    assert facts.outside == {"cluster-9": ["cluster-2"]}
    assert join.sync_status(facts, "cluster-1->cluster-2") == "synced"


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_a_remote_secrets_kubeconfig_is_written_by_libyaml_the_same_as_by_pyyaml(monkeypatch):
    """One kubeconfig per ordered pair: PyYAML's pure-Python emitter spent ~7 ms on each (2.9 s of
    CPU at 20 clusters); libyaml's writes the same text."""
    ca, token = bytes(range(256)) * 5, "eyJ" + "x" * 900
    expected = yaml.safe_dump(
        yaml.load(
            remote_secrets.build_kubeconfig("cluster-1", "https://10.0.0.1", ca, token),
            Loader=yaml.CSafeLoader,
        ),
        sort_keys=True,
    )

    def pure_python(*args, **kwargs):
        raise AssertionError("the pure-Python emitter was used")

    monkeypatch.setattr(yaml.emitter.Emitter, "emit", pure_python)
    assert remote_secrets.build_kubeconfig("cluster-1", "https://10.0.0.1", ca, token) == expected
