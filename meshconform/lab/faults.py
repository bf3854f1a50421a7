"""Fault specs: the control surface that bends one fact of a healthy mesh (the check catalogue's faults).

Only this module interprets fault names. It parses and validates `NAME[:ARG]` specs into `Fault`s
(one-line LabConfigError for anything wrong, naming what is allowed), and keeps the registry of
effects: lab-sim registers a function per fault name with `@effect("name")`; Lab.start calls them
after the base install. Faults that are API behaviour (api-down, flaky-api) are consulted by the
HTTP middleware at request time instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# name -> argument shape. CLUSTER: one cluster; PAIR: A->B; TWO: A,B; "": none.
SPECS: dict[str, str] = {
    "api-down": "CLUSTER",
    "istiod-down": "CLUSTER",
    "revision-mismatch": "",
    "old-istiod": "CLUSTER",
    # Upgrade rehearsal: a cluster on a Kubernetes its newest revision does not support; the newest
    # revision's istiod without its own ClusterRoleBinding (it cannot read the cluster).
    "kubernetes-version-unsupported": "CLUSTER",
    "istiod-reader-rbac-missing": "CLUSTER",
    "proxy-outdated": "CLUSTER",
    "root-ca-mismatch": "",
    "root-rotation": "",
    "root-rotation-incomplete": "",
    "trust-domain-mismatch": "",
    "multi-network": "",
    # Multi-network (--lab-networks N, N > 1): what keeps one network from reaching another.
    "ew-gateway-pending": "CLUSTER",
    "no-cross-network-gateway": "CLUSTER",
    "port-15443-closed": "",
    "wrong-network": "CLUSTER",
    "proxy-network-unset": "CLUSTER",
    # Primary-remote (--lab-model primary-remote): a remote cut off from its primary.
    "remote-injector-dead-istiod": "CLUSTER",
    "remote-no-secret": "CLUSTER",
    "istiod-not-exposed": "CLUSTER",
    "no-secret": "PAIR",
    "stale-secret": "PAIR",
    "reader-rbac-missing": "CLUSTER",
    "duplicate-cluster-name": "",
    "duplicate-secret": "PAIR",
    "api-unreachable-from": "PAIR",
    "webhook-missing": "CLUSTER",
    "proxy-not-ready": "CLUSTER",
    "stale-injector": "CLUSTER",
    "tag-relabelled": "CLUSTER",
    "hello-errors": "CLUSTER",
    "hello-localhost": "CLUSTER",
    "sidecar-bypass": "CLUSTER",
    "telemetry-off": "CLUSTER",
    "outside-cluster": "CLUSTER",
    "version-mislabel": "CLUSTER",
    "tls-disabled": "CLUSTER",
    "permissive-default": "CLUSTER",
    "trust-domain-migration": "",
    "partition": "TWO",
    "locality-lb": "",
    "skew": "",
    "flaky-api": "",
    "slow-start": "",
    # A managed control plane's (need --lab-control-plane CLUSTER=managed-istiod or managed-td)
    "revision-stalled": "CLUSTER",
    "mdp-down": "CLUSTER",
    "multicluster-mode-missing": "CLUSTER",
    "secrets-under-td": "CLUSTER",
    "fleet-discovery-broken": "CLUSTER",
    "cni-node-not-ready": "CLUSTER",
    # Shape variants: healthy secrets as other tools make them (istio/remote_secret_exchange.py);
    # they must pass.
    "secret-unannotated": "PAIR",
    "secret-renamed": "PAIR",
    "secret-other-address": "PAIR",
}
# These start the lab joined (but for the fault itself).
JOIN_FAULTS = frozenset(
    {
        "no-secret",
        "stale-secret",
        "reader-rbac-missing",
        "duplicate-cluster-name",
        "duplicate-secret",
        "api-unreachable-from",
        "secret-unannotated",
        "secret-renamed",
        "secret-other-address",
        "secrets-under-td",
        "remote-no-secret",
    }
)
# These need their cluster to be a remote (--lab-model primary-remote).
REMOTE_FAULTS = frozenset({"remote-injector-dead-istiod", "remote-no-secret"})
# This one needs its cluster to be a primary that remotes name (--lab-model primary-remote).
SERVING_PRIMARY_FAULTS = frozenset({"istiod-not-exposed"})
# These bend what several networks have (east-west gateways): they need more than one network.
NETWORK_FAULTS = frozenset(
    {"ew-gateway-pending", "no-cross-network-gateway", "port-15443-closed", "proxy-network-unset"}
)
_NEEDS = {
    "CLUSTER": ("a cluster", "cluster-2"),
    "PAIR": ("a pair of clusters", "cluster-1->cluster-2"),
    "TWO": ("two clusters", "cluster-1,cluster-2"),
}


class LabConfigError(ValueError):
    """A bad lab option (fault, revision, cluster count); the message is one line for the user."""


@dataclass(frozen=True)
class Fault:
    name: str
    args: tuple[str, ...] = ()  # cluster names, in the order written (A->B: (A, B))

    @property
    def arg(self) -> str:
        """The argument as written: `cluster-2`, `cluster-1->cluster-2`, `cluster-1,cluster-2`."""
        sep = "->" if SPECS[self.name] == "PAIR" else ","
        return sep.join(self.args)

    def __str__(self) -> str:
        return f"{self.name}:{self.arg}" if self.args else self.name


def known_faults() -> list[str]:
    """Fault spec patterns, e.g. `api-down:CLUSTER`, `no-secret:A->B`."""
    shapes = {"CLUSTER": ":CLUSTER", "PAIR": ":A->B", "TWO": ":A,B", "": ""}
    return [name + shapes[shape] for name, shape in SPECS.items()]


def parse_fault(spec: str, clusters: Iterable[str]) -> Fault:
    names = list(clusters)
    name, _, arg = spec.strip().partition(":")
    if name not in SPECS:
        raise LabConfigError(f"unknown lab fault {name!r}; known: {', '.join(known_faults())}")
    shape = SPECS[name]
    if not shape:
        if arg:
            raise LabConfigError(f"lab fault {name!r} takes no argument, got {spec!r}")
        return Fault(name)
    what, example = _NEEDS[shape]
    sep = {"CLUSTER": None, "PAIR": "->", "TWO": ","}[shape]
    args = tuple(a.strip() for a in (arg.split(sep) if sep else [arg]))
    if not arg or len(args) != (1 if sep is None else 2) or not all(args):
        raise LabConfigError(f"lab fault {name!r} needs {what}, e.g. {name}:{example}")
    for a in args:
        if a not in names:
            raise LabConfigError(
                f"lab fault {spec!r} names unknown cluster {a!r}; clusters: {', '.join(names)}"
            )
    if len(set(args)) != len(args):
        raise LabConfigError(f"lab fault {spec!r} needs two different clusters, e.g. {name}:{example}")
    return Fault(name, args)


class FaultSet(tuple[Fault, ...]):
    """The lab's parsed faults (all of them; each cluster sees the same set)."""

    @classmethod
    def parse(cls, specs: Iterable[str], clusters: Iterable[str]) -> FaultSet:
        names = list(clusters)
        return cls(dict.fromkeys(parse_fault(s, names) for s in specs))

    def named(self, name: str) -> list[Fault]:
        return [f for f in self if f.name == name]

    def has(self, name: str, arg: str | None = None) -> bool:
        """Is fault `name` on (with exactly this argument, when given: `cluster-2`, `A->B`)?"""
        return any(f.name == name and (arg is None or f.arg == arg) for f in self)

    def touches(self, name: str, cluster: str) -> bool:
        """Is fault `name` on with `cluster` among its arguments?"""
        return any(f.name == name and cluster in f.args for f in self)

    @property
    def joined(self) -> bool:
        return any(f.name in JOIN_FAULTS for f in self)


# name -> effects, called by Lab.start as fn(lab, fault) after the base install.
Effect = Callable[[Any, Fault], None]
EFFECTS: dict[str, list[Effect]] = {}


def effect(name: str) -> Callable[[Effect], Effect]:
    """Register a start-time effect for fault `name` (used by lab-sim's modules)."""
    if name not in SPECS:
        raise KeyError(f"no such lab fault {name!r}")

    def register(fn: Effect) -> Effect:
        EFFECTS.setdefault(name, [])
        if fn not in EFFECTS[name]:
            EFFECTS[name].append(fn)
        return fn

    return register
