"""What each cluster's install looks like: revisions, image tags, network, trust domain, root CA.

The healthy mesh is the guide's: every cluster on the same revisions, one network ("network1",
one shared VPC), trust domain cluster.local, one mesh ID, one plugged-in root. Faults that change
the install itself are decided here, each changing only its own fact:
  revision-mismatch      cluster-2..N run asm-181-1 (or asm-173-3) instead of the first revision
  old-istiod:C           C's istiod image is an ASM 1.6 release before 1.6.8 (revision unchanged)
  proxy-outdated:C       C's injector values (values.global.tag of istio-sidecar-injector-<rev>) name a
                         release two minors older than its istiod's image, as an in-place upgrade that
                         replaced istiod and left the injector's values behind does: the pods get
                         proxies outside the skew Istio supports (revision unchanged)
  root-ca-mismatch       cluster-2 gets its own root CA
  root-rotation          a root rotation in progress (Istio's "plug in CA certificates" with a
                         multi-root root-cert.pem): every cluster trusts old and new root, cluster-1
                         (first in its bundle: new, old) already signs with the new one, the others
                         (old, new) still with the old one. A healthy mesh: every check passes.
  root-rotation-incomplete  the same, but cluster-2..N were not given the new root yet: they
                         trust the old one only and reject cluster-1's workloads
  trust-domain-mismatch  cluster-2's mesh config has another trust domain
  multi-network          each cluster is its own network (network1, network2, ...), labelled so,
                         but no east-west gateway was installed: nothing carries calls between
                         networks
  wrong-network:C        C's istio-system is labelled with another network than the one C's
                         install (values.global.network, its east-west gateway) and its pods are on
  proxy-network-unset:C  C was installed without values.global.network (istio-system is labelled):
                         its sidecars declare no network, and istiod sends them every endpoint as
                         if it were on their network (pilot/pkg/model/context.go `InNetwork`)

Models: under `--lab-model primary-remote` the first cluster of each network is a primary and the
other clusters of that network are its remotes (LabOptions.primaries; with a cluster per network,
cluster-1 alone is primary, its remotes on other networks): a remote runs its primary's
revisions (the one istiod serves both) and trusts its primary's root; istio/remote.py lays down what
it has instead of an istiod.

Networks: `--lab-networks N` deals the clusters round-robin onto network1..networkN (cluster-1 on
network1, cluster-2 on network2, ...); with N > 1 every cluster gets the east-west gateway of
Istio's "Install Multi-Primary on different networks" (istio/eastwest.py).
"""

from __future__ import annotations

from typing import Any

from ..apiserver.lab_cluster import LabCluster
from . import eastwest, meshconfig, remote
from . import managed_control_plane as managed
from . import revisions as rv
from .pki import RootCA
from .state import IstioCluster
from .state import of as state_of

MESH_ID = f"proj-{meshconfig.PROJECT_NUMBER}"
TRUST_DOMAIN = "cluster.local"
OTHER_TRUST_DOMAIN = "meshconform-lab.svc.id.goog"
SECOND = "cluster-2"


def _revisions(lab: Any, cluster: LabCluster, index: int) -> list[meshconfig.RevisionPlan]:
    names = [rv.split_spec(spec)[0] for spec in lab.options.revisions_of(cluster.name)]
    tags = dict(lab.revision_tags)
    if lab.faults.has("revision-mismatch") and index > 0:
        names[0] = rv.mismatch_for(names[0], tuple(names))
        tags[names[0]] = rv.version(names[0])
    out = []
    for name in names:
        tag = tags[name]
        pilot = rv.OLD_ISTIOD_VERSION if lab.faults.touches("old-istiod", cluster.name) else tag
        proxy = rv.older(tag, 2) if lab.faults.touches("proxy-outdated", cluster.name) else tag
        out.append(meshconfig.RevisionPlan(name, pilot, proxy))
    return out


def _rotation(lab: Any, index: int, old: RootCA, new: RootCA) -> tuple[RootCA, list[RootCA]]:
    """(signing root, root-cert.pem bundle) of cluster `index` during a root rotation."""
    if index == 0:
        return new, [new, old]
    if lab.faults.has("root-rotation-incomplete"):
        return old, [old]
    return old, [old, new]


def _network(lab: Any, index: int) -> str:
    if lab.faults.has("multi-network"):
        return f"network{index + 1}"
    return f"network{index % lab.options.networks + 1}"


def _wrong_network(lab: Any, network: str) -> str:
    """Another network of the lab (the next one), or network2 in a one-network lab."""
    count = max(2, lab.options.networks)
    return f"network{int(network.removeprefix('network')) % count + 1}"


def plan(lab: Any) -> dict[str, IstioCluster]:
    shared = RootCA()
    rotating = lab.faults.has("root-rotation") or lab.faults.has("root-rotation-incomplete")
    rotated = RootCA() if rotating else None  # the new root, same subject as tools/certs makes it
    out: dict[str, IstioCluster] = {}
    kinds = lab.options.control_plane_kinds()
    primaries = lab.options.primaries()
    names = list(lab.clusters)
    for index, (name, cluster) in enumerate(lab.clusters.items()):
        ist = state_of(cluster)
        ist.root = RootCA() if lab.faults.has("root-ca-mismatch") and name == SECOND else shared
        ist.bundle = [ist.root]
        if rotated is not None:
            ist.root, ist.bundle = _rotation(lab, index, shared, rotated)
        ist.ca = ist.root.intermediate(name)
        network = _network(lab, index)
        ist.cross_network = lab.options.networks > 1 and not lab.faults.has("multi-network")
        ist.primary = primaries.get(name)
        ist.exposes_istiod = ist.primary is None and any(primaries.values())
        ist.east_west = ist.cross_network or ist.exposes_istiod
        if lab.faults.touches("wrong-network", name):
            ist.labelled_network = _wrong_network(lab, network)
        ist.sidecars_without_network = lab.faults.touches("proxy-network-unset", name)
        td = (
            OTHER_TRUST_DOMAIN if lab.faults.has("trust-domain-mismatch") and name == SECOND else TRUST_DOMAIN
        )
        ist.mesh_values = meshconfig.MeshValues(
            cluster=name, network=network, trust_domain=td, mesh_id=MESH_ID
        )
        ist.control_plane = kinds.get(name, managed.IN_CLUSTER)  # the outside cluster: in-cluster
        ist.revisions = _revisions(lab, cluster, index)
        ist.tags = lab.options.tags_of(name, ist.revision_names)
        if managed.managed(ist.control_plane):  # Google serves its channel's revision at its version
            tag = ist.revisions[0].proxy_tag
            ist.revisions = [meshconfig.RevisionPlan(managed.REVISION, tag, tag)]
        if ist.primary is not None:  # a primary comes before its remotes (the first of its network)
            lead = out[ist.primary]
            ist.revisions, ist.tags = list(lead.revisions), {}
            assert lead.root is not None
            ist.root, ist.bundle = lead.root, list(lead.bundle)
            ist.ca = lead.root.intermediate(name)  # its cacerts, as the docs plug one into every cluster
            dead = lab.faults.touches("remote-injector-dead-istiod", name)
            lead_address = eastwest.address(names.index(ist.primary))
            ist.discovery_address = remote.DEAD_ADDRESS if dead else lead_address
        out[name] = ist
    return out
