"""Clean-up (the guide's step 7): namespaces, then remote secrets, each only when it carries our labels;
then the multicluster_mode a run declared in a managed cluster's asm-options, put back as it was.
The declaration is shared between runs as a remote secret is, and settled by the same protocol
(mesh/multicluster_mode.py marks it as relied on; `hand_over` below).

Remote secrets are shared between runs. istiod reads `istio-remote-secret-<cluster>` by name, so two
runs against the same clusters (two CI jobs, a person and a nightly job) use one secret per pair:
the first creates it, the other finds it and relies on it (mesh/remote_secrets.py marks it as kept,
which changes its resourceVersion). So a run does not simply delete the secrets it made; it
releases each one, with optimistic concurrency so that no interleaving of two runs loses a
secret a live run relies on, or leaves one behind when both are done:

- A run that has a live namespace in the secret's cluster (a fresh heartbeat, no deletionTimestamp)
  may rely on it: the secret is relabelled to that run (a PATCH with the resourceVersion read),
  and then the namespace list is read again. Only if that run's namespace is still live after the
  relabel is the secret its own: its clean-up deletes its namespace before it lists its secrets,
  so it will find the secret under its run id. Otherwise it may have listed them already, and the
  releasing run settles the secret again itself.
- With no live run, the secret is deleted with its resourceVersion as a precondition. A run that
  marked the secret as kept since it was read makes that delete fail with 409 Conflict; the secret
  is read again and the decision made again, so the keeper (whose namespace exists before its join)
  is found and given the secret.

A run is "live" here through a heartbeat on one of its namespaces (a run that deploys nothing
holds an empty one for this, pipeline.claim_for_heartbeat). `--join verify` writes nothing, so it
marks nothing and holds nothing: beside another run ending, its join and sync checks can fail
because the secret went away; it never causes a secret to be lost or left. docs/safety.md says so.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from meshconform.kube import errors
from meshconform.kube.client import MERGE_PATCH, Cluster, Obj
from meshconform.kube.fanout import parallel
from meshconform.mesh import control_plane_kind, multicluster_mode
from meshconform.mesh.samples import MANAGED_BY, OWNER, RUN_ID, ours_selector
from meshconform.run import heartbeat

# Each conflict means another run wrote the secret in the meantime; more than a handful in a row
# is not a race any more but a loop, and the secret is reported, not fought over.
RELEASE_ATTEMPTS = 5


def cleanup(
    cluster: Cluster,
    run_id: str | None,
    secrets_ns: str = "istio-system",
    spare: Collection[str] = (),
    stop: threading.Event | None = None,
) -> tuple[list[str], list[str]]:
    """Delete namespaces and release remote secrets carrying our labels (this run's, or any run's
    when `run_id` is None, except the runs in `spare`, which are alive); returns (what was done,
    errors). Never raises: clean-up must go on. Once `stop` is set (the user left), nothing more
    is written. Namespaces go first: a concurrent run's release relies on that order (above)."""
    done: list[str] = []
    failures: list[str] = []
    for kind, ns in (("namespace", None), ("secret", secrets_ns)):
        try:
            items = _ours(cluster, kind, ns, run_id, spare)
            # Read after the listing, so that a run that marked a listed secret as kept shows here.
            alive = heartbeat.alive_in(cluster) if items and (ns or run_id is None) else set()
            if run_id is None:  # --cleanup-only: a run that came alive since `spare` was read
                items = [i for i in items if i["metadata"]["labels"][RUN_ID] not in alive]
        except errors.KubeError as exc:
            failures.append(f"{cluster.name}: {exc}")
            continue
        # One thread per object: a cluster holds N-1 remote secrets, and one after the other they
        # were N-1 round trips in series at the end of every run.
        settle = functools.partial(_settle, cluster, kind, ns, alive=alive, stop=stop)
        for did, failed in parallel(settle, items):
            done += did
            failures += failed
        if stop is not None and stop.is_set():  # the user left: no write after that
            return done, failures
    did, failed = _settle_declaration(cluster, run_id, spare, stop)
    return done + did, failures + failed


