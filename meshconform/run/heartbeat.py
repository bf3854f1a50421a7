"""A live run's heartbeat, so that `--cleanup-only` can tell a crashed run's leftovers from a run
still in progress on the same clusters (a colleague's nightly CI job) and leave the latter alone.

While a run is active its controller renews an annotation `meshconform.io/heartbeat: <RFC 3339 UTC
time>` on the run's namespace in every cluster (the sample namespace, or for a run that deploys
nothing the empty one it holds only for this, workloads.holder_namespace), with a JSON merge patch
every HEARTBEAT_SECONDS, from a daemon thread that has its own API connections (the run never waits
on it, and its API counts stay the run's own). The namespace is created with the annotation already
set (workloads.create_namespace), so it is fresh from its first moment. A run that ends stops the
thread before its own clean-up; `--keep` also removes the annotation, so that what it kept counts
as a leftover at once. `--cleanup-only` spares every run whose namespace has a heartbeat younger
than stale_seconds() in any cluster; a run's remote secrets carry the same run id and are judged by
its namespace.

Time: the heartbeat is the API server's own time (the Date header of the GET that precedes each
patch), and its age is measured against the Date header of the LIST that found it, so the clocks
of the run's machine and of the machine running --cleanup-only do not matter. Where a response
has no Date header, local UTC stands in: against a 60 s window, the few seconds of skew that NTP
leaves between machines cannot make a dead run look alive for long, nor a live one dead.
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from meshconform.kube import errors
from meshconform.kube.client import MERGE_PATCH, Cluster, Obj
from meshconform.kube.fanout import parallel_or_leave
from meshconform.mesh.samples import (
    HEARTBEAT_ANNOTATION,
    MANAGED_BY,
    OWNER,
    RUN_ID,
    heartbeat_stamp,
    ours_selector,
)

log = logging.getLogger("meshconform.run.heartbeat")

ANNOTATION = HEARTBEAT_ANNOTATION
HEARTBEAT_SECONDS = 10.0
# Six missed beats: a live run's beat can be late by a slow or retried API call (REQUEST_TIMEOUT),
# a loaded CI machine or a GC pause, never by a minute; a crashed run is spared at most this long.
STALE_SECONDS = 60.0
STALE_ENV = "MESHCONFORM_HEARTBEAT_STALE_SECONDS"  # the self-tests shorten the wait
BEAT_TIMEOUT = (3.0, 5.0)  # (connect, read) seconds: a hung server delays only the next beat


def stale_seconds() -> float:
    """STALE_SECONDS, or the environment's override when it is a non-negative number."""
    try:
        value = float(os.environ.get(STALE_ENV, ""))
    except ValueError:
        return STALE_SECONDS
    return value if value >= 0 else STALE_SECONDS



def parse_stamp(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _server_time(date_header: str | None) -> datetime:
    if date_header:
        try:
            return email.utils.parsedate_to_datetime(date_header).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)


def _read_with_date(
    cluster: Cluster, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Any, datetime]:
    """cluster.read, plus the API server's time from the response's Date header."""
    dates: list[str | None] = []

    def call(*a: Any, **kw: Any) -> Any:
        response = fn(*a, **kw)
        headers = getattr(response, "headers", None)
        dates.append(headers.get("Date") if headers is not None else None)
        return response

    result = cluster.read(what, call, *args, **kwargs)
    return result, _server_time(dates[-1] if dates else None)


# -- the beating side: the controller of a live run ------------------------------------------------


