"""Declaring endpoint discovery on a managed cluster: `multicluster_mode: connected` in asm-options.

Where a mesh declares Google's declarative endpoint discovery (mesh/control_plane_kind.py), the
way to join a managed cluster is that declaration, never a remote secret: under TRAFFIC_DIRECTOR
Istio's secrets are not supported (Google, "Configuration updates for modernization", which sets
it with `kubectl patch configmap/asm-options -n istio-system --type merge -p
'{"data":{"multicluster_mode":"connected"}}'`). `--join create` does that where it is missing and
marks what it did on the ConfigMap (the run's labels, and the previous value in an annotation, or
that the run created the ConfigMap), so that clean-up, of this run or a later `--cleanup-only`,
puts back exactly what was there.
"""

from __future__ import annotations

from collections.abc import Collection

from meshconform.kube import errors
from meshconform.kube.client import MERGE_PATCH, Cluster, Obj
from meshconform.mesh.control_plane_kind import CONNECTED, ISTIO_NS, MODE_KEY, OPTIONS
from meshconform.mesh.samples import MANAGED_BY, OWNER, RUN_ID, ours_selector

BEFORE = "meshconform.io/multicluster-mode-before"  # the value before the run; CREATED, ABSENT
CREATED = "<configmap created by the run>"
ABSENT = "<no multicluster_mode>"


def declare(cluster: Cluster, run_id: str) -> str:
    """Set multicluster_mode: connected; returns what was done, for the join's note."""
    try:
        cm = cluster.read(
            f"GET configmap {ISTIO_NS}/{OPTIONS}", cluster.core.read_namespaced_config_map, OPTIONS, ISTIO_NS
        )
    except errors.NotFound:
        _create(cluster, run_id)
        return f"created ConfigMap {ISTIO_NS}/{OPTIONS} with {MODE_KEY}: {CONNECTED}"
    before = (cm.get("data") or {}).get(MODE_KEY)
    if before == CONNECTED:
        return f"{MODE_KEY}: {CONNECTED} already declared"
    patch = {
        "metadata": {
            "labels": {MANAGED_BY: OWNER, RUN_ID: run_id},
            "annotations": {BEFORE: ABSENT if before is None else str(before)},
        },
        "data": {MODE_KEY: CONNECTED},
    }
    _patch(cluster, patch)
    return f"set {MODE_KEY}: {CONNECTED} in ConfigMap {ISTIO_NS}/{OPTIONS} (was {before or 'unset'})"


def _create(cluster: Cluster, run_id: str) -> None:
    body: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": OPTIONS,
            "namespace": ISTIO_NS,
            "labels": {MANAGED_BY: OWNER, RUN_ID: run_id},
            "annotations": {BEFORE: CREATED},
        },
        "data": {MODE_KEY: CONNECTED},
    }
    cluster.write(
        f"CREATE configmap {ISTIO_NS}/{OPTIONS}", cluster.core.create_namespaced_config_map, ISTIO_NS, body
    )


def _patch(cluster: Cluster, patch: Obj) -> None:
    cluster.write(
        f"PATCH configmap {ISTIO_NS}/{OPTIONS}",
        cluster.core.patch_namespaced_config_map,
        OPTIONS,
        ISTIO_NS,
        patch,
        _content_type=MERGE_PATCH,
        idempotent=True,  # the same merge twice leaves the same object
    )


def restore(cluster: Cluster, run_id: str | None, live: Collection[str] = ()) -> list[str]:
    """Put asm-options back as the run (this one, or any when run_id is None, but for the `live`
    runs, which still rely on it) found it; returns what was done."""
    listing = cluster.read(
        f"LIST configmaps {ISTIO_NS} -l {ours_selector(run_id)}",
        cluster.core.list_namespaced_config_map,
        ISTIO_NS,
        label_selector=ours_selector(run_id),
    )
    done = []
    for cm in listing.get("items") or []:
        if cm["metadata"]["name"] != OPTIONS or cm["metadata"]["labels"].get(RUN_ID) in live:
            continue
        before = (cm["metadata"].get("annotations") or {}).get(BEFORE)
        if before == CREATED:
            cluster.write(
                f"DELETE configmap {ISTIO_NS}/{OPTIONS}",
                cluster.core.delete_namespaced_config_map,
                OPTIONS,
                ISTIO_NS,
                idempotent=True,
            )
            done.append(f"{cluster.name}: configmap {ISTIO_NS}/{OPTIONS} (deleted)")
            continue
        value = None if before in (None, ABSENT) else before
        _patch(cluster, {
            "metadata": {"labels": {MANAGED_BY: None, RUN_ID: None}, "annotations": {BEFORE: None}},
            "data": {MODE_KEY: value},
        })
        done.append(f"{cluster.name}: configmap {ISTIO_NS}/{OPTIONS} ({MODE_KEY} restored)")
    return done
