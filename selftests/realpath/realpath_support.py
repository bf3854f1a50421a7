"""Driving the suite as a user with real clusters does: a lab started here, outside the suite, and
`python -m pytest --kubeconfig=... --ctx ...` in a subprocess against it.

The suite's own `--lab` starts and stops its lab inside the run, so nothing can be prepared before
it (a workload on an old revision) or inspected after it (`--keep`). Starting the lab in the test
process through its public API (support.LabEnv.start) and pointing the suite at its kubeconfig
is the real-cluster path, with the official client on both sides. What is particular to these
tests is here: where Istio's samples are, what counts as a write, and snapshots to compare.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client
from support import ROOT

UPSTREAM_SAMPLES = Path("/work/shared/upstream-samples/samples")
if not UPSTREAM_SAMPLES.is_dir():  # the checkout's sibling, as the issue names it
    UPSTREAM_SAMPLES = ROOT.parent / "shared" / "upstream-samples" / "samples"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def pods_ready(core: client.CoreV1Api, namespace: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        pods = core.list_namespaced_pod(namespace).items
        return len(pods) == count and all(
            any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []) for p in pods
        )

    return check


def snapshot(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> dict[str, Any]:
    """What must not change in a namespace the suite does not own: identity, labels, annotations,
    resourceVersions of the namespace, its deployments and its pods."""
    ns = core.read_namespace(namespace)

    def ident(obj: Any) -> tuple[Any, ...]:
        m = obj.metadata
        return (m.uid, m.resource_version, dict(m.labels or {}), dict(m.annotations or {}))

    return {
        "namespace": ident(ns),
        "deployments": {d.metadata.name: ident(d) for d in apps.list_namespaced_deployment(namespace).items},
        "pods": {p.metadata.name: ident(p) for p in core.list_namespaced_pod(namespace).items},
    }
