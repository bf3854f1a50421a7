"""The emulated sidecars' Istio standard metrics: what `pilot-agent request GET stats/prometheus`
prints in istio-proxy, counted by the receiving proxy per caller, over mTLS or in plain text, off
when a Telemetry resource says so; and sidecar-bypass, whose plain-text calls a STRICT
PeerAuthentication refuses."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sim_support import Mesh, guide_mesh

STATS = ["pilot-agent", "request", "GET", "stats/prometheus"]
SLEEP = "spiffe://cluster.local/ns/sample/sa/sleep"


def received(mesh: Mesh, i: int, ns: str = "sample") -> list[dict[str, str]]:
    """Every destination-reported istio_requests_total sample of cluster i's helloworld pods,
    with its value under "value"."""
    samples = []
    for pod in mesh.pods(i, ns, "app=helloworld"):
        out, err, code = mesh.exec(i, pod.metadata.name, "istio-proxy", STATS, ns)
        assert code == 0, err
        for family in text_string_to_metric_families(out):
            for s in family.samples:
                if s.name == "istio_requests_total" and s.labels["reporter"] == "destination":
                    samples.append({**s.labels, "value": str(int(s.value))})
    return samples


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    m = guide_mesh(tmp_path_factory)
    yield m
    m.stop()


def test_each_call_is_counted_by_the_receiving_sidecar_per_source_over_mtls(mesh: Mesh) -> None:
    seen = {i: Counter(c.split("version: ")[1].split(",")[0] for c in mesh.hello(i, 40)) for i in (0, 1)}
    for i, version in ((0, "v1"), (1, "v2")):
        by_source = Counter()
        for s in received(mesh, i):
            assert s["connection_security_policy"] == "mutual_tls" and s["source_principal"] == SLEEP
            assert s["destination_cluster"] == f"cluster-{i + 1}" and s["destination_version"] == version
            assert s["source_workload"] == "sleep" and s["response_code"] == "200"
            assert s["destination_service"] == "helloworld.sample.svc.cluster.local"
            by_source[s["source_cluster"]] += int(s["value"])
        assert by_source == {f"cluster-{j + 1}": seen[j][version] for j in (0, 1)}


def test_stats_text_is_envoys_prometheus_format_with_the_duration_histogram(mesh: Mesh) -> None:
    mesh.hello(0, 10)
    pod = mesh.pods(0, selector="app=helloworld")[0].metadata.name
    out, _, _ = mesh.exec(0, pod, "istio-proxy", STATS)
    assert "# TYPE istio_requests_total counter\n" in out and "# HELP" not in out
    families = {f.name: f for f in text_string_to_metric_families(out)}
    hist = families["istio_request_duration_milliseconds"]
    assert hist.type == "histogram"
    inf = [s for s in hist.samples if s.name.endswith("_bucket") and s.labels["le"] == "+Inf"]
    counts = [s for s in hist.samples if s.name.endswith("_count")]
    assert [s.value for s in inf] == [s.value for s in counts] and sum(s.value for s in counts) > 0
    assert 'le="1.8e+06"' in out and 'le="0.5"' in out


def test_plain_text_into_a_permissive_sidecar_is_counted_without_identity(mesh: Mesh) -> None:
    mesh.namespace(0, "bare", labels={})
    mesh.deploy(0, (), ns="bare")
    mesh.wait_ready(0, "bare", count=1)
    pod = mesh.pods(0, "bare", "app=sleep")[0].metadata.name
    target = mesh.pods(0, selector="app=helloworld")[0].status.pod_ip
    before = sum(int(s["value"]) for s in received(mesh, 0) if s["connection_security_policy"] == "none")
    out, _, code = mesh.exec(0, pod, "sleep", ["curl", "-s", f"http://{target}:5000/hello"], "bare")
    assert code == 0 and "Hello version: v1" in out
    plain = [s for s in received(mesh, 0) if s["connection_security_policy"] == "none"]
    assert sum(int(s["value"]) for s in plain) == before + 1
    assert {(s["source_principal"], s["source_cluster"]) for s in plain} == {("unknown", "unknown")}


def test_a_telemetry_resource_that_disables_metrics_stops_the_counting(mesh: Mesh) -> None:
    mesh.hello(1, 5)
    before = received(mesh, 1)
    off = {
        "apiVersion": "telemetry.istio.io/v1alpha1",
        "kind": "Telemetry",
        "metadata": {"name": "off", "namespace": "sample"},
        "spec": {"metrics": [{"providers": [{"name": "prometheus"}], "overrides": [{"disabled": True}]}]},
    }
    where = ("telemetry.istio.io", "v1alpha1", "sample", "telemetries")
    mesh.custom(1).create_namespaced_custom_object(*where, off)
    try:
        assert len(mesh.hello(1, 20)) == 20
        assert received(mesh, 1) == before
    finally:
        mesh.custom(1).delete_namespaced_custom_object(*where, "off")


def test_sidecar_bypass_sends_plain_text_that_strict_refuses(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    m = guide_mesh(tmp_path_factory, faults=("sidecar-bypass:cluster-2",))
    try:
        assert all(c.startswith("200 Hello version: v2") for c in m.hello(1, 10))  # kube-proxy: local only
        strict = {"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
                  "metadata": {"name": "default"}, "spec": {"mtls": {"mode": "STRICT"}}}
        m.custom(1).create_namespaced_custom_object("security.istio.io", "v1beta1", "sample",
                                                    "peerauthentications", strict)
        _out, err, code = m.curl(1, "-sS", "http://helloworld.sample:5000/hello")
        assert code == 56 and "Connection reset by peer" in err
        assert all(c.startswith("200 Hello version: v") for c in m.hello(0, 10))  # cluster-1 is fine
    finally:
        m.stop()


def test_an_outside_cluster_is_in_the_mesh_but_not_in_the_kubeconfig(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    m = guide_mesh(tmp_path_factory, faults=("outside-cluster:cluster-2",))
    try:
        assert len(m.contexts) == 2 and "cluster-3" not in m.kubeconfig.read_text()
        ours = {p.metadata.name for i in (0, 1) for p in m.pods(i, selector="app=helloworld")}
        answers = Counter(c.split("instance: ")[1] for c in m.hello(0, 30))
        foreign = set(answers) - ours
        assert len(answers) == 3 and len(foreign) == 1 and next(iter(foreign)).startswith("helloworld-v2-")
        assert all(c.startswith("200 Hello version: v") for c in m.hello(1, 9))
    finally:
        m.stop()


def test_a_destination_rule_that_disables_tls_sends_plain_text_that_only_permissive_servers_take(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """tls-disabled:cluster-1 (Istio 1.4's mesh-wide DISABLE rule) and permissive-default:cluster-2 (a
    PERMISSIVE `default` in every new namespace): cluster-1's sidecars call in plain text, with their
    metadata; a STRICT server closes it (503, not retried), the oldest namespace-wide policy wins."""
    m = guide_mesh(tmp_path_factory, faults=("tls-disabled:cluster-1", "permissive-default:cluster-2"))
    try:
        assert all(c.startswith("200 Hello version: v") for c in m.hello(0, 10))
        plain = [s for s in received(m, 1) if s["source_cluster"] == "cluster-1"]
        assert plain and {(s["connection_security_policy"], s["source_principal"]) for s in plain} == {
            ("none", "unknown")
        }
        assert {s["source_workload"] for s in plain} == {"sleep"}  # the metadata headers still go
        where = ("security.istio.io", "v1beta1", "sample", "peerauthentications")
        strict = {"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
                  "metadata": {"name": "strict"}, "spec": {"mtls": {"mode": "STRICT"}}}
        m.custom(0).create_namespaced_custom_object(*where, strict)
        time.sleep(1.1)  # creationTimestamp has seconds: younger by a tick than the provisioned one,
        early = {**strict, "metadata": {"name": "a-strict"}}  # and listed before it by name
        m.custom(1).create_namespaced_custom_object(*where, early)
        answers = m.hello(0, 20)  # v1 (STRICT, in cluster-1) closes the plain text; v2 takes it
        assert 0 < len(answers) < 20 and all(c.startswith("200 Hello version: v2") for c in answers)
        out, _, _ = m.curl(0, "-s", "http://helloworld.sample:5000/hello?[1-6]")
        assert "reset reason: connection termination" in out
        assert all(c.startswith("200 Hello version: v") for c in m.hello(1, 10))  # cluster-2 sends mTLS
    finally:
        m.stop()


@pytest.mark.parametrize(
    ("revisions", "signed"), [(("asm-1285-9",), "new-td.example.com"), (("asm-173-3",), "cluster.local")]
)
def test_a_trust_domain_changed_in_the_mesh_config_is_signed_only_by_an_istiod_from_1_11(
    tmp_path_factory: pytest.TempPathFactory, revisions: tuple[str, ...], signed: str
) -> None:
    """trust-domain-migration: every mesh config says new-td.example.com (cluster.local an alias);
    the calls work either way, and the principal is what the istiod signs."""
    m = guide_mesh(tmp_path_factory, faults=("trust-domain-migration",), revisions=revisions)
    try:
        assert all(c.startswith("200 Hello version: v") for c in m.hello(0, 10))
        principals = {s["source_principal"] for s in received(m, 1) if s["source_cluster"] == "cluster-1"}
        assert principals == {f"spiffe://{signed}/ns/sample/sa/sleep"}
    finally:
        m.stop()
