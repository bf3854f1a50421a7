"""Trust between clusters from real multi-root bundles: Istio's samples/certs (1.28.5, see data/).

root-cert.pem may hold several roots (pilot/pkg/bootstrap/istio_ca.go); two clusters share trust
when their bundles intersect and each one's signing chain (cacerts cert-chain.pem) ends at a root
the other holds. Order within a bundle is no difference; a second root is reported as a rotation.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from meshconform import checks
from meshconform.kube import errors
from meshconform.mesh import controlplane, trust
from meshconform.mesh.facts import ControlPlane

DATA = Path(__file__).parent / "data" / "istio-certs"


def pems(name: str) -> list[str]:
    """One PEM per certificate of the file, in file order."""
    text = (DATA / name).read_text()
    return ["-----BEGIN CERTIFICATE-----" + part for part in text.split("-----BEGIN CERTIFICATE-----")[1:]]


COMBINED = pems("root-cert-combined.pem")  # original root, then the alternative one
ORIGINAL, ALT = pems("root-cert.pem"), pems("root-cert-alt.pem")
ALT_CHAIN = "cert-chain-alt.pem"  # an intermediate signed by the alternative root, then that root


def test_a_bundle_is_every_root_in_file_order():
    roots = trust.certs((DATA / "root-cert-combined.pem").read_text())
    assert [trust.fingerprint(r) for r in roots] == [
        trust.fingerprint(trust.certs(ORIGINAL[0])[0]),
        trust.fingerprint(trust.certs(ALT[0])[0]),
    ]


def test_the_same_roots_in_another_order_are_shared():
    shared = trust.compare("cluster-2", COMBINED[::-1], [], "cluster-1", COMBINED, [])
    assert shared.problem is None and len(shared.common) == 2


def test_a_rotation_in_progress_is_trusted_both_ways():
    """cluster-1 already signs with the alternative root, cluster-2 still with the original one;
    both bundles hold both roots, in different orders."""
    shared = trust.compare(
        "cluster-2", COMBINED[::-1], pems("cert-chain.pem"), "cluster-1", COMBINED, pems("cert-chain-alt.pem")
    )
    assert shared.problem is None, shared


def test_a_chain_from_a_root_the_other_lacks_is_rejected():
    """cluster-1 rotated to the alternative root; cluster-2 holds the original one only: the
    bundles intersect, but cluster-2 rejects cluster-1's workloads."""
    shared = trust.compare(
        "cluster-2", ORIGINAL, pems("cert-chain.pem"), "cluster-1", COMBINED, pems("cert-chain-alt.pem")
    )
    assert shared.common and shared.problem is not None
    assert shared.problem.startswith("cluster-1's signing CA (L=cluster1,CN=Intermediate CA,O=Istio")
    assert "so cluster-2 rejects cluster-1's workloads" in shared.problem


def test_disjoint_roots_share_nothing():
    shared = trust.compare("cluster-2", ALT, [], "cluster-1", ORIGINAL, [])
    assert shared.common == [] and "have none in common" in (shared.problem or "")


def test_a_chain_is_verified_link_by_link():
    """cert-chain-alt-2.pem: an intermediate signed by the alternative root, then that root."""
    chain = trust.certs((DATA / "cert-chain-alt-2.pem").read_text())
    assert trust.anchor(chain, trust.certs(ALT[0])) is not None
    assert trust.anchor(chain, trust.certs(ORIGINAL[0])) is None
    wrong = [chain[0], trust.certs(ORIGINAL[0])[0]]  # the intermediate, then a root that did not sign it
    assert trust.anchor(wrong, trust.certs(COMBINED[0]) + trust.certs(COMBINED[1])) is None


