"""Which Kubernetes release a lab cluster runs: one that the Istio it was installed with supports.

Istio publishes, per minor release, the Kubernetes minors it supports (istio.io "Supported
Releases", rendered from istio/istio.io data/compatibility/supportStatus.yaml; 1.6 from
istio.io/v1.7/about/supported-releases, 1.28 from istio.io/latest/docs/releases/supported-releases).
Cloud Service Mesh and ASM follow the Istio minor they are built on. A cluster created for a mesh
runs a Kubernetes that all of its revisions support, and the newest such one the lab has
(apiserver/kube_release.py): a current CSM 1.28 gets 1.33, the guide's ASM 1.7 gets 1.18, an ASM
1.10 gets 1.20. A minor missing from the table counts as current (the lab's default release),
as an unversioned image tag does. When a cluster's revisions share no Kubernetes minor, the
newest revision decides (the cluster was moved up for it).

The release is chosen once, when the cluster is created: installing a revision later
(istio/upgrade.py) does not upgrade Kubernetes, as on a real cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..apiserver.kube_release import DEFAULT, RELEASES, KubeRelease

# Istio minor -> the Kubernetes minors it supports
SUPPORTED_KUBERNETES: dict[int, range] = {
    6: range(15, 19),
    7: range(16, 19),
    8: range(16, 20),
    9: range(17, 21),
    10: range(18, 22),
    11: range(18, 23),
    12: range(19, 23),
    13: range(20, 24),
    14: range(21, 25),
    15: range(22, 26),
    16: range(22, 26),
    17: range(23, 27),
    # 1.29-1.34 as istio.io's current page lists it; vendors' tables for Istio 1.28 (Solo: tested on
    # 1.30-1.34; IBM Cloud: >=1.31 <1.35) agree on the 1.33 the lab serves
    28: range(29, 35),
}


def _istio_minor(tag: str) -> int | None:
    m = re.match(r"1\.(\d+)\.", tag)
    return int(m[1]) if m else None


def _newest_known(minors: Iterable[int]) -> KubeRelease | None:
    have = [m for m in minors if m in RELEASES]
    return RELEASES[max(have)] if have else None


def release_for(tags: Iterable[str]) -> KubeRelease:
    """The release a cluster whose revisions run these image tags (1.7.3-asm.3, 1.28.5) is on."""
    ranges = [
        (minor, SUPPORTED_KUBERNETES[minor])
        for minor in map(_istio_minor, tags)
        if minor is not None and minor in SUPPORTED_KUBERNETES
    ]
    if not ranges:
        return DEFAULT
    common = set.intersection(*(set(r) for _, r in ranges))
    newest = max(ranges)[1]
    return _newest_known(common) or _newest_known(newest) or DEFAULT


def unsupported_for(tags: Iterable[str]) -> KubeRelease:
    """A release of the lab's that the newest of these revisions does NOT support (the
    kubernetes-version-unsupported fault): the nearest one below its window, else above it; an
    image tag whose minor the table lacks gets the oldest the lab has."""
    minors = [m for m in map(_istio_minor, tags) if m is not None]
    window = SUPPORTED_KUBERNETES.get(max(minors)) if minors else None
    if window is None:
        return RELEASES[min(RELEASES)]
    below = [m for m in RELEASES if m < window.start]
    above = [m for m in RELEASES if m >= window.stop]
    return RELEASES[max(below)] if below else RELEASES[min(above)]