def _settle_declaration(
    cluster: Cluster, run_id: str | None, spare: Collection[str], stop: threading.Event | None
) -> tuple[list[str], list[str]]:
    """What --join create declared in asm-options: handed to a live run, or put back as it was."""
    try:
        items = multicluster_mode.declarations(cluster, run_id, spare)
        alive = heartbeat.alive_in(cluster) if items else set()  # read after the listing, as above
        if run_id is None:
            items = [i for i in items if multicluster_mode.declared_by(i) not in alive]
        where = f"{cluster.name}: configmap {control_plane_kind.ISTIO_NS}/{control_plane_kind.OPTIONS}"
        return [where + release_declaration(cluster, cm, alive, stop) for cm in items], []
    except errors.NotFound:
        return [], []
    except errors.KubeError as exc:
        return [], [f"{cluster.name}: {exc}"]


def _settle(
    cluster: Cluster,
    kind: str,
    ns: str | None,
    item: Obj,
    alive: Collection[str],
    stop: threading.Event | None,
) -> tuple[list[str], list[str]]:
    """Delete one namespace or release one secret: ([what was done], [what failed]); never raises."""
    if stop is not None and stop.is_set():  # the user left: no write after that
        return [], []
    where = f"{cluster.name}: {kind} {ns + '/' if ns else ''}{item['metadata']['name']}"
    try:
        if ns is None:
            _delete_namespace(cluster, item["metadata"]["name"])
            return [where], []
        return [where + release(cluster, item, ns, alive, stop)], []
    except errors.NotFound:
        return [], []
    except errors.KubeError as exc:
        return [], [f"{cluster.name}: {exc}"]


def _ours(
    cluster: Cluster, kind: str, ns: str | None, run_id: str | None, spare: Collection[str]
) -> list[Obj]:
    selector = ours_selector(run_id)
    lister: Callable[..., Any] = cluster.core.list_namespaced_secret if ns else cluster.core.list_namespace
    args = (ns,) if ns else ()
    listing = cluster.read(f"LIST {kind}s -l {selector}", lister, *args, label_selector=selector)
    return [
        item
        for item in listing.get("items") or []
        if _both_labels(item, run_id)
        and not item["metadata"].get("deletionTimestamp")
        and item["metadata"]["labels"][RUN_ID] not in spare
    ]


def _delete_namespace(cluster: Cluster, name: str) -> None:
    try:
        cluster.write(f"DELETE namespace {name}", cluster.core.delete_namespace, name, idempotent=True)
    except errors.Conflict:
        # A repeat after a lost reply: the API server refuses a second DELETE of a namespace it is
        # already emptying (pkg/registry/core/namespace/storage/storage.go). That is done, not failed.
        ns = cluster.read(f"GET namespace {name}", cluster.core.read_namespace, name)
        if not ns["metadata"].get("deletionTimestamp"):
            raise


@dataclass(frozen=True)
class Shared:
    """One object that runs share (a remote secret, asm-options' declaration): how a run that is
    done with it finishes it, hands it to another run, and reads it again. `finish` and `relabel`
    write only the version they are given (409 Conflict otherwise)."""

    what: str  # for messages: "secret istio-system/NAME"
    finish: Callable[[Obj], str]  # delete it, or put it back; -> a suffix for the clean-up line
    relabel: Callable[[Obj, str], Obj]  # -> the object as stored, labelled with that run
    reread: Callable[[], Obj]  # NotFound when another run deleted it


def release(
    cluster: Cluster,
    secret: Obj,
    namespace: str,
    alive_seen: Collection[str],
    stop: threading.Event | None = None,
) -> str:
    """Settle one remote secret whose run is done with it (the protocol above): hand it to a live
    run in this cluster, or delete it. `alive_seen`: the runs live in this cluster as read after
    `secret` was. Returns what became of it, as a suffix for the clean-up line ("" when deleted);
    raises KubeError when the API refuses, the secret keeps changing, or `stop` came first."""
    name = secret["metadata"]["name"]

    def delete(obj: Obj) -> str:
        _delete_secret(cluster, name, namespace, _version(obj))
        return ""

    shared = Shared(
        f"secret {namespace}/{name}",
        delete,
        lambda obj, run: _relabel_secret(cluster, name, namespace, _version(obj), run),
        lambda: cluster.read(
            f"GET secret {namespace}/{name}", cluster.core.read_namespaced_secret, name, namespace
        ),
    )
    return hand_over(cluster, secret, shared, alive_seen, stop)


