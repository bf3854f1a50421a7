"""Declaring endpoint discovery on a managed cluster: `multicluster_mode: connected` in asm-options.

Where a mesh declares Google's declarative endpoint discovery (mesh/control_plane_kind.py), the
way to join a managed cluster is that declaration, never a remote secret: under TRAFFIC_DIRECTOR
Istio's secrets are not supported (Google, "Configuration updates for modernization", which sets
it with `kubectl patch configmap/asm-options -n istio-system --type merge -p
'{"data":{"multicluster_mode":"connected"}}'`). `--join create` does that where it is missing and
marks what it did on the ConfigMap (the run's labels, and the previous value in an annotation, or
that the run created the ConfigMap), so that clean-up, of this run or a later `--cleanup-only`,
puts back exactly what was there.

Two runs on the same clusters share the one ConfigMap, as they share remote secrets, and follow
the same hand-over (run/cleanup.py): a run that finds the declaration made by another live run
relies on it and marks it (`meshconform.io/kept-by`), never recording that run's value as the one
to put back; the maker's clean-up hands the ConfigMap, with the original previous value, to a run
still live in the cluster instead of restoring it. Every write carries the resourceVersion it was
decided on, so a write that raced another run's is refused (409) and decided again.
"""

from __future__ import annotations

from collections.abc import Collection

from meshconform.kube import errors
from meshconform.kube.client import MERGE_PATCH, Cluster, Obj
from meshconform.mesh.control_plane_kind import CONNECTED, ISTIO_NS, MODE_KEY, OPTIONS
from meshconform.mesh.remote_secrets import KEPT_BY
from meshconform.mesh.samples import MANAGED_BY, OWNER, RUN_ID, ours_selector

BEFORE = "meshconform.io/multicluster-mode-before"  # the value before the run; CREATED, ABSENT
CREATED = "<configmap created by the run>"
ABSENT = "<no multicluster_mode>"
# Each 409 means another run wrote asm-options in between; more in a row is a loop, not a race.
DECLARE_ATTEMPTS = 5


def declare(cluster: Cluster, run_id: str) -> str:
    """Set multicluster_mode: connected, or rely on another run's declaration; returns what was
    done, for the join's note. Raises KubeError when asm-options keeps changing under it."""
    for _ in range(DECLARE_ATTEMPTS):
        try:
            return _declare_once(cluster, run_id)
        except errors.Conflict:
            continue  # another run created or changed it since it was read: decide again
    raise errors.KubeError(
        f"declare {MODE_KEY} in configmap {ISTIO_NS}/{OPTIONS} on {cluster.name}",
        "Conflict",
        f"it kept changing under concurrent writers ({DECLARE_ATTEMPTS} attempts)",
    )


def _declare_once(cluster: Cluster, run_id: str) -> str:
    try:
        cm = read(cluster)
    except errors.NotFound:
        _create(cluster, run_id)
        return f"created ConfigMap {ISTIO_NS}/{OPTIONS} with {MODE_KEY}: {CONNECTED}"
    before = (cm.get("data") or {}).get(MODE_KEY)
    version = cm["metadata"].get("resourceVersion")
    maker = declared_by(cm)
    if before == CONNECTED and maker not in (None, run_id):
        _patch(cluster, {"metadata": {"resourceVersion": version, "annotations": {KEPT_BY: run_id}}})
        return f"{MODE_KEY}: {CONNECTED} declared by run {maker}, relied on (its clean-up hands it over)"
    if before == CONNECTED:
        return f"{MODE_KEY}: {CONNECTED} already declared"
    patch = {
        "metadata": {
            "resourceVersion": version,
            "labels": {MANAGED_BY: OWNER, RUN_ID: run_id},
            "annotations": {BEFORE: ABSENT if before is None else str(before)},
        },
        "data": {MODE_KEY: CONNECTED},
    }
    _patch(cluster, patch)
    return f"set {MODE_KEY}: {CONNECTED} in ConfigMap {ISTIO_NS}/{OPTIONS} (was {before or 'unset'})"


def declared_by(cm: Obj) -> str | None:
    """The run whose declaration this is (its labels), None when no meshconform run made it."""
    labels = cm["metadata"].get("labels") or {}
    return labels.get(RUN_ID) if labels.get(MANAGED_BY) == OWNER else None


def read(cluster: Cluster) -> Obj:
    cm: Obj = cluster.read(
        f"GET configmap {ISTIO_NS}/{OPTIONS}", cluster.core.read_namespaced_config_map, OPTIONS, ISTIO_NS
    )
    return cm


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
    )  # 409 when another run created it first: declare decides again


def _patch(cluster: Cluster, patch: Obj) -> Obj:
    stored: Obj = cluster.write(
        f"PATCH configmap {ISTIO_NS}/{OPTIONS}",
        cluster.core.patch_namespaced_config_map,
        OPTIONS,
        ISTIO_NS,
        patch,
        _content_type=MERGE_PATCH,
        idempotent=True,  # a repeat after a lost reply meets 409 (its resourceVersion) and reads again
    )
    return stored


def declarations(cluster: Cluster, run_id: str | None, spare: Collection[str] = ()) -> list[Obj]:
    """asm-options as a run declared it: this run's (or any run's when run_id is None, but the
    `spare` runs', which are alive)."""
    listing = cluster.read(
        f"LIST configmaps {ISTIO_NS} -l {ours_selector(run_id)}",
        cluster.core.list_namespaced_config_map,
        ISTIO_NS,
        label_selector=ours_selector(run_id),
    )
    return [
        cm
        for cm in listing.get("items") or []
        if cm["metadata"]["name"] == OPTIONS and declared_by(cm) is not None and declared_by(cm) not in spare
    ]


def put_back(cluster: Cluster, cm: Obj) -> str:
    """asm-options as the declaring run found it, if it is still the version read (else 409);
    returns what was done, as a suffix of the clean-up line."""
    before = (cm["metadata"].get("annotations") or {}).get(BEFORE)
    version = cm["metadata"].get("resourceVersion")
    if before == CREATED:
        body = {"preconditions": {"resourceVersion": version}} if version else None
        cluster.write(
            f"DELETE configmap {ISTIO_NS}/{OPTIONS}",
            cluster.core.delete_namespaced_config_map,
            OPTIONS,
            ISTIO_NS,
            body=body,
            idempotent=True,
        )
        return " (deleted)"
    value = None if before in (None, ABSENT) else before
    _patch(cluster, {
        "metadata": {
            "resourceVersion": version,
            "labels": {MANAGED_BY: None, RUN_ID: None},
            "annotations": {BEFORE: None, KEPT_BY: None},
        },
        "data": {MODE_KEY: value},
    })
    return f" ({MODE_KEY} restored)"


def hand_to(cluster: Cluster, cm: Obj, run_id: str) -> Obj:
    """The declaration relabelled to a live run, its previous value unchanged (409 if it changed)."""
    version = cm["metadata"].get("resourceVersion")
    return _patch(cluster, {"metadata": {"resourceVersion": version, "labels": {RUN_ID: run_id}}})
