"""Which of Istio's multicluster models the clusters form, found from what the run read.

Istio documents four (istio.io/latest/docs/setup/install/multicluster/): multi-primary or
primary-remote, each on one network or on several. A cluster is a primary when it runs an istiod
of the revision; its network is the one istiod puts it on (istio-system's
topology.istio.io/network label, else the install's values.global.network; mesh/controlplane.py).
Several networks mean pods of different networks cannot reach each other directly, only through
each network's east-west gateway. This is an observation, not a verdict: the checks judge whether
what was found works (checks/networks.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from meshconform.mesh.facts import MeshFacts

PRIMARY = "primary"
REMOTE = "remote"  # no istiod; istio-system annotated with the primaries that control it
NO_ISTIOD = "no istiod"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Member:
    cluster: str
    role: str  # primary, remote, no istiod, unknown (control plane not read)
    network: str  # "" when neither the label nor the install names one (Istio's default network)


def members(facts: MeshFacts) -> list[Member]:
    return [_member(facts, name) for name in facts.clusters]


def _member(facts: MeshFacts, name: str) -> Member:
    c = facts.clusters[name]
    if c.control is None:
        return Member(name, UNKNOWN, "")
    revision = facts.revision_of(name)  # each cluster's own, mid-upgrade
    has = revision is not None and revision in c.control.revisions
    remote = bool(c.control.control_plane_clusters) and not c.control.istiod
    role = PRIMARY if has else REMOTE if remote else NO_ISTIOD
    return Member(name, role, c.control.network or "")


def role_of(facts: MeshFacts, name: str) -> str:
    """One cluster's role (checks ask it per pair: not by listing every member)."""
    return _member(facts, name).role if name in facts.clusters else UNKNOWN


def is_remote(facts: MeshFacts, name: str) -> bool:
    return role_of(facts, name) == REMOTE


def remotes(facts: MeshFacts) -> list[str]:
    return [m.cluster for m in members(facts) if m.role == REMOTE]


def named_primaries(facts: MeshFacts, name: str) -> list[str]:
    """The primaries a remote's controlPlaneClusters annotation names (Istio's cluster names,
    comma-separated), as they are written."""
    control = facts.clusters[name].control
    listed = (control.control_plane_clusters or "") if control else ""
    return [p.strip() for p in listed.split(",") if p.strip()]


def networks(facts: MeshFacts) -> dict[str, list[str]]:
    """network -> its clusters, in run order (clusters whose control plane was read)."""
    out: dict[str, list[str]] = {}
    for m in members(facts):
        if m.role != UNKNOWN:
            out.setdefault(m.network, []).append(m.cluster)
    return out


def multi_network(facts: MeshFacts) -> bool:
    return len(networks(facts)) > 1


def network_of(facts: MeshFacts, name: str) -> str:
    control = facts.clusters[name].control
    return (control.network or "") if control else ""


def model(facts: MeshFacts) -> str:
    """`multi-primary, one network`, `multi-primary, 2 networks`, ... as the report shows it."""
    roles = {m.role for m in members(facts)}
    kind = "multi-primary" if roles <= {PRIMARY} else "primary-remote" if PRIMARY in roles else "unknown"
    count = len(networks(facts))
    return f"{kind}, {'one network' if count <= 1 else f'{count} networks'}"
