"""Traffic through the simulated mesh: Envoy round robin over the endpoints istiod knows, kube-proxy
without a sidecar, and each traffic-bending fault seen from the caller's replies."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
from sim_support import Mesh, guide_mesh, proxy_hosts, start
from support import until

N = 50


def versions(calls: list[str]) -> Counter[str]:
    return Counter(
        c.split("Hello version: ")[1].split(",")[0] if "Hello version" in c else c[:3] for c in calls
    )


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    m = guide_mesh(tmp_path_factory)
    yield m
    m.stop()


def test_replies_have_the_guide_shape_and_alternate(mesh: Mesh) -> None:
    for i in (0, 1):
        calls = mesh.hello(i, N)
        assert len(calls) == N and all(c.startswith("200 Hello version: v") for c in calls)
        assert versions(calls) == {"v1": N // 2, "v2": N // 2}  # round robin over two endpoints
        pod = calls[0].split("instance: ")[1]
        assert pod.startswith("helloworld-v")


def test_write_out_reports_the_service_ip_and_plausible_times(mesh: Mesh) -> None:
    out, _err, _code = mesh.curl(
        0, "-s", "-o", "/dev/null", "-w", "%{remote_ip} %{time_total}", "http://helloworld.sample:5000/hello"
    )
    svc = mesh.core(0).read_namespaced_service("helloworld", "sample")
    ip, total = out.split()
    assert ip == svc.spec.cluster_ip and 0.001 < float(total) < 1.0


def test_caller_without_sidecar_reaches_only_local_endpoints(mesh: Mesh) -> None:
    mesh.namespace(0, "plain", labels={})
    mesh.deploy(0, ("v1",), ns="plain")
    mesh.wait_ready(0, "plain", count=2)
    assert all(len(p.spec.containers) == 1 for p in mesh.pods(0, "plain"))
    calls = mesh.hello(0, 20, ns="plain")
    assert versions(calls) == {"v1": 20}


def test_proxy_admin_clusters_lists_local_and_remote_endpoints_with_locality(mesh: Mesh) -> None:
    pod = mesh.sleep_pod(0)
    out, _, code = mesh.exec(0, pod, "istio-proxy", ["pilot-agent", "request", "GET", "clusters"])
    name = "outbound|5000||helloworld.sample.svc.cluster.local"
    hosts = {line.split("::")[1] for line in out.splitlines() if line.startswith(name + "::10.")}
    ips = {p.status.pod_ip for i in (0, 1) for p in mesh.pods(i, selector="app=helloworld")}
    assert code == 0 and hosts == {f"{ip}:5000" for ip in ips}
    assert f"{name}::{sorted(hosts)[0]}::health_flags::healthy" in out
    assert "::zone::us-east1-b" in out and "::zone::us-central1-a" in out
    out, _err, code = mesh.exec(
        0, pod, "istio-proxy", ["pilot-agent", "request", "GET", "clusters?format=json"]
    )
    statuses = {c["name"]: c for c in json.loads(out)["cluster_statuses"]}
    addrs = {h["address"]["socket_address"]["address"] for h in statuses[name]["host_statuses"]}
    assert addrs == ips


def test_a_thousand_calls_in_one_exec_take_well_under_a_second(mesh: Mesh) -> None:
    t0 = time.perf_counter()
    calls = mesh.hello(0, 1000)
    elapsed = time.perf_counter() - t0
    assert len(calls) == 1000 and versions(calls) == {"v1": 500, "v2": 500}
    print(f"\n1000 hello calls through one exec: {elapsed:.3f}s")
    assert elapsed < 1.5


@pytest.mark.parametrize(
    ("fault", "want"),
    [
        ("partition:cluster-1,cluster-2", "local"),
        ("locality-lb", "local"),
        ("root-ca-mismatch", "local"),
        ("root-rotation-incomplete", "local"),  # cluster-2 lacks the root cluster-1 now signs with
        ("trust-domain-mismatch", "local"),
        ("multi-network", "local"),
        ("skew", "skewed"),
        ("hello-errors:cluster-2", "errors"),
    ],
)
def test_traffic_faults(tmp_path_factory: pytest.TempPathFactory, fault: str, want: str) -> None:
    m = guide_mesh(tmp_path_factory, faults=(fault,))
    try:
        for i, local in ((0, "v1"), (1, "v2")):
            got = versions(m.hello(i, N))
            if want == "local":
                assert got == {local: N}, (fault, i, got)
            elif want == "skewed":
                assert got[local] == N * 9 // 10, (fault, i, got)
            else:
                assert 0 < got["500"] < N // 2 and set(got) == {"v1", "v2", "500"}, (fault, i, got)
    finally:
        m.stop()


def test_locality_rule_is_visible_to_clients(tmp_path_factory: pytest.TempPathFactory) -> None:
    m = start(tmp_path_factory, faults=("locality-lb",))
    try:
        m.namespace(0, "other")
        want = {"helloworld.sample.svc.cluster.local", "helloworld.other.svc.cluster.local"}
        hosts = until(lambda: _rule_hosts(m), lambda hosts: set(hosts) == want, 3,
                      "a locality DestinationRule for the new namespace too")
        tp = hosts["helloworld.sample.svc.cluster.local"]
        assert tp["loadBalancer"]["localityLbSetting"]["enabled"] and tp["outlierDetection"]
    finally:
        m.stop()


def _rule_hosts(m: Mesh) -> dict[str, Any]:
    """host -> trafficPolicy of each DestinationRule in cluster-1's istio-system."""
    drs = m.custom(0).list_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "istio-system", "destinationrules"
    )["items"]
    return {d["spec"]["host"]: d["spec"]["trafficPolicy"] for d in drs}


