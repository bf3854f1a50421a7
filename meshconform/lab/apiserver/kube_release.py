"""The Kubernetes release a lab cluster runs: what /version, the nodes' kubelets and OpenAPI report.

A cluster's release is a `LabCluster` attribute (`cluster.release`), chosen at start for the Istio
it runs (istio/kube_support.py) and settable afterwards with `set_release` (which also moves the
nodes' `status.nodeInfo.kubeletVersion`, as a node-pool upgrade does), so a fault can put one
cluster on a release its Istio does not support.

/version is `k8s.io/apimachinery/pkg/version.Info` as the apiserver serves it
(staging/src/k8s.io/apimachinery/pkg/version/types.go): 1.33 added emulationMajor/emulationMinor
and minCompatibilityMajor/minCompatibilityMinor (compatibility versions, KEP-4330, filled by
k8s.io/component-base/compatibility); 1.18 has the nine classic fields only. GKE builds carry a
`-gke.N` suffix on gitVersion and the node's kubeletVersion alike.

Which releases the lab knows: v1.33 (what a current Cloud Service Mesh runs on, and what the
modern kubectl the self-tests use, 1.33, matches), v1.18 (the newest Kubernetes Istio 1.6/1.7
supported: istio.io/v1.7/about/supported-releases, "1.7: 1.16, 1.17, 1.18"; the guide's ASM 1.7
era) and v1.20 (the release the lab served before, kept for a fault or a test to pick).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KubeRelease:
    git_version: str  # v1.33.5-gke.1201000
    git_commit: str
    build_date: str
    go_version: str
    containerd: str  # the node's containerRuntimeVersion on that GKE release

    @property
    def minor(self) -> int:
        return int(self.git_version.lstrip("v").split(".")[1])

    def version_info(self) -> dict[str, Any]:
        """The /version document."""
        info: dict[str, Any] = {"major": "1", "minor": str(self.minor)}
        if self.minor >= 33:
            # a binary at its own version emulates itself; it stays compatible with one minor back
            info |= {
                "emulationMajor": "1",
                "emulationMinor": str(self.minor),
                "minCompatibilityMajor": "1",
                "minCompatibilityMinor": str(self.minor - 1),
            }
        return info | {
            "gitVersion": self.git_version,
            "gitCommit": self.git_commit,
            "gitTreeState": "clean",
            "buildDate": self.build_date,
            "goVersion": self.go_version,
            "compiler": "gc",
            "platform": "linux/amd64",
        }


RELEASES = {
    33: KubeRelease(
        "v1.33.5-gke.1201000", "4ecfbd3a48bb5e0b6d8ae93b7b6bc3d3c0e0d7e1", "2025-10-02T04:11:35Z",
        "go1.24.6 X:boringcrypto", "containerd://2.0.6",
    ),
    20: KubeRelease(
        "v1.20.15-gke.1000", "0ba6d2b5ad0e7b6cd3d2a8b1d6c6f1ea0f9ee1f0", "2022-03-04T09:27:21Z",
        "go1.15.15b5", "containerd://1.4.3",
    ),
    18: KubeRelease(
        "v1.18.20-gke.901", "1f3e19b7beb1cc0110255668c4238ed63dadb7ad", "2021-06-02T03:22:12Z",
        "go1.13.15b4", "docker://19.3.14",
    ),
}
DEFAULT = RELEASES[33]


def release(minor: int) -> KubeRelease:
    """The lab's release of Kubernetes 1.<minor>; KeyError names the ones it has."""
    try:
        return RELEASES[minor]
    except KeyError:
        raise KeyError(f"the lab has no Kubernetes 1.{minor} (it has {sorted(RELEASES)})") from None


def parse(text: str) -> KubeRelease:
    """`1.20`, `v1.20` or a full gitVersion (`v1.29.4-gke.1043002`): a lab release, or one made
    from the given gitVersion (the commit and build of the nearest one the lab has)."""
    version = text if text.startswith("v") else f"v{text}"
    parts = version.lstrip("v").split(".")
    if len(parts) < 2 or not parts[0] == "1" or not parts[1].isdigit():
        raise ValueError(f"not a Kubernetes version: {text!r} (give 1.MINOR or a gitVersion)")
    minor = int(parts[1])
    if len(parts) == 2:
        return release(minor)
    base = min(RELEASES.values(), key=lambda r: abs(r.minor - minor))
    return KubeRelease(version, base.git_commit, base.build_date, base.go_version, base.containerd)