def release_declaration(
    cluster: Cluster, cm: Obj, alive_seen: Collection[str], stop: threading.Event | None = None
) -> str:
    """asm-options as a run declared it, settled as a remote secret is: handed to a run still live
    in the cluster (which relies on the declaration, and later puts back the value from before any
    run), or put back as the first run found it."""
    shared = Shared(
        f"configmap {cm['metadata']['namespace']}/{cm['metadata']['name']}",
        lambda obj: multicluster_mode.put_back(cluster, obj),
        lambda obj, run: multicluster_mode.hand_to(cluster, obj, run),
        lambda: multicluster_mode.read(cluster),
    )
    return hand_over(cluster, cm, shared, alive_seen, stop)


def hand_over(
    cluster: Cluster,
    obj: Obj,
    shared: Shared,
    alive_seen: Collection[str],
    stop: threading.Event | None = None,
) -> str:
    """The protocol above, for any shared object: hand it to a live run, or finish it."""
    leaving = obj["metadata"]["labels"][RUN_ID]
    ours = {leaving}  # run ids this release has put on the object: it is still ours to settle
    current, alive = obj, set(alive_seen) - {leaving}
    for attempt in range(RELEASE_ATTEMPTS):
        holder = (current["metadata"].get("labels") or {}).get(RUN_ID)
        if attempt:  # a fresh view: after our relabel, or after a conflict
            alive = heartbeat.alive_in(cluster) - {leaving}
        if holder != leaving and holder in alive:  # live after the relabel: its clean-up is to come
            return f" (handed over to run {holder})"
        if stop is not None and stop.is_set():
            raise errors.KubeError(
                f"release {shared.what} on {cluster.name}",
                "Interrupted",
                f"left labelled {RUN_ID}={holder}; run pytest --cleanup-only to remove it",
            )
        successor = min(alive, default=None)
        try:
            if successor is None:
                return shared.finish(current)
            ours.add(successor)  # before the write: a retry after a lost reply meets 409 and reads it
            current = shared.relabel(current, successor)
        except errors.Conflict:
            current = shared.reread()  # NotFound: another run deleted it, which the caller counts as done
            holder = (current["metadata"].get("labels") or {}).get(RUN_ID)
            if holder is None:  # another run's clean-up put it back: nothing left to settle
                return " (put back by another run)"
            if holder not in ours:  # another run relabelled it and settles it from here
                return f" (handed over to run {holder})"
    raise errors.KubeError(
        f"release {shared.what} on {cluster.name}",
        "Conflict",
        f"it kept changing under concurrent meshconform runs ({RELEASE_ATTEMPTS} attempts); "
        f"run pytest --cleanup-only once they are done",
    )


def _version(obj: Obj) -> str | None:
    version = obj["metadata"].get("resourceVersion")
    return str(version) if version else None


def _delete_secret(cluster: Cluster, name: str, namespace: str, version: str | None) -> None:
    body = {"preconditions": {"resourceVersion": version}} if version else None
    cluster.write(
        f"DELETE secret {namespace}/{name}",
        cluster.core.delete_namespaced_secret,
        name,
        namespace,
        body=body,
        idempotent=True,  # a repeat after a lost reply meets NotFound
    )


def _relabel_secret(cluster: Cluster, name: str, namespace: str, version: str | None, run_id: str) -> Obj:
    patch = {"metadata": {"resourceVersion": version, "labels": {RUN_ID: run_id}}}
    stored: Obj = cluster.write(
        f"PATCH secret {namespace}/{name} ({RUN_ID}={run_id})",
        cluster.core.patch_namespaced_secret,
        name,
        namespace,
        patch,
        _content_type=MERGE_PATCH,
        idempotent=True,  # a repeat after a lost reply meets 409 and reads the secret again
    )
    return stored


def _both_labels(obj: Obj, run_id: str | None) -> bool:
    """Belt and braces: the server filtered by label, we check again before deleting."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return (
        labels.get(MANAGED_BY) == OWNER and RUN_ID in labels and (run_id is None or labels[RUN_ID] == run_id)
    )