def test_cross_cluster_tls_failure_reads_like_envoy_when_no_local_endpoint(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    m = start(tmp_path_factory, joined=True, faults=("root-ca-mismatch",))
    try:
        m.namespace(0)
        m.namespace(1)
        m.deploy(0, (), sleep=True)  # cluster-1: the Service and sleep, no helloworld
        m.deploy(1, ("v2",), sleep=False)
        m.wait_ready(0)
        m.wait_ready(1)
        out, _err, _code = m.curl(0, "-s", "-w", "\\n%{http_code}", "http://helloworld.sample:5000/hello")
        body, status = out.rsplit("\n", 1)
        assert status == "503" and body.startswith(
            "upstream connect error or disconnect/reset before headers."
        )
        assert "CERTIFICATE_VERIFY_FAILED" in body
    finally:
        m.stop()


def test_sample_container_logs(mesh: Mesh) -> None:
    hello = mesh.pods(0, selector="app=helloworld")[0].metadata.name
    logs = mesh.core(0).read_namespaced_pod_log(hello, "sample", container="helloworld")
    assert "Starting gunicorn" in logs and "Listening at: http://[::]:5000" in logs
    proxy = mesh.core(0).read_namespaced_pod_log(hello, "sample", container="istio-proxy", tail_lines=1)
    assert proxy.strip().endswith("Envoy proxy is ready")


def test_plain_caller_is_reset_by_a_strict_sidecar(mesh: Mesh) -> None:
    pa = {"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
          "metadata": {"name": "default"}, "spec": {"mtls": {"mode": "STRICT"}}}
    mesh.custom(0).create_namespaced_custom_object("security.istio.io", "v1beta1", "sample",
                                                    "peerauthentications", pa)
    try:
        if not mesh.pods(0, "plain"):
            pytest.skip("needs the plain namespace of the kube-proxy test")
        _, err, code = mesh.curl(0, "-sS", "http://helloworld.sample:5000/hello", ns="plain")
        assert code == 56 and "Recv failure: Connection reset by peer" in err
        assert versions(mesh.hello(0, 4)) == {"v1": 2, "v2": 2}      # sidecar callers use mTLS: fine
    finally:
        mesh.custom(0).delete_namespaced_custom_object("security.istio.io", "v1beta1", "sample",
                                                        "peerauthentications", "default")


@pytest.mark.parametrize(("revision", "reached"), [("asm-1285-9", {"v1"}), ("asm-173-3", {"v1", "v2"})])
def test_an_app_on_localhost_is_reached_through_the_sidecar_only_before_istio_1_10(
    tmp_path_factory: pytest.TempPathFactory, revision: str, reached: set[str]
) -> None:
    """hello-localhost: from 1.10 the sidecar forwards to the pod IP, where nothing listens; the
    caller's Envoy retries the refused call on another host, so every call answers, none from v2."""
    m = guide_mesh(tmp_path_factory, faults=("hello-localhost:cluster-2",), revisions=(revision,))
    try:
        for i in (0, 1):
            got = versions(m.hello(i, N))
            assert set(got) == reached and sum(got.values()) == N, (revision, i, got)
    finally:
        m.stop()


def test_a_root_rotation_in_progress_keeps_cross_cluster_mtls(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Istio's multi-root rotation: both clusters' root-cert.pem hold old and new root (in another
    order), cluster-1 already signs with the new one: each side's chain ends at a root the other
    trusts, so calls still cross."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    def prints(pem: str) -> list[str]:  # read with cryptography, not with the suite's parser
        certs = x509.load_pem_x509_certificates(pem.encode())
        return [hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest() for c in certs]

    m = guide_mesh(tmp_path_factory, faults=("root-rotation",))
    try:
        bundles = []
        for i in (0, 1):
            pem = m.core(i).read_namespaced_config_map("istio-ca-root-cert", "sample").data["root-cert.pem"]
            bundles.append(prints(pem))
            cacerts = m.core(i).read_namespaced_secret("cacerts", "istio-system").data
            chain = prints(base64.b64decode(cacerts["cert-chain.pem"]).decode())
            assert len(chain) == 2 and chain[1] in bundles[i]
        assert len(bundles[0]) == 2 and bundles[0] == bundles[1][::-1]
        for i in (0, 1):
            assert set(versions(m.hello(i, N))) == {"v1", "v2"}
    finally:
        m.stop()


def test_other_networks_are_reached_through_their_gateways(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Three clusters on two networks (cluster-1 and cluster-3 on network1): each sidecar holds its own
    network's pod IPs and, per other-network cluster, that cluster's gateway (ep_filters.go prefers the
    endpoint's own cluster's gateway), weighted as istiod scales them (lcm of gateways per network: 2)."""
    m = start(tmp_path_factory, clusters=3, networks=2, joined=True)
    try:
        for i, version in enumerate(("v1", "v2", "v1")):  # the samples have two versions
            m.namespace(i)
            m.deploy(i, (version,))
        for i in range(3):
            m.wait_ready(i, count=2)
        gateway = {i: f"203.0.113.{10 + i}:15443" for i in range(3)}
        two = proxy_hosts(m, 1)
        assert {gateway[0], gateway[2]} <= set(two) and len(two) == 3, two
        assert set(two.values()) == {2}, two
        one = proxy_hosts(m, 0)
        assert gateway[1] in one and gateway[0] not in one and gateway[2] not in one, one
        assert sum(1 for h in one if h.endswith(":5000")) == 2, one  # v1 and v3, both on network1
        for i in range(3):  # three endpoints (or gateways) of equal weight: v1 twice, v2 once
            assert versions(m.hello(i, 60)) == {"v1": 40, "v2": 20}
    finally:
        m.stop()


def test_a_closed_port_15443_times_calls_out(tmp_path_factory: pytest.TempPathFactory) -> None:
    """port-15443-closed: the gateway's connections from the other network are dropped; Envoy's
    connect timeout (10 s) outlasts curl's -m 5, and every call that tries the gateway first fails."""
    m = guide_mesh(tmp_path_factory, networks=2, faults=("port-15443-closed",))
    try:
        got = versions(m.hello(0, 20))
        assert got["000"] >= 19 and set(got) <= {"000", "v1"}, got
    finally:
        m.stop()
