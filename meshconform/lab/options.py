"""LabOptions and their validation: every mistake becomes one LabConfigError line, no traceback."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .faults import NETWORK_FAULTS, FaultSet, LabConfigError
from .istio.revisions import DEFAULT_REVISION, SPEC_VERSION

MAX_CLUSTERS = 20  # 380 ordered pairs; a one-cluster lab serves API fidelity tests
_REVISION = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


MAX_LATENCY = 5.0  # seconds: beyond this every wait of the suite is a timeout, not a slow network


@dataclass(frozen=True)
class LabOptions:
    clusters: int = 2
    revisions: tuple[str, ...] = (DEFAULT_REVISION,)
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

    @property
    def cluster_names(self) -> list[str]:
        return [f"cluster-{i + 1}" for i in range(self.clusters)]

    def validate(self) -> FaultSet:
        """Check everything; return the parsed faults."""
        if not isinstance(self.clusters, int) or not 1 <= self.clusters <= MAX_CLUSTERS:
            raise LabConfigError(f"lab clusters must be 1 to {MAX_CLUSTERS}, got {self.clusters!r}")
        if not self.revisions:
            raise LabConfigError(f"lab needs at least one revision, e.g. {DEFAULT_REVISION}")
        for spec in self.revisions:
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
        names = [spec.partition("@")[0] for spec in self.revisions]
        if len(set(names)) != len(names):
            raise LabConfigError(f"lab revisions repeat: {','.join(self.revisions)}")
        if self.ready_delay < 0:
            raise LabConfigError(f"lab ready delay must be >= 0 seconds, got {self.ready_delay}")
        if not 0 <= self.latency <= MAX_LATENCY:
            raise LabConfigError(f"lab latency must be 0 to {MAX_LATENCY:g} seconds, got {self.latency}")
        if not isinstance(self.networks, int) or not 1 <= self.networks <= max(1, self.clusters):
            raise LabConfigError(
                f"lab networks must be 1 to the number of clusters ({self.clusters}), got {self.networks!r}"
            )
        faults = FaultSet.parse(self.faults, self.cluster_names)
        bends = [f for f in faults if f.name in NETWORK_FAULTS]
        if bends and self.networks < 2:
            raise LabConfigError(
                f"lab fault {bends[0]} needs two networks or more (networks 2), got {self.networks}"
            )
        return faults
