"""LabOptions and their validation: every mistake becomes one LabConfigError line, no traceback."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .faults import NETWORK_FAULTS, REMOTE_FAULTS, SERVING_PRIMARY_FAULTS, FaultSet, LabConfigError
from .istio import revisions as rv
from .istio.revisions import DEFAULT_REVISION, SPEC_VERSION

MAX_CLUSTERS = 20  # 380 ordered pairs; a one-cluster lab serves API fidelity tests
_REVISION = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


MAX_LATENCY = 5.0  # seconds: beyond this every wait of the suite is a timeout, not a slow network
# Who serves a cluster's revision (istio/managed_control_plane.py): its own istiod, or Google's
# managed control plane with one of its two implementations (managed istiod, or TRAFFIC_DIRECTOR).
IN_CLUSTER, MANAGED_ISTIOD, MANAGED_TD = "in-cluster", "managed-istiod", "managed-td"
CONTROL_PLANES = (IN_CLUSTER, MANAGED_ISTIOD, MANAGED_TD)
# Faults that bend a managed cluster's objects: each needs its cluster managed (TD: managed-td).
MANAGED_FAULTS = {
    "revision-stalled": (MANAGED_ISTIOD, MANAGED_TD),
    "mdp-down": (MANAGED_ISTIOD, MANAGED_TD),
    "multicluster-mode-missing": (MANAGED_TD,),
    "secrets-under-td": (MANAGED_TD,),
    "fleet-discovery-broken": (MANAGED_TD,),
    "cni-node-not-ready": (MANAGED_ISTIOD, MANAGED_TD),
}
# Istio's multicluster models (istio.io "Install Multi-Primary" / "Install Primary-Remote"): every
# cluster runs istiod, or (primary-remote) the first cluster of each network does and the others
# are remotes whose injection and discovery go to that primary (istio/remote.py); with a cluster
# per network, cluster-1 alone is primary and the others its remotes across networks.
MULTI_PRIMARY, PRIMARY_REMOTE = "multi-primary", "primary-remote"
MODELS = (MULTI_PRIMARY, PRIMARY_REMOTE)
# The remote profile of the istio-discovery chart (istiodRemote.enabled), whose shapes the lab
# serves, came with Istio 1.24 (before, the separate istiod-remote chart).
REMOTE_SINCE = (1, 24)
# Faults that bend a cluster's own istiod or injector values: a remote has neither (the network
# its sidecars declare comes from its injection path).
ISTIOD_FAULTS = ("istiod-down", "old-istiod", "stale-injector", "tag-relabelled", "proxy-network-unset")


@dataclass(frozen=True)
class LabOptions:
    clusters: int = 2
    revisions: tuple[str, ...] = (DEFAULT_REVISION,)  # in every cluster not named below
    # (cluster, its revisions): one cluster upgraded ahead of the others, as a fleet does it
    cluster_revisions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # (tag, revision, cluster): `istioctl tag set TAG --revision REV` in that cluster, or (None)
    # in every cluster that runs REV and has no tag of that name of its own
    tags: tuple[tuple[str, str, str | None], ...] = ()
    joined: bool = False
    faults: tuple[str, ...] = ()
    ready_delay: float = 0.3  # seconds a pod takes from Pending to Ready
    request_log: Path | None = None  # append one JSON line per API request
    # Seconds each API request waits before it is handled: the round trip to a real API server
    # (a regional GKE endpoint is ~20-50 ms away), which loopback does not have. 0 by default.
    latency: float = 0.0
    seed: int = 0  # makes flaky-api's choices repeatable
    # Istio networks the clusters are dealt onto, round-robin (cluster-1 on network1, cluster-2 on
    # network2, ...): with more than one, each cluster gets the east-west gateway of Istio's
    # "Install Multi-Primary on different networks".
    networks: int = 1
    control_planes: tuple[str, ...] = ()  # KIND (every cluster) or CLUSTER=KIND, later ones win
    model: str = MULTI_PRIMARY

    def primaries(self) -> dict[str, str | None]:
        """Each cluster's primary under primary-remote (None: it is a primary, as under multi-primary):
        the first cluster of each network is its network's primary and controls the others there.
        When that leaves no remote (a cluster per network), cluster-1 is the only primary and controls
        every other cluster across networks, through its east-west gateway, as istio.io's "Install
        Primary-Remote on different networks" does (cluster1 on network1, cluster2 on network2)."""
        if self.model != PRIMARY_REMOTE:
            return dict.fromkeys(self.cluster_names)
        if self.clusters == self.networks:
            names = self.cluster_names
            return {name: None if i == 0 else names[0] for i, name in enumerate(names)}
        first = {i: f"cluster-{i + 1}" for i in range(self.networks)}
        return {
            name: None if name == first[i % self.networks] else first[i % self.networks]
            for i, name in enumerate(self.cluster_names)
        }

    @property
    def cluster_names(self) -> list[str]:
        return [f"cluster-{i + 1}" for i in range(self.clusters)]

    def revisions_of(self, cluster: str) -> tuple[str, ...]:
        """The revision specs (REV or REV@VERSION) installed in `cluster`."""
        return dict(self.cluster_revisions).get(cluster, self.revisions)

    def validate(self) -> FaultSet:
        """Check everything; return the parsed faults."""
        if not isinstance(self.clusters, int) or not 1 <= self.clusters <= MAX_CLUSTERS:
            raise LabConfigError(f"lab clusters must be 1 to {MAX_CLUSTERS}, got {self.clusters!r}")
        _check_revisions(self.revisions)
        for cluster, specs in self.cluster_revisions:
            if cluster not in self.cluster_names:
                raise LabConfigError(
                    f"lab revisions for {cluster!r}: no such cluster "
                    f"(the lab has {', '.join(self.cluster_names)})"
                )
            _check_revisions(specs, f" of {cluster}")
        if len(dict(self.cluster_revisions)) != len(self.cluster_revisions):
            raise LabConfigError("lab revisions are given twice for one cluster; give each cluster's once")
        self._check_tags()
        if self.ready_delay < 0:
            raise LabConfigError(f"lab ready delay must be >= 0 seconds, got {self.ready_delay}")
        if not 0 <= self.latency <= MAX_LATENCY:
            raise LabConfigError(f"lab latency must be 0 to {MAX_LATENCY:g} seconds, got {self.latency}")
        if not isinstance(self.networks, int) or not 1 <= self.networks <= max(1, self.clusters):
            raise LabConfigError(
                f"lab networks must be 1 to the number of clusters ({self.clusters}), got {self.networks!r}"
            )
        faults = FaultSet.parse(self.faults, self.cluster_names)
        self._check_model(faults)
        bends = [f for f in faults if f.name in NETWORK_FAULTS]
        if bends and self.networks < 2:
            raise LabConfigError(
                f"lab fault {bends[0]} needs two networks or more (networks 2), got {self.networks}"
            )
        for c in self.cluster_names:
            revs = [s.partition("@")[0] for s in self.revisions_of(c)]
            if faults.touches("tag-relabelled", c) and (len(revs) < 2 or not self.tags_of(c, revs)):
                raise LabConfigError(
                    f"lab fault tag-relabelled:{c} needs two revisions and a revision tag in {c} "
                    "(--revisions, --tags)"
                )
        kinds = self.control_plane_kinds()
        for fault in faults:
            allowed = MANAGED_FAULTS.get(fault.name)
            if allowed and kinds[fault.args[0]] not in allowed:
                raise LabConfigError(
                    f"lab fault {fault} needs {fault.args[0]} to run {' or '.join(allowed)}, e.g. "
                    f"--lab-control-plane {fault.args[0]}={allowed[-1]}"
                )
        return faults

    def _check_model(self, faults: FaultSet) -> None:
        if self.model not in MODELS:
            raise LabConfigError(f"lab model {self.model!r} is not one of {', '.join(MODELS)}")
        primaries = self.primaries()
        remotes = [c for c, p in primaries.items() if p is not None]
        for fault in faults:
            if fault.name in REMOTE_FAULTS and fault.args[0] not in remotes:
                raise LabConfigError(
                    f"lab fault {fault} needs {fault.args[0]} to be a remote (--lab-model primary-remote; "
                    f"remotes: {', '.join(remotes) or 'none'})"
                )
            serving = sorted({p for p in primaries.values() if p is not None})
            if fault.name in SERVING_PRIMARY_FAULTS and fault.args[0] not in serving:
                raise LabConfigError(
                    f"lab fault {fault} needs {fault.args[0]} to be a primary with remotes "
                    f"(--lab-model primary-remote; such primaries: {', '.join(serving) or 'none'})"
                )
            if fault.name in ISTIOD_FAULTS and fault.args and fault.args[0] in remotes:
                raise LabConfigError(
                    f"lab fault {fault}: {fault.args[0]} is a remote, with no istiod nor injector values "
                    "of its own (its primary's serve it)"
                )
        if self.model != PRIMARY_REMOTE:
            return
        if not remotes:
            raise LabConfigError(
                f"lab model primary-remote needs a remote: two clusters or more, got {self.clusters}"
            )
        if any(kind != IN_CLUSTER for kind in self.control_plane_kinds().values()):
            raise LabConfigError("lab model primary-remote: every primary runs its own istiod (in-cluster), "
                                 "a remote its primary's")
        if any(c in remotes for c, _ in self.cluster_revisions):
            raise LabConfigError(
                "lab model primary-remote: a remote runs its primary's revisions; give them there"
            )
        if self.tags:
            raise LabConfigError("lab model primary-remote: revision tags are not modelled there")
        for c in self.cluster_names:
            for spec in self.revisions_of(c):
                if not rv.at_least(rv.split_spec(spec)[1], REMOTE_SINCE):
                    raise LabConfigError(
                        f"lab model primary-remote needs Istio 1.24 or later (the remote profile of the "
                        f"istio-discovery chart); {spec} is older"
                    )

    def control_plane_kinds(self) -> dict[str, str]:
        """Each cluster's control plane kind (in-cluster unless a spec says otherwise)."""
        kinds = dict.fromkeys(self.cluster_names, IN_CLUSTER)
        for spec in self.control_planes:
            name, sep, kind = spec.rpartition("=")
            if kind not in CONTROL_PLANES:
                raise LabConfigError(
                    f"lab control plane {spec!r}: {kind!r} is not one of {', '.join(CONTROL_PLANES)} "
                    "(KIND for every cluster, or CLUSTER=KIND)"
                )
            if sep and name not in kinds:
                raise LabConfigError(
                    f"lab control plane {spec!r} names unknown cluster {name!r}; clusters: "
                    f"{', '.join(self.cluster_names)}"
                )
            kinds.update({name: kind} if sep else dict.fromkeys(kinds, kind))
        return kinds

    def tags_of(self, cluster: str, installed: list[str]) -> dict[str, str]:
        """Revision tag -> revision in `cluster` (running `installed`): its own entries (TAG=REV:CLUSTER),
        else every-cluster ones whose revision runs there."""
        own = {tag: rev for tag, rev, where in self.tags if where == cluster}
        every = {tag: rev for tag, rev, where in self.tags if where is None and rev in installed}
        return {**every, **own}

    def _check_tags(self) -> None:
        """As istioctl tag set refuses (istioctl/pkg/tag/generate.go Generate): a tag named like a
        revision, a revision with no webhook, a tag set twice; and before Istio 1.10, which has none."""
        installed = {c: dict(rv.split_spec(s) for s in self.revisions_of(c)) for c in self.cluster_names}
        for tag, rev, cluster in self.tags:
            shown = f"{tag}={rev}" + (f":{cluster}" if cluster else "")
            if len(tag) > 63 or not _REVISION.fullmatch(tag):
                raise LabConfigError(
                    f"lab tag {tag!r} is not a valid tag name (lower case letters, digits and '-')"
                )
            if cluster is not None and cluster not in installed:
                raise LabConfigError(f"lab tag {shown}: no such cluster")
            where = [c for c, revs in installed.items() if rev in revs and cluster in (None, c)]
            if not where:
                raise LabConfigError(f"lab tag {shown}: no cluster there runs revision {rev}")
            if any(tag in revs for revs in installed.values()) and tag != "default":
                raise LabConfigError(f"lab tag {tag!r}: a revision has that name (istioctl refuses it too)")
            if not all(rv.at_least(installed[c][rev], rv.TAGS_SINCE) for c in where):
                raise LabConfigError(
                    f"lab tag {shown}: revision tags came with Istio 1.10; {rev} is older"
                )
        for c, revs in installed.items():
            for scope in (None, c):
                tags = [t for t, rev, where in self.tags if where == scope and rev in revs]
                if len(set(tags)) != len(tags):
                    raise LabConfigError(
                        f"lab tags: one tag names two revisions in {c} (istioctl sets one); "
                        f"give {c}'s as TAG=REV:{c}"
                    )


