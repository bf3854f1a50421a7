"""Watch plumbing for the Store: change events, per-request watch queues, and their filters.

A watch sees an event through its selector the way the apiserver's cacher does: an object that
stops matching arrives as DELETED, one that starts matching as ADDED
(k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go).
A watch knows its store only as the callback that forgets it on close, so this module needs
nothing from store.py, which builds on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .selection import field_matcher, label_matcher
from .status import BadRequestError

Obj = dict[str, Any]


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    res: str
    obj: Obj  # read-only snapshot
    old: Obj | None


class Watch:
    """Events for one watch request; `next(timeout)` -> (type, obj) or None when the timeout passes."""

    def __init__(
        self, res: str, match: Callable[[Obj], bool], resource_version: str, on_close: Callable[[Watch], None]
    ) -> None:
        self.res, self.match, self.on_close = res, match, on_close
        self.queue: asyncio.Queue[tuple[str, Obj]] = asyncio.Queue()
        self.resource_version = resource_version

    def offer(self, ev: Event) -> None:
        now, before = self.match(ev.obj), ev.old is not None and self.match(ev.old)
        kind = ev.type
        if ev.type == "MODIFIED":
            kind = {(True, True): "MODIFIED", (True, False): "ADDED", (False, True): "DELETED"}.get(
                (now, before), ""
            )
        elif not now:
            kind = ""
        if kind:
            self.queue.put_nowait((kind, ev.obj))

    async def next(self, timeout: float | None = None) -> tuple[str, Obj] | None:
        try:
            kind, obj = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        self.resource_version = obj["metadata"].get("resourceVersion", self.resource_version)
        return kind, obj

    def close(self) -> None:
        self.on_close(self)


def matcher(
    res: str, namespace: str | None, label_selector: str, field_selector: str
) -> Callable[[Obj], bool]:
    labels = label_matcher(label_selector)
    fields = field_matcher(field_selector, res)

    def match(obj: Obj) -> bool:
        meta = obj.get("metadata", {})
        if namespace and meta.get("namespace") != namespace:
            return False
        return labels(meta.get("labels") or {}) and fields(obj)

    return match


def parse_rv(rv: str) -> int:
    try:
        return int(rv)
    except ValueError:
        raise BadRequestError(f"invalid resource version: {rv}") from None
