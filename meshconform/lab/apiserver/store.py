"""One cluster's object store: what etcd plus the generic registry give a real apiserver.

Objects live per resource key (`pods`, `deployments.apps`) under (namespace, name), with uid,
resourceVersion (one counter per cluster, like etcd's revision), creationTimestamp and generation
kept as k8s.io/apiserver's registry/generic/registry/store.go keeps them. Every write goes through
the same chain whether it comes from a client or a controller: namespace lifecycle, defaulting,
admission hooks (the Istio injector), validation, then storage and event fan-out to subscribers
(controllers, synchronous) and watches (asyncio queues, with a bounded history for
resourceVersion replay and 410 Expired). It runs on the lab's single loop, so it needs no locks.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from . import defaults, validation
from .resources import resource
from .status import (
    AlreadyExistsError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    NotFoundError,
)
from .user import User
from .watches import Event as Event  # re-exported: lab-sim reads these from store
from .watches import Watch as Watch
from .watches import matcher, parse_rv

NAMESPACE_TERMINATING = (
    "The system is ensuring all content is removed from this namespace.  "
    "Upon completion, this namespace will automatically be purged by the system."
)

Obj = dict[str, Any]
ObjList = list[Obj]  # Store.list shadows the builtin inside the class body
T = TypeVar("T")
Subscriber = Callable[[str, str, Obj, "Obj | None"], None]


def clone(o: T) -> T:
    """Deep copy of JSON-shaped data, several times faster than copy.deepcopy."""
    if isinstance(o, dict):
        return cast(T, {k: clone(v) for k, v in o.items()})
    if isinstance(o, list):
        return cast(T, [clone(v) for v in o])
    return o


def now_rfc3339(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


@dataclass
class AdmissionRequest:
    operation: str  # CREATE or UPDATE
    res: str
    obj: Obj  # the object being written (mutate a copy and return it)
    old: Obj | None
    namespace_obj: Obj | None  # the namespace, for namespaced kinds
    user: User | None
    dry_run: bool = False


Admission = Callable[[AdmissionRequest], "Obj | None"]


class Store:
    def __init__(self, history: int = 10000) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self._rv = 1
        self._history: deque[Event] = deque(maxlen=history)
        self._compacted = 1  # events at or below this RV are gone from history
        self._subscribers: list[Subscriber] = []
        self._watches: set[Watch] = set()
        self.admission: list[Admission] = []
        self.clock: Callable[[], float] = time.time

    # -- reads ---------------------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, res: str, namespace: str | None, name: str) -> Obj:
        obj = self._objects.get(res, {}).get((namespace or "", name))
        if obj is None:
            r = resource(res)
            raise NotFoundError(r.plural, name, r.group)
        return clone(obj)

    def find(self, res: str, namespace: str | None, name: str) -> Obj | None:
        """Like get, None instead of NotFound (a read-only view: do not mutate)."""
        return self._objects.get(res, {}).get((namespace or "", name))

    def list(
        self, res: str, namespace: str | None = None, label_selector: str = "", field_selector: str = ""
    ) -> tuple[ObjList, str]:
        match = matcher(res, namespace, label_selector, field_selector)
        bucket = self._objects.get(res, {})
        items = [clone(bucket[k]) for k in sorted(bucket) if match(bucket[k])]
        return items, self.resource_version

    def iter(self, res: str, namespace: str | None = None) -> ObjList:
        """Read-only views of every object of `res` (for controllers; do not mutate)."""
        bucket = self._objects.get(res, {})
        return [o for k, o in sorted(bucket.items()) if namespace is None or k[0] == namespace]

    # -- writes --------------------------------------------------------------------------------
    def create(self, res: str, obj: Obj, *, user: User | None = None, dry_run: bool = False) -> Obj:
        r = resource(res)
        obj = clone(obj)
        meta = obj.setdefault("metadata", {})
        ns = self._namespace_for_write(r.namespaced, meta, r.plural, r.group)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        obj.setdefault("apiVersion", r.api_version())
        obj.setdefault("kind", r.kind)
        defaults.apply(res, obj)
        obj = self._admit("CREATE", res, obj, None, ns, user, dry_run)
        validation.validate_create(res, obj)
        key = (ns or "", meta["name"])
        if key in self._objects.get(res, {}):
            raise AlreadyExistsError(r.plural, meta["name"], r.group)
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339(self.clock())
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(k, None)
        if r.generation:
            meta["generation"] = 1
        if dry_run:
            meta["resourceVersion"] = self.resource_version
            return obj
        self._put(res, key, obj, None, "ADDED")
        return clone(obj)

    def update(
        self,
        res: str,
        obj: Obj,
        *,
        subresource: str | None = None,
        user: User | None = None,
        dry_run: bool = False,
    ) -> Obj:
        r = resource(res)
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") if r.namespaced else None
        key = (ns or "", meta.get("name", ""))
        old = self._objects.get(res, {}).get(key)
        if old is None:
            raise NotFoundError(r.plural, key[1], r.group)
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise ConflictError(r.plural, key[1], r.group)
        new = self._merge_update(r.has_status, subresource, old, clone(obj))
        defaults.apply(res, new)
        if subresource is None:
            new = self._admit("UPDATE", res, new, old, ns, user, dry_run)
        validation.validate_update(res, new, old)
        if r.generation and _spec_of(new) != _spec_of(old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
        if _same(new, old):
            return clone(old)
        if dry_run:
            return new
        if _finalized(new):
            self._remove(res, key, new)
            return clone(new)
        self._put(res, key, new, old, "MODIFIED")
        return clone(new)

    def delete(
        self,
        res: str,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete or start deleting; -> (object, removed). removed=False: finalizers keep it for now."""
        r = resource(res)
        key = (namespace or "", name) if r.namespaced else ("", name)
        old = self._objects.get(res, {}).get(key)
        if old is None:
            raise NotFoundError(r.plural, name, r.group)
        _check_preconditions(r.plural, r.group, name, old, preconditions or {})
        if dry_run:
            return clone(old), True
        if old["metadata"].get("deletionTimestamp"):
            if res == "namespaces" and old.get("spec", {}).get("finalizers"):
                # pkg/registry/core/namespace/storage/storage.go Delete: a second DELETE of a
                # namespace still being emptied is refused, not answered with the object.
                raise ConflictError(r.plural, name, r.group, NAMESPACE_TERMINATING)
            return clone(old), False
        if propagation == "Orphan":
            self._orphan(old["metadata"]["uid"])
        else:  # Background (the default for every kind we serve) and Foreground alike
            self._delete_dependents(old["metadata"]["uid"])
        if old["metadata"].get("finalizers") or (
            res == "namespaces" and old.get("spec", {}).get("finalizers")
        ):
            new = clone(old)
            new["metadata"]["deletionTimestamp"] = now_rfc3339(self.clock())
            new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            if res == "namespaces":
                new.setdefault("status", {})["phase"] = "Terminating"
            self._put(res, key, new, old, "MODIFIED")
            return clone(new), False
        self._remove(res, key, old)
        return clone(old), True

    # -- watch ---------------------------------------------------------------------------------
    def subscribe(self, fn: Subscriber) -> None:
        """fn(event_type, res, obj, old) runs synchronously after every change; obj/old are read-only."""
        self._subscribers.append(fn)

    def watch(
        self,
        res: str,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str | None = None,
    ) -> Watch:
        match = matcher(res, namespace, label_selector, field_selector)
        w = Watch(res, match, self.resource_version, self.unwatch)
        if resource_version in (None, "", "0"):
            bucket = self._objects.get(res, {})
            for k in sorted(bucket):
                if match(bucket[k]):
                    w.queue.put_nowait(("ADDED", bucket[k]))
        else:
            start = parse_rv(resource_version)
            if start < self._compacted:
                raise GoneError(start, self._compacted + 1)
            for ev in self._history:
                if ev.rv > start and ev.res == res:
                    w.offer(ev)
        self._watches.add(w)
        return w

    def compact(self) -> None:
        """Forget all event history (as etcd compaction does); older watch RVs then get 410."""
        self._history.clear()
        self._compacted = self._rv

    # -- internals -----------------------------------------------------------------------------
    def _namespace_for_write(self, namespaced: bool, meta: Obj, plural: str, group: str) -> str | None:
        if not namespaced:
            meta.pop("namespace", None)
            return None
        ns = meta.get("namespace")
        if not ns:
            raise BadRequestError("the namespace of the object is required")
        nsobj = self._objects.get("namespaces", {}).get(("", ns))
        if nsobj is None:
            raise NotFoundError("namespaces", ns)
        if nsobj["metadata"].get("deletionTimestamp"):
            name = meta.get("name") or meta.get("generateName", "")
            raise ForbiddenError.for_resource(
                plural,
                group,
                name,
                f"unable to create new content in namespace {ns} because it is being terminated",
            )
        return str(ns)

    def _admit(
        self, op: str, res: str, obj: Obj, old: Obj | None, ns: str | None, user: User | None, dry_run: bool
    ) -> Obj:
        nsobj = self._objects.get("namespaces", {}).get(("", ns)) if ns else None
        for hook in self.admission:
            out = hook(AdmissionRequest(op, res, obj, old, nsobj, user, dry_run))
            if out is not None:
                obj = out
        return obj

    @staticmethod
    def _merge_update(has_status: bool, sub: str | None, old: Obj, new: Obj) -> Obj:
        keep = (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        )
        if sub == "status":
            status = new.get("status")
            new = clone(old)
            if status is not None:
                new["status"] = status
            return new
        for k in keep:
            if k in old["metadata"]:
                new["metadata"][k] = old["metadata"][k]
            else:
                new["metadata"].pop(k, None)
        if has_status and sub is None:
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        if sub == "finalize":  # namespaces/finalize writes spec.finalizers only
            fin = new.get("spec", {}).get("finalizers")
            new = clone(old)
            new.setdefault("spec", {})["finalizers"] = fin or []
        return new

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _put(self, res: str, key: tuple[str, str], obj: Obj, old: Obj | None, kind: str) -> None:
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        self._objects.setdefault(res, {})[key] = obj
        self._emit(Event(rv, kind, res, clone(obj), old))

    def _remove(self, res: str, key: tuple[str, str], last: Obj) -> None:
        del self._objects[res][key]
        rv = self._next_rv()
        gone = clone(last)
        gone["metadata"]["resourceVersion"] = str(rv)
        self._emit(Event(rv, "DELETED", res, gone, last))

    def _emit(self, ev: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].rv
        self._history.append(ev)
        for w in list(self._watches):
            if w.res == ev.res:
                w.offer(ev)
        for fn in list(self._subscribers):
            fn(ev.type, ev.res, ev.obj, ev.old)

    def _dependents(self, uid: str) -> builtins.list[tuple[str, Obj]]:
        return [
            (res, o)
            for res, bucket in self._objects.items()
            for o in list(bucket.values())
            if any(ref.get("uid") == uid for ref in o["metadata"].get("ownerReferences") or [])
        ]

    def _delete_dependents(self, uid: str) -> None:
        for res, o in self._dependents(uid):
            meta = o["metadata"]
            if (meta.get("namespace") or "", meta["name"]) in self._objects.get(res, {}):
                self.delete(res, meta.get("namespace"), meta["name"])

    def _orphan(self, uid: str) -> None:
        for res, o in self._dependents(uid):
            new = clone(o)
            new["metadata"]["ownerReferences"] = [
                ref for ref in o["metadata"]["ownerReferences"] if ref.get("uid") != uid
            ]
            if not new["metadata"]["ownerReferences"]:
                del new["metadata"]["ownerReferences"]
            key = (o["metadata"].get("namespace") or "", o["metadata"]["name"])
            self._put(res, key, new, o, "MODIFIED")

    def unwatch(self, w: Watch) -> None:
        self._watches.discard(w)


def _spec_of(obj: Obj) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _without_version(o: Obj) -> Obj:
    meta = {k: v for k, v in o["metadata"].items() if k not in ("resourceVersion", "managedFields")}
    return {**o, "metadata": meta}


def _same(a: Obj, b: Obj) -> bool:
    """Would writing a over b change nothing? (No-op updates keep the resourceVersion, as upstream.)"""
    return _without_version(a) == _without_version(b)


def _finalized(obj: Obj) -> bool:
    meta = obj["metadata"]
    return (
        bool(meta.get("deletionTimestamp"))
        and not meta.get("finalizers")
        and not (obj.get("kind") == "Namespace" and obj.get("spec", {}).get("finalizers"))
    )


def _check_preconditions(plural: str, group: str, name: str, old: Obj, pre: dict[str, str]) -> None:
    meta = old["metadata"]
    if pre.get("uid") and pre["uid"] != meta["uid"]:
        raise ConflictError(
            plural,
            name,
            group,
            f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}",
        )
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
        raise ConflictError(
            plural,
            name,
            group,
            "Precondition failed: ResourceVersion in precondition: "
            f"{pre['resourceVersion']}, ResourceVersion in object meta: {meta['resourceVersion']}",
        )