def _check_revisions(specs: tuple[str, ...], where: str = "") -> None:
    if not specs:
        raise LabConfigError(f"lab needs at least one revision{where}, e.g. {DEFAULT_REVISION}")
    for spec in specs:
        rev, sep, tag = spec.partition("@")
        if len(rev) > 63 or not _REVISION.fullmatch(rev):
            raise LabConfigError(
                f"lab revision {rev!r} is not a valid revision name (lower case "
                f"letters, digits and '-', e.g. {DEFAULT_REVISION})"
            )
        if sep and not SPEC_VERSION.fullmatch(tag):
            raise LabConfigError(
                f"lab revision {spec!r}: {tag!r} is not an Istio version (e.g. default@1.7.3, "
                "canary@1.28.5-asm.9)"
            )
    names = [spec.partition("@")[0] for spec in specs]
    if len(set(names)) != len(names):
        raise LabConfigError(f"lab revisions{where} repeat: {','.join(specs)}")


def parse_revisions(text: str) -> tuple[str | None, tuple[str, ...]]:
    """`REV[,REV]` (every cluster) or `CLUSTER=REV[,REV]` (one) -> (cluster or None, specs)."""
    cluster, sep, specs = text.rpartition("=")
    revs = tuple(r.strip() for r in specs.split(",") if r.strip())
    if (sep and not cluster) or not revs:
        raise LabConfigError(f"lab revisions {text!r}: give REV[,REV] or CLUSTER=REV[,REV]")
    return (cluster if sep else None), revs


def parse_tag(text: str) -> tuple[str, str, str | None]:
    """`TAG=REV[:CLUSTER]`, as istioctl tag set TAG --revision REV (in CLUSTER, else where REV runs)."""
    tag, sep, rest = text.partition("=")
    rev, colon, cluster = rest.partition(":")
    if not sep or not tag or not rev or (colon and not cluster):
        raise LabConfigError(
            f"lab tag {text!r}: give TAG=REV or TAG=REV:CLUSTER, e.g. prod-stable={DEFAULT_REVISION}"
        )
    return tag, rev, cluster or None
