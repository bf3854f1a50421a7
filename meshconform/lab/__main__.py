"""`python -m meshconform.lab serve ...`: run a lab in the foreground for humans, kubectl and demos.

Bad arguments print one line on stderr and exit 2; SIGINT/SIGTERM stop the lab and exit 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

from . import Lab, LabConfigError, LabOptions, known_faults
from .istio.revisions import DEFAULT_REVISION
from .options import MAX_CLUSTERS, parse_revisions, parse_tag


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text}")
    return value


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if not 0 <= value <= 5000:
        raise argparse.ArgumentTypeError(f"must be 0 to 5000 milliseconds, got {text}")
    return value


def parser() -> _Parser:
    p = _Parser(
        prog="python -m meshconform.lab", description="Emulated Kubernetes clusters with simulated Istio."
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("serve", help="start the lab, write a kubeconfig, serve until interrupted")
    s.add_argument("--kubeconfig", required=True, type=Path, help="where to write the kubeconfig")
    s.add_argument(
        "--clusters", type=int, default=2, help=f"number of clusters, 1 to {MAX_CLUSTERS} (default 2)"
    )
    s.add_argument(
        "--networks",
        type=int,
        default=1,
        help="Istio networks the clusters are dealt onto round-robin, each with its east-west gateway "
        "(default 1)",
    )
    s.add_argument(
        "--model",
        default="multi-primary",
        metavar="MODEL",
        help="Istio's multicluster model: multi-primary (every cluster runs istiod; default) or "
        "primary-remote (the first cluster of each network is a primary, the others its remotes; "
        "with a cluster per network, cluster-1 the primary of all)",
    )
    s.add_argument(
        "--revisions",
        action="append",
        default=[],
        metavar="[CLUSTER=]REV[,REV]",
        help=f"comma-separated Istio revisions, REV or REV@VERSION, in every cluster or (CLUSTER=, "
        f"repeatable) in one (default {DEFAULT_REVISION}; the guide's ASM 1.7: asm-173-3; a "
        "default-revision Istio 1.7 install: default@1.7.3)",
    )
    s.add_argument(
        "--tags",
        action="append",
        default=[],
        metavar="TAG=REV[:CLUSTER]",
        help="revision tag to set, as istioctl tag set TAG --revision REV, in CLUSTER or in every cluster "
        "that runs REV (repeatable)",
    )
    s.add_argument("--joined", action="store_true", help="create remote secrets in every direction")
    s.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:ARG]",
        help=f"inject a fault; one of: {', '.join(known_faults())}",
    )
    s.add_argument(
        "--control-plane",
        action="append",
        default=[],
        metavar="KIND|CLUSTER=KIND",
        help="who serves a cluster's revision: in-cluster (default), managed-istiod or managed-td "
        "(Google's managed control plane); KIND for every cluster, CLUSTER=KIND for one (repeatable)",
    )
    s.add_argument("--ready-delay", type=_seconds, default=0.3, help="seconds a pod takes to become ready")
    s.add_argument(
        "--latency-ms",
        type=_milliseconds,
        default=0.0,
        help="milliseconds every API request waits first: a real API server's round trip (default 0)",
    )
    s.add_argument("--request-log", type=Path, default=None, help="append one JSON line per API request")
    return p


def _revisions(given: list[str]) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """--revisions entries -> (every cluster's, (cluster, its own)...)."""
    every: tuple[str, ...] = (DEFAULT_REVISION,)
    own = []
    for cluster, specs in (parse_revisions(g) for g in given):
        if cluster is None:
            every = specs
        else:
            own.append((cluster, specs))
    return every, tuple(own)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        every, own = _revisions(args.revisions)
        options = LabOptions(
            clusters=args.clusters,
            networks=args.networks,
            model=args.model,
            revisions=every,
            cluster_revisions=own,
            tags=tuple(parse_tag(t) for t in args.tags),
            joined=args.joined,
            faults=tuple(args.fault),
            control_planes=tuple(args.control_plane),
            ready_delay=args.ready_delay,
            request_log=args.request_log,
            latency=args.latency_ms / 1000,
        )
        lab = Lab(options)
    except LabConfigError as e:
        print(f"python -m meshconform.lab: error: {e}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with lab:
        for ctx in lab.write_kubeconfig(args.kubeconfig):
            print(ctx)
        print(f"serving {len(lab.contexts)} clusters; kubeconfig {args.kubeconfig}; Ctrl-C stops", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
