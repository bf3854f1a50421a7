"""The mesh's certificate authorities: one root per mesh, one intermediate per cluster.

The guide's Citadel setup plugs a shared root into every cluster (the `cacerts` Secret: ca-cert.pem,
ca-key.pem, root-cert.pem, cert-chain.pem, as istio/tools/certs makes them: "O=Istio, CN=Root CA"
and "O=Istio, CN=Intermediate CA, L=<cluster>"); istiod then publishes root-cert.pem in the
`istio-ca-root-cert` ConfigMap of every namespace. root-ca-mismatch gives one cluster its own root.
Keys are EC P-256 so a lab of eight clusters starts in milliseconds.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_DAY = datetime.timedelta(days=1)


def _name(cn: str, locality: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Istio"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if locality:
        attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
    return x509.Name(attrs)


def _cert(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    days: int,
    path_len: int | None,
) -> x509.Certificate:
    start = datetime.datetime.now(datetime.UTC) - _DAY
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + days * _DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(signer, hashes.SHA256())
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class Intermediate:
    cert_pem: str
    key_pem: str
    root_pem: str

    @property
    def chain_pem(self) -> str:
        return self.cert_pem + self.root_pem


class RootCA:
    def __init__(self, name: str = "Root CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = _cert(_name(name), self._key, _name(name), self._key, 3650, None)
        self.pem = _pem(self._cert)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self._cert.public_bytes(serialization.Encoding.DER)).hexdigest()

    def intermediate(self, cluster: str) -> Intermediate:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(_name("Intermediate CA", cluster), key, self._cert.subject, self._key, 730, 0)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return Intermediate(_pem(cert), key_pem, self.pem)
