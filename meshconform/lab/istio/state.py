"""The Istio simulation's per-cluster state: install values, injector, istiods' controllers and logs.

An `IstioCluster` is what a cluster's control planes know that the Kubernetes objects do not: the
CA keys behind `cacerts`, each istiod's remote-secret controller and log. Everything observable is
still written to the cluster's store; this is the machinery behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..apiserver.lab_cluster import LabCluster
from ..controllers.registry import PerCluster
from . import meshconfig
from .inject import SidecarInjector
from .logs import IstiodLog
from .multicluster import SecretController
from .pki import Intermediate, RootCA


@dataclass
class IstioCluster:
    cluster: LabCluster
    mesh_values: meshconfig.MeshValues | None = None
    revisions: list[meshconfig.RevisionPlan] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)                      # revision tag -> revision
    root: RootCA | None = None                                             # the root that signed `ca`
    ca: Intermediate | None = None
    # every root of cacerts root-cert.pem, in file order (istiod publishes this bundle); two during
    # a root rotation (pilot/pkg/bootstrap/istio_ca.go: "root-cert.pem, which may contain multiple roots")
    bundle: list[RootCA] = field(default_factory=list)
    injector: SidecarInjector | None = None
    istiods: dict[str, SecretController] = field(default_factory=dict)     # revision -> controller
    logs: dict[str, IstiodLog] = field(default_factory=dict)               # revision -> log
    join_done: bool = False
    # Multi-network: this cluster has the east-west gateway (istio/eastwest.py); istio-system's
    # topology.istio.io/network label when it differs from the install's network (wrong-network).
    east_west: bool = False
    cross_network: bool = False   # its east-west gateway carries cross-network calls (expose-services)
    exposes_istiod: bool = False  # a primary-remote primary: istiod on the east-west gateway
    labelled_network: str | None = None
    sidecars_without_network: bool = False  # proxy-network-unset: values.global.network left empty
    control_plane: str = "in-cluster"  # or managed-istiod / managed-td (istio/managed_control_plane.py)
    # Primary-remote (istio/remote.py): the primary whose istiod controls this remote; None for a
    # cluster that runs its own istiod. Its address is where the remote's istiod Service points.
    primary: str | None = None
    discovery_address: str = ""

    @property
    def remote(self) -> bool:
        return self.primary is not None

    @property
    def bundle_pem(self) -> str:
        return "".join(r.pem for r in self.bundle or ([self.root] if self.root else []))

    def trusts(self, root: RootCA | None) -> bool:
        """Whether a workload whose chain ends at `root` is accepted here (Envoy's validation context
        holds every root of the bundle)."""
        held = self.bundle or ([self.root] if self.root else [])
        return root is not None and any(r.fingerprint == root.fingerprint for r in held)

    def controller(self, revision: str) -> SecretController | None:
        return self.istiods.get(revision)

    def log(self, revision: str) -> IstiodLog:
        return self.logs.setdefault(revision, IstiodLog())

    @property
    def revision_names(self) -> list[str]:
        return [r.revision for r in self.revisions]


STATE: PerCluster[IstioCluster] = PerCluster(IstioCluster)


def of(cluster: LabCluster) -> IstioCluster:
    return STATE(cluster)


def control_cluster(cluster: LabCluster) -> LabCluster:
    """The cluster whose istiod serves this one's proxies: itself, or a remote's primary."""
    primary = of(cluster).primary
    return cluster.peers.get(primary, cluster) if primary is not None else cluster