class _Cluster:
    """Answers the two reads root_ca and signing_chain make, from the sample files."""

    name = "cluster-2"

    def __init__(self, bundle: str, chain: str | None) -> None:
        self.bundle, self.chain = bundle, chain
        self.core = self
        self.read_namespaced_config_map = self.read_namespaced_secret = None  # read() is what answers

    def read(self, what, fn, *args, **kwargs):
        if what.startswith("GET configmap"):
            name, reverse = self.bundle.removeprefix("reversed:"), self.bundle.startswith("reversed:")
            bundle = pems(name)[::-1] if reverse else pems(name)
            return {"data": {"root-cert.pem": "".join(bundle)}}
        if self.chain is None:
            raise errors.NotFound(what, "NotFound", "secrets \"cacerts\" not found")
        chain = base64.b64encode((DATA / self.chain).read_bytes()).decode()
        return {"data": {"cert-chain.pem": chain, "ca-key.pem": base64.b64encode(b"KEY").decode()}}


def test_the_control_plane_reads_every_root_and_notes_a_rotation():
    facts = ControlPlane()
    controlplane.root_ca(_Cluster("root-cert-combined-2.pem", None), facts)
    assert len(facts.root_cas) == 3 and len(set(facts.root_cas)) == 2  # the file repeats a root
    assert facts.root_ca == facts.root_cas[0]
    assert "a root rotation in progress" in (facts.root_note or "")
    single = ControlPlane()
    controlplane.root_ca(_Cluster("root-cert.pem", None), single)
    assert single.root_note is None and len(single.root_cas) == 1


def test_the_signing_chain_comes_from_cacerts_without_its_key():
    chain, note = controlplane.signing_chain(_Cluster("root-cert.pem", "cert-chain-alt.pem"))
    assert len(chain) == 2 and note == "Secret istio-system/cacerts cert-chain.pem"
    assert not any("KEY" in p or "PRIVATE" in p for p in chain)
    none, why = controlplane.signing_chain(_Cluster("root-cert.pem", None))
    assert none == [] and "judged by the root bundles" in why


@pytest.mark.parametrize(
    ("bundles", "chains", "fails"),
    [
        (("root-cert-combined.pem", "reversed:root-cert-combined.pem"), (None, None), False),
        (("root-cert-combined.pem", "root-cert-combined.pem"), (ALT_CHAIN, "cert-chain.pem"), False),
        (("root-cert-combined.pem", "root-cert.pem"), (ALT_CHAIN, "cert-chain.pem"), True),
        (("root-cert.pem", "root-cert-alt.pem"), (None, None), True),
    ],
)
def test_root_ca_shared_judges_bundles_and_chains(bundles, chains, fails):
    from test_checks import healthy

    facts = healthy()
    for name, bundle, chain in zip(facts.clusters, bundles, chains, strict=True):
        control = facts.clusters[name].control
        controlplane.root_ca(_Cluster(bundle, chain), control)
        control.signing_chain, _ = controlplane.signing_chain(_Cluster(bundle, chain))
    outcome = checks.judge(facts, checks.all_checks()["test_root_ca_shared"], "cluster-2")
    assert (outcome.status == "failed") == fails, outcome


def test_root_ca_shared_compares_the_same_bundles_once(monkeypatch):
    """Every pair check has root_ca_shared of its clusters as a premise: at 20 clusters the same
    comparison was asked 1,159 times (parsing and signature checks: most of the checks' own time).
    The answer is a function of the PEM text, so it is computed once; a new bundle is asked again."""
    from test_checks import healthy

    calls: list[str] = []
    real = trust.compare
    monkeypatch.setattr(trust, "compare", lambda *a: calls.append(a[0]) or real(*a))
    trust.compare_cached.cache_clear()
    facts = healthy()
    for name in facts.clusters:
        control = facts.clusters[name].control
        controlplane.root_ca(_Cluster("root-cert-combined.pem", ALT_CHAIN), control)
        control.signing_chain, _ = controlplane.signing_chain(_Cluster("root-cert-combined.pem", ALT_CHAIN))
    check = checks.all_checks()["test_root_ca_shared"]
    outcomes = [checks.judge(facts, check, "cluster-2").status for _ in range(3)]
    assert outcomes == ["passed"] * 3 and calls == ["cluster-2"]
    controlplane.root_ca(_Cluster("root-cert.pem", None), facts.clusters["cluster-2"].control)
    facts.clusters["cluster-2"].control.signing_chain = []
    checks.judge(facts, check, "cluster-2")  # cluster-1 signs with a root cluster-2 now lacks
    assert len(calls) == 2