class Heartbeat:
    """The daemon thread that renews the heartbeat; start() after preflight, stop() before clean-up.
    It beats on the first of `namespaces` that is this run's in each cluster: the sample namespace,
    or the empty one a run that deploys nothing holds (workloads.holder_namespace)."""

    def __init__(
        self,
        clusters: Iterable[Cluster],
        namespaces: Sequence[str],
        run_id: str,
        interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        # Own handles on the same configuration: own connection pools and API counts, no kubeconfig reload.
        self.clusters = [Cluster(c.context, c.name, c.configuration) for c in clusters]
        for c in self.clusters:
            c.attempts = 1  # a failed beat waits for the next one, it is never retried
        self.namespaces, self.run_id, self.interval = tuple(namespaces), run_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="meshconform-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self, clear: bool = False, timeout: float = 5.0) -> None:
        """End the beats (waiting for one in flight, at most `timeout`); `clear` removes the
        annotation, so that --cleanup-only may remove what the run keeps right away."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if clear:
            for cluster in self.clusters:
                self.beat(cluster, clear=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for cluster in self.clusters:
                if self._stop.is_set():
                    return
                self.beat(cluster)

    def beat(self, cluster: Cluster, clear: bool = False) -> bool:
        """One renewal in one cluster, on the first namespace that is this run's; never raises."""
        for namespace in self.namespaces:
            try:
                if self._renew(cluster, namespace, clear):
                    return True
            except Exception as exc:  # a beat must never fail or block the run, nor wait twice
                log.debug("heartbeat on %s/%s not renewed: %s", cluster.name, namespace, exc)
                return False
        return False

    def _renew(self, cluster: Cluster, namespace: str, clear: bool) -> bool:
        try:
            ns, now = _read_with_date(
                cluster,
                f"GET namespace {namespace}",
                cluster.core.read_namespace,
                namespace,
                _request_timeout=BEAT_TIMEOUT,
            )
        except errors.NotFound:
            return False  # not created (yet), or not in this kind of run
        meta = ns.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(MANAGED_BY) != OWNER or labels.get(RUN_ID) != self.run_id:
            return False  # someone else's: never touched
        if meta.get("deletionTimestamp"):
            return False
        patch = {
            # The precondition: a namespace deleted and re-created by others since the GET
            # (another resourceVersion) is not patched; the server answers 409.
            "metadata": {
                "resourceVersion": meta.get("resourceVersion"),
                "annotations": {ANNOTATION: None if clear else heartbeat_stamp(now)},
            }
        }
        cluster.write(
            f"PATCH namespace {namespace} ({ANNOTATION})",
            cluster.core.patch_namespace,
            namespace,
            patch,
            _content_type=MERGE_PATCH,
            _request_timeout=BEAT_TIMEOUT,
        )
        return True


# -- the judging side: --cleanup-only ------------------------------------------------------------


@dataclass(frozen=True)
class Alive:
    run_id: str
    age: float  # seconds since the freshest heartbeat, by the API server's clock
    cluster: str

    def line(self) -> str:
        return (
            f"run {self.run_id} is alive (heartbeat {self.age:.0f}s ago in {self.cluster}): "
            "not touched; it cleans up after itself"
        )


def alive_runs(clusters: Iterable[Cluster], stale: float | None = None) -> dict[str, Alive]:
    """Runs with a heartbeat younger than `stale` seconds on their namespace in any cluster, by run
    id (the freshest one seen). Only namespaces carrying our labels are read; an unreachable
    cluster counts as no heartbeat there."""
    limit = stale_seconds() if stale is None else stale
    found: dict[str, Alive] = {}
    for per_cluster in parallel_or_leave(lambda c: _alive_in(c, limit), clusters):
        for alive in per_cluster:
            if alive.run_id not in found or alive.age < found[alive.run_id].age:
                found[alive.run_id] = alive
    return found


def alive_in(cluster: Cluster, stale: float | None = None) -> set[str]:
    """The run ids alive in this one cluster, read in the calling thread. Unlike alive_runs, a
    failed read raises (KubeError): clean-up must not take "unreadable" for "no live run"."""
    limit = stale_seconds() if stale is None else stale
    return {a.run_id for a in _live_namespaces(cluster, limit)}


def _alive_in(cluster: Cluster, limit: float) -> list[Alive]:
    try:
        return _live_namespaces(cluster, limit)
    except errors.KubeError as exc:
        log.debug("heartbeats in %s not read: %s", cluster.name, exc)
        return []


def _live_namespaces(cluster: Cluster, limit: float) -> list[Alive]:
    listing, now = _read_with_date(
        cluster,
        "LIST namespaces (meshconform heartbeats)",
        cluster.core.list_namespace,
        label_selector=ours_selector(),
    )
    out = []
    for ns in listing.get("items") or []:
        run_id, age = _age(ns, now)
        # A stamp from the future beyond the window is a creator's wrong clock (the first stamp is
        # the creating machine's own), not a sign of life.
        if run_id and age is not None and -limit < age < limit:
            out.append(Alive(run_id, max(age, 0.0), cluster.name))
    return out


def _age(ns: Obj, now: datetime) -> tuple[str | None, float | None]:
    meta = ns.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY) != OWNER or not labels.get(RUN_ID) or meta.get("deletionTimestamp"):
        return None, None
    beat = parse_stamp((meta.get("annotations") or {}).get(ANNOTATION))
    return str(labels[RUN_ID]), (now - beat).total_seconds() if beat else None
