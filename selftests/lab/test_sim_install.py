"""The ASM install each lab cluster starts with, and the install-time faults, as a client reads them:
istiod pods and their labels/images, mesh config, network label, root CA, reader RBAC, slow-start."""

from __future__ import annotations

import hashlib
import time

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client
from sim_support import Mesh, start
from support import until

REV = "asm-1285-9"


def fingerprint(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def mesh_config(m: Mesh, i: int, rev: str = REV) -> dict:
    return yaml.safe_load(m.core(i).read_namespaced_config_map(f"istio-{rev}", "istio-system").data["mesh"])


def root(m: Mesh, i: int, ns: str = "istio-system") -> str:
    return fingerprint(m.core(i).read_namespaced_config_map("istio-ca-root-cert", ns).data["root-cert.pem"])


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    m = start(tmp_path_factory, clusters=2, revisions=(REV, "asm-181-1"))
    yield m
    m.stop()


def test_istiod_per_revision_with_asm_labels_and_images(mesh: Mesh) -> None:
    for i in (0, 1):
        pods = mesh.pods(i, "istio-system", "app=istiod")
        by_rev = {p.metadata.labels["istio.io/rev"]: p for p in pods}
        assert set(by_rev) == {REV, "asm-181-1"}
        for rev, tag in ((REV, "1.28.5-asm.9"), ("asm-181-1", "1.8.1-asm.1")):
            p = by_rev[rev]
            assert p.metadata.labels["istio"] == "istiod" and p.metadata.name.startswith(f"istiod-{rev}-")
            c = p.spec.containers[0]
            assert c.name == "discovery" and c.image == f"gcr.io/gke-release/asm/pilot:{tag}"
            assert p.status.container_statuses[0].ready and p.status.phase == "Running"
            env = {e.name: e.value for e in c.env if e.value is not None}
            assert env["REVISION"] == rev and env["CLUSTER_ID"] == f"cluster-{i + 1}"
            svc = mesh.core(i).read_namespaced_service(f"istiod-{rev}", "istio-system")
            assert {p.port for p in svc.spec.ports} == {15010, 15012, 443, 15014}


def test_mesh_config_network_and_shared_root(mesh: Mesh) -> None:
    for i in (0, 1):
        cfg = mesh_config(mesh, i)
        assert cfg["trustDomain"] == "cluster.local" and cfg["defaultConfig"]["meshId"].startswith("proj-")
        ns = mesh.core(i).read_namespace("istio-system")
        assert ns.metadata.labels["topology.istio.io/network"] == "network1"
    assert root(mesh, 0) == root(mesh, 1)
    mesh.namespace(0, "fresh", labels={})
    fresh = until(lambda: root(mesh, 0, "fresh"), bool, 3, "istio-ca-root-cert in a new namespace",
                  ignoring=(client.ApiException,))  # 404 until istiod's namespace controller writes it
    assert fresh == root(mesh, 0)


def test_reader_account_role_and_binding(mesh: Mesh) -> None:
    rbac = client.RbacAuthorizationV1Api(mesh.api(0))
    for rev in (REV, "asm-181-1"):
        name = f"istio-reader-clusterrole-{rev}-istio-system"
        role = rbac.read_cluster_role(name)
        assert any("pods" in (r.resources or []) and "list" in r.verbs for r in role.rules)
        binding = rbac.read_cluster_role_binding(name)
        assert binding.subjects[0].name == "istio-reader-service-account"
        assert binding.subjects[0].namespace == "istio-system"
    sa = mesh.core(0).read_namespaced_service_account("istio-reader-service-account", "istio-system")
    assert sa.secrets and sa.secrets[0].name.startswith("istio-reader-service-account-token-")


@pytest.mark.parametrize(("fault", "check"), [
    ("revision-mismatch", "revision"),
    ("old-istiod:cluster-2", "image"),
    ("root-ca-mismatch", "root"),
    ("trust-domain-mismatch", "trust"),
    ("multi-network", "network"),
])
def test_install_faults_change_only_their_fact(tmp_path_factory: pytest.TempPathFactory, fault: str,
                                               check: str) -> None:
    m = start(tmp_path_factory, clusters=2, faults=(fault,))
    try:
        one, two = m.istiod(0), m.istiod(1)
        revs = (one.metadata.labels["istio.io/rev"], two.metadata.labels["istio.io/rev"])
        images = (one.spec.containers[0].image, two.spec.containers[0].image)
        roots = (root(m, 0), root(m, 1))
        tds = (mesh_config(m, 0)["trustDomain"], mesh_config(m, 1, revs[1])["trustDomain"])
        nets = tuple(m.core(i).read_namespace("istio-system").metadata.labels["topology.istio.io/network"]
                     for i in (0, 1))
        facts = {
            "revision": revs[0] == revs[1],
            "image": images[0] == images[1],
            "root": roots[0] == roots[1],
            "trust": tds[0] == tds[1],
            "network": nets[0] == nets[1],
        }
        changed = {k for k, same in facts.items() if not same}
        assert changed == ({check, "image"} if check == "revision" else {check}), (
            facts
        )  # a revision is a version
        if check == "revision":
            assert revs == (REV, "asm-181-1")
        if check == "image":
            assert images[1].endswith(":1.6.5-asm.7") and two.metadata.labels["istio.io/rev"] == REV
    finally:
        m.stop()


def test_slow_start_takes_seconds_not_minutes(tmp_path_factory: pytest.TempPathFactory) -> None:
    m = start(tmp_path_factory, clusters=1, faults=("slow-start",), ready_delay=0.3)
    try:
        m.namespace(0)
        t0 = time.monotonic()
        m.deploy(0, ("v1",), sleep=False)
        m.wait_ready(0, timeout=20)
        elapsed = time.monotonic() - t0
        assert 2.5 < elapsed < 8, elapsed
    finally:
        m.stop()
