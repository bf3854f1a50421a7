"""Shared plumbing for the lab's controllers: a keyed work queue, names, owner references, events.

Controllers here follow client-go's shape: store events only *enqueue* a key, and a later loop tick
reconciles each dirty key once from current state (k8s.io/client-go/util/workqueue). That keeps
the synchronous store callbacks re-entrancy free and coalesces bursts (a Deployment rollout touches
one ReplicaSet many times). Everything runs on the lab's single asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Hashable
from typing import Any

from ..apiserver.status import StatusError
from ..apiserver.store import Store, now_rfc3339

Obj = dict[str, Any]
log = logging.getLogger("meshconform.lab.controllers")

# k8s.io/apimachinery/pkg/util/rand: the alphabet of generated name suffixes (no vowels, no 0/1/3).
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(n: int = 5) -> str:
    """A generateName suffix as the apiserver makes them (rand.String)."""
    return "".join(secrets.choice(ALPHANUMS) for _ in range(n))


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: each byte mapped into ALPHANUMS (how pod-template-hash is spelt)."""
    return "".join(ALPHANUMS[b % len(ALPHANUMS)] for b in text.encode())


def fnv32a(data: bytes) -> int:
    """FNV-1a 32-bit (hash/fnv New32a), the hasher behind controller.ComputeHash."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def owner_ref(owner: Obj, *, controller: bool = True) -> Obj:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": controller, "blockOwnerDeletion": True}


def controlled_by(obj: Obj, owner_uid: str) -> bool:
    return any(r.get("uid") == owner_uid and r.get("controller")
               for r in obj["metadata"].get("ownerReferences") or [])


def controller_of(obj: Obj) -> Obj | None:
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def now(store: Store) -> str:
    return now_rfc3339(store.clock())


class Queue:
    """A coalescing work queue: add(key) marks dirty; one loop tick later reconcile(key) runs once.

    A reconcile that raises is logged and retried with backoff, as a rate-limited workqueue does.
    """

    def __init__(self, name: str, reconcile: Callable[[Any], None], max_backoff: float = 5.0) -> None:
        self.name, self.reconcile, self.max_backoff = name, reconcile, max_backoff
        self._dirty: dict[Hashable, None] = {}
        self._scheduled = False
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}

    def add(self, key: Hashable) -> None:
        self._dirty[key] = None
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._drain)

    def add_after(self, key: Hashable, delay: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def pending(self) -> bool:
        return bool(self._dirty)

    def drain_now(self) -> None:
        """Reconcile what is dirty right now (install-time settling; normally the loop does it)."""
        self._drain()

    def _drain(self) -> None:
        self._scheduled = False
        batch, self._dirty = list(self._dirty), {}
        for key in batch:
            try:
                self.reconcile(key)
                self._failures.pop(key, None)
            except StatusError as e:      # e.g. the namespace went away under us: retry later
                self._retry(key, e)
            except Exception as e:        # a bug: keep the lab serving, say so once per key
                log.exception("%s: reconcile %s failed", self.name, key)
                self._retry(key, e)

    def _retry(self, key: Hashable, err: Exception) -> None:
        n = self._failures[key] = self._failures.get(key, 0) + 1
        if n <= 8:
            self.add_after(key, min(self.max_backoff, 0.05 * 2 ** n))
        else:
            log.warning("%s: giving up on %s after %d attempts: %s", self.name, key, n, err)

    def stop(self) -> None:
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()


class Recorder:
    """Events as client-go's EventRecorder writes them, aggregated: a repeat bumps count and lastTimestamp."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[tuple[str, str, str, str, str], str] = {}

    def event(self, obj: Obj, etype: str, reason: str, message: str, component: str,
              host: str | None = None, field_path: str | None = None) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        key = (ns, meta.get("uid", ""), reason, message, field_path or "")
        stamp = now(self.store)
        name = self._seen.get(key)
        if name is not None and self._bump(ns, name, stamp):
            return
        name = f"{meta['name']}.{time.time_ns():x}"
        involved = {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"],
                    "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion"),
                    "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        source = {"component": component, **({"host": host} if host else {})}
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": name, "namespace": ns},
              "involvedObject": {k: v for k, v in involved.items() if v is not None},
              "reason": reason, "message": message, "source": source, "type": etype,
              "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "eventTime": None,
              "reportingComponent": component, "reportingInstance": host or ""}
        try:
            self.store.create("events", ev)
        except StatusError:
            return      # a terminating namespace refuses new events; so does the real apiserver
        self._seen[key] = name

    def _bump(self, ns: str, name: str, stamp: str) -> bool:
        ev = self.store.find("events", ns, name)
        if ev is None:
            return False
        new = {**ev, "count": int(ev.get("count") or 1) + 1, "lastTimestamp": stamp,
               "metadata": {k: v for k, v in ev["metadata"].items() if k != "resourceVersion"}}
        try:
            self.store.update("events", new)
        except StatusError:
            return False
        return True


def try_create(store: Store, res: str, obj: Obj) -> Obj | None:
    """Create, or None when it exists already / its namespace is going away."""
    try:
        return store.create(res, obj)
    except StatusError:
        return None


def update_status(store: Store, res: str, obj: Obj, status: Obj) -> None:
    """Write .status through the status subresource when it changed (no-op writes bump nothing)."""
    if obj.get("status") == status:
        return
    new = {**obj, "status": status,
           "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}}
    with contextlib.suppress(StatusError):      # deleted meanwhile: the next event reconciles again
        store.update(res, new, subresource="status")
