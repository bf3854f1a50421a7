"""The kind path's CA material matches Istio's plug-in CA layout and really chains to one root.

Fields and extensions are those of istio/istio tools/certs/common.mk; the chain is checked the way a
peer proxy would: a workload certificate issued by one cluster's intermediate verifies against the
shared root, whichever cluster issued it, and not against a foreign root.
"""

from __future__ import annotations

import datetime
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshconform.kind import certs

CLUSTERS = ["cluster-1", "cluster-2"]


@pytest.fixture(scope="module")
def cacerts(tmp_path_factory):
    """Real 4096-bit material, generated once for the module, read back from disk."""
    base = tmp_path_factory.mktemp("cacerts")
    paths = certs.generate_mesh_cacerts(base, CLUSTERS)
    return base, {c: {p.name: p.read_bytes() for p in paths[c]} for c in CLUSTERS}, paths


def load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def ext(cert: x509.Certificate, kind):
    return cert.extensions.get_extension_for_class(kind)


def test_layout_is_the_cacerts_secret(cacerts):
    assert certs.CACERTS_FILES == ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")
    base, _, paths = cacerts
    for cluster in CLUSTERS:
        assert tuple(p.name for p in paths[cluster]) == certs.CACERTS_FILES
        assert sorted(p.name for p in (base / cluster).iterdir()) == sorted(certs.CACERTS_FILES)
        assert stat.S_IMODE((base / cluster).stat().st_mode) == 0o700
        assert {stat.S_IMODE(p.stat().st_mode) for p in paths[cluster]} == {0o600}
    assert not list(base.glob("*.pem")), "the root key must never be written"


def test_root_matches_upstream(cacerts):
    root = load(cacerts[1]["cluster-1"]["root-cert.pem"])
    assert root.subject == x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Istio"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Root CA"),
        ]
    )
    root.verify_directly_issued_by(root)
    bc = ext(root, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    assert_ca_key_usage(root)
    assert ext(root, x509.SubjectKeyIdentifier)
    assert root.public_key().key_size == 4096
    assert (root.not_valid_after_utc - root.not_valid_before_utc) == datetime.timedelta(days=3650)


def assert_ca_key_usage(cert: x509.Certificate) -> None:
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical
    assert (ku.value.digital_signature, ku.value.content_commitment, ku.value.key_encipherment) == (True,) * 3
    assert ku.value.key_cert_sign and not ku.value.crl_sign and not ku.value.data_encipherment


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_intermediate_matches_upstream(cacerts, cluster):
    files = cacerts[1][cluster]
    ca, root = load(files["ca-cert.pem"]), load(files["root-cert.pem"])
    assert ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Istio"
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Intermediate CA"
    assert ca.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == cluster
    assert ca.issuer == root.subject
    ca.verify_directly_issued_by(root)
    bc = ext(ca, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert_ca_key_usage(ca)
    san = ext(ca, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["istiod.istio-system.svc"]
    assert ca.public_key().key_size == 4096
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc) == datetime.timedelta(days=730)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_chain_file_and_key_belong_together(cacerts, cluster):
    files = cacerts[1][cluster]
    assert files["cert-chain.pem"] == files["ca-cert.pem"] + files["root-cert.pem"]
    key = serialization.load_pem_private_key(files["ca-key.pem"], password=None)
    assert files["ca-key.pem"].startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert key.public_key().public_numbers() == load(files["ca-cert.pem"]).public_key().public_numbers()


def test_one_root_two_intermediates(cacerts):
    files = cacerts[1]
    assert files["cluster-1"]["root-cert.pem"] == files["cluster-2"]["root-cert.pem"]
    assert files["cluster-1"]["ca-cert.pem"] != files["cluster-2"]["ca-cert.pem"]
    assert files["cluster-1"]["ca-key.pem"] != files["cluster-2"]["ca-key.pem"]


def workload_cert(files: dict[str, bytes], spiffe: str) -> x509.Certificate:
    """A leaf shaped like the workload certificates istiod signs, for chain checks."""
    issuer_key = serialization.load_pem_private_key(files["ca-key.pem"], password=None)
    assert isinstance(issuer_key, rsa.RSAPrivateKey)
    issuer_ski = ext(load(files["ca-cert.pem"]), x509.SubjectKeyIdentifier).value
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))  # Istio's workload certs: empty subject, critical URI SAN
        .issuer_name(load(files["ca-cert.pem"]).subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]), critical=True)
        # Go's x509.CreateCertificate (istiod) copies the issuer's SKI into the leaf's AKI.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )


def verify(leaf: x509.Certificate, root_pem: bytes, chain_pem: bytes):
    store = verification.Store([load(root_pem)])
    intermediates = x509.load_pem_x509_certificates(chain_pem)
    return verification.PolicyBuilder().store(store).build_client_verifier().verify(leaf, intermediates)


@pytest.mark.parametrize("issuer", CLUSTERS)
def test_workload_from_either_cluster_verifies_against_the_shared_root(cacerts, issuer):
    files = cacerts[1]
    spiffe = "spiffe://cluster.local/ns/sample/sa/sleep"
    leaf = workload_cert(files[issuer], spiffe)
    for verifier_side in CLUSTERS:  # the peer proxy trusts only its own root-cert.pem
        verified = verify(leaf, files[verifier_side]["root-cert.pem"], files[issuer]["cert-chain.pem"])
        assert [c.subject for c in verified.chain[1:]] == [
            load(files[issuer]["ca-cert.pem"]).subject,
            load(files[issuer]["root-cert.pem"]).subject,
        ]
        assert verified.subjects == [x509.UniformResourceIdentifier(spiffe)]


def test_a_foreign_root_does_not_verify(cacerts):
    files = cacerts[1]["cluster-1"]
    leaf = workload_cert(files, "spiffe://cluster.local/ns/sample/sa/sleep")
    foreign = certs.make_root_ca(key_size=2048)
    with pytest.raises(verification.VerificationError):
        verify(leaf, foreign.cert_pem(), files["cert-chain.pem"])


def test_repr_never_shows_the_key():
    root = certs.make_root_ca(key_size=2048)
    assert "PRIVATE" not in repr(root) and "RSAPrivateKey" not in repr(root)
    assert repr(root) == "CertificateAuthority(subject='CN=Root CA,O=Istio')"
