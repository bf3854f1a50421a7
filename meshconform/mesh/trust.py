"""Roots of trust and signing chains: what two clusters' workloads need to accept each other.

istiod publishes its trust bundle as ConfigMap `istio-ca-root-cert` key `root-cert.pem` in every
namespace, and that file may hold several roots: a plugged-in CA's `cacerts` Secret carries
`root-cert.pem`, "which may contain multiple roots" (pilot/pkg/bootstrap/istio_ca.go createIstioCA,
1.28.5), and a root rotation puts old and new root into it together (handleEvent accepts a new
bundle that contains the current one or is contained in it, with PILOT_ENABLE_MULTI_ROOT_MESH /
features.MultiRootMesh). A sidecar trusts every root of its bundle; it presents its workload
certificate followed by the signing CA's chain (`cacerts` `cert-chain.pem`: the intermediate, then
the root that signed it, as istio/tools/certs makes it).

So two clusters share trust when their bundles intersect and each one's signing chain ends at a
root the other trusts. Order within a bundle is no difference. The signing chain is read from
`cacerts` where the run may read it (a plugged-in CA); with Mesh CA or istiod's self-signed CA
there is no such Secret and the bundles alone are compared, saying so.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization


def certs(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, in file order; ValueError when there is none."""
    return x509.load_pem_x509_certificates(pem.encode())


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER, `AB:CD:...` as openssl prints it."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def anchor(chain: list[x509.Certificate], roots: list[x509.Certificate]) -> x509.Certificate | None:
    """The root of `roots` that `chain` (signing CA first, each issued by the next) ends at; None
    when a link does not verify or no root vouches for its top."""
    for cert, issuer in itertools.pairwise(chain):
        if not _issued_by(cert, issuer):
            return None
    if not chain:
        return None
    top = chain[-1]
    by_print = {fingerprint(r): r for r in roots}
    if fingerprint(top) in by_print:
        return by_print[fingerprint(top)]
    return next((r for r in roots if _issued_by(top, r)), None)


@dataclass(frozen=True)
class Shared:
    """How two clusters' trust compares; `problem` None when each accepts the other's workloads."""

    common: list[str]  # fingerprints in both bundles
    problem: str | None = None


def compare(
    name: str, bundle: list[str], chain: list[str], ref: str, ref_bundle: list[str], ref_chain: list[str]
) -> Shared:
    """`bundle`/`chain` are PEMs of one cluster's roots and signing chain (chain may be empty:
    unknown); the same for the reference cluster."""
    mine, theirs = [certs(p)[0] for p in bundle], [certs(p)[0] for p in ref_bundle]
    common = sorted({fingerprint(c) for c in mine} & {fingerprint(c) for c in theirs})
    if not common:
        none = f"{name}'s roots ({_prints(mine)}) and {ref}'s ({_prints(theirs)}) have none in common"
        return Shared(common, none)
    for who, signing, trusting, roots in ((name, chain, ref, theirs), (ref, ref_chain, name, mine)):
        parsed = [certs(p)[0] for p in signing]
        if parsed and anchor(parsed, roots) is None:
            return Shared(
                common,
                f"{who}'s signing CA ({subject(parsed[0])}, chain ending at {fingerprint(parsed[-1])[:23]}) "
                f"is not issued by a root {trusting} trusts ({_prints(roots)}), so {trusting} rejects "
                f"{who}'s workloads",
            )
    return Shared(common)


@functools.lru_cache(maxsize=4096)
def compare_cached(
    name: str,
    bundle: tuple[str, ...],
    chain: tuple[str, ...],
    ref: str,
    ref_bundle: tuple[str, ...],
    ref_chain: tuple[str, ...],
) -> Shared:
    """`compare`, once per distinct question: a pure function of PEM text, which every check that
    has root_ca_shared as a premise asks again (at 20 clusters, 1,159 comparisons of the same 19
    pairs of bundles: parsing and signature checks were most of the checks' own time)."""
    return compare(name, list(bundle), list(chain), ref, list(ref_bundle), list(ref_chain))


def _prints(roots: list[x509.Certificate]) -> str:
    return ", ".join(fingerprint(r)[:23] for r in roots) or "none"
