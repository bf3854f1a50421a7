"""The Istio simulation's per-cluster state: install facts, injector, istiods' controllers and logs.

An `IstioCluster` is what a cluster's control planes know that the Kubernetes objects do not: the
CA keys behind `cacerts`, each istiod's remote-secret controller and log. Everything observable is
still written to the cluster's store; this is the machinery behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..cluster import LabCluster
from ..controllers.registry import PerCluster
from . import meshconfig as mc
from .inject import Injector
from .logs import IstiodLog
from .multicluster import SecretController
from .pki import Intermediate, RootCA


@dataclass
class IstioCluster:
    cluster: LabCluster
    facts: mc.MeshFacts | None = None
    revisions: list[mc.RevisionPlan] = field(default_factory=list)
    root: RootCA | None = None
    ca: Intermediate | None = None
    injector: Injector | None = None
    istiods: dict[str, SecretController] = field(default_factory=dict)     # revision -> controller
    logs: dict[str, IstiodLog] = field(default_factory=dict)               # revision -> log
    join_done: bool = False

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
