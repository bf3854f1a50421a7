"""A shared root CA and one intermediate CA per cluster, laid out as Istio's ``cacerts`` secret.

Clusters of one multi-primary mesh must trust one root, otherwise cross-cluster mTLS fails (the
``root-ca-mismatch`` fault of the suite). Istio's "Plug in CA Certificates" task makes that root with
``tools/certs/Makefile.selfsigned.mk`` and openssl; the kind path does the same in Python so that
it needs no openssl and no make. Every field and extension below is taken from istio/istio
``tools/certs/common.mk`` (``root-ca.conf`` and ``%/intermediate.conf``) and
``Makefile.selfsigned.mk``:

- root: RSA 4096, ``O=Istio, CN=Root CA``, 3650 days; ``basicConstraints=critical,CA:true``;
  ``keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment,keyCertSign``; SKI.
- intermediate (per cluster): RSA 4096, ``O=Istio, CN=Intermediate CA, L=<cluster>``, 730 days;
  ``basicConstraints=critical,CA:true,pathlen:0``; the same key usage; SKI;
  ``subjectAltName=DNS:istiod.istio-system.svc``.
- ``cert-chain.pem`` is ``ca-cert.pem`` followed by ``root-cert.pem``; ``root-cert.pem`` is copied
  into each cluster's directory.

Like openssl's ``x509 -req`` with that extfile, no authorityKeyIdentifier is added (the self-tests
check that ``cryptography.x509.verification`` still builds the chain). The root key is kept in
memory only: nothing after the secrets needs it, so it never touches the disk.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ROOTCA_DAYS = 3650
INTERMEDIATE_DAYS = 730
KEY_SIZE = 4096
ORG = "Istio"
ROOT_CN = "Root CA"
INTERMEDIATE_CN = "Intermediate CA"
INTERMEDIATE_SAN_DNS = "istiod.istio-system.svc"
# The four keys of the cacerts secret, in the order Istio's guide passes them to kubectl.
CACERTS_FILES = ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")

# Key usage shared by root and intermediates (common.mk: "digitalSignature, nonRepudiation,
# keyEncipherment, keyCertSign").
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=True,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate and its private key. ``repr`` never shows the key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def __repr__(self) -> str:
        return f"CertificateAuthority(subject={self.cert.subject.rfc4514_string()!r})"

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        # PKCS#1 "RSA PRIVATE KEY", unencrypted, as `openssl genrsa` writes it.
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(*attrs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey, days: int
) -> x509.CertificateBuilder:
    start = _now() - datetime.timedelta(minutes=5)  # tolerate small clock skew between hosts
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_CA_KEY_USAGE, critical=True)
    )


def make_root_ca(key_size: int = KEY_SIZE, days: int = ROOTCA_DAYS) -> CertificateAuthority:
    """The mesh's self-signed root (common.mk ``root-ca.conf``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = _name((NameOID.ORGANIZATION_NAME, ORG), (NameOID.COMMON_NAME, ROOT_CN))
    cert = (
        _builder(subject, subject, key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(cert, key)


def make_intermediate_ca(
    root: CertificateAuthority, cluster: str, key_size: int = KEY_SIZE, days: int = INTERMEDIATE_DAYS
) -> CertificateAuthority:
    """One cluster's signing CA under ``root`` (common.mk ``%/intermediate.conf``, L=cluster)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = _name(
        (NameOID.ORGANIZATION_NAME, ORG),
        (NameOID.COMMON_NAME, INTERMEDIATE_CN),
        (NameOID.LOCALITY_NAME, cluster),
    )
    cert = (
        _builder(subject, root.cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(INTERMEDIATE_SAN_DNS)]), critical=False)
        .sign(root.key, hashes.SHA256())
    )
    return CertificateAuthority(cert, key)


def cacerts_files(root: CertificateAuthority, intermediate: CertificateAuthority) -> dict[str, bytes]:
    """File name -> content for one cluster's ``cacerts`` secret (Makefile.selfsigned.mk)."""
    return {
        "ca-cert.pem": intermediate.cert_pem(),
        "ca-key.pem": intermediate.key_pem(),
        "root-cert.pem": root.cert_pem(),
        "cert-chain.pem": intermediate.cert_pem() + root.cert_pem(),
    }


def write_cacerts(directory: Path, files: dict[str, bytes]) -> list[Path]:
    """Write the files owner-only (0700 directory, 0600 files); return their paths in secret order."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    paths = []
    for name in CACERTS_FILES:
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(files[name])
        paths.append(path)
    return paths


def generate_mesh_cacerts(base: Path, clusters: list[str], key_size: int = KEY_SIZE) -> dict[str, list[Path]]:
    """One root, one intermediate per cluster, written to ``base/<cluster>/``; cluster -> paths."""
    root = make_root_ca(key_size)
    return {
        cluster: write_cacerts(
            base / cluster, cacerts_files(root, make_intermediate_ca(root, cluster, key_size))
        )
        for cluster in clusters
    }
