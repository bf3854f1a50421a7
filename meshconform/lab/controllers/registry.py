"""Per-cluster simulation state, found from a LabCluster without adding fields to the apiserver's class.

LabCluster is an unhashable dataclass, and selftests start many labs in one process, so a plain
`id(cluster)` map could hand a new cluster the state of a dead one; the weak reference check
makes a stale entry look absent instead.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from ..apiserver.lab_cluster import LabCluster

T = TypeVar("T")


class PerCluster(Generic[T]):
    """cluster -> T, created on first use by `make(cluster)`."""

    def __init__(self, make: Callable[[LabCluster], T]) -> None:
        self._make = make
        self._items: dict[int, tuple[weakref.ref[LabCluster], T]] = {}

    def __call__(self, cluster: LabCluster) -> T:
        hit = self._items.get(id(cluster))
        if hit is not None and hit[0]() is cluster:
            return hit[1]
        value = self._make(cluster)
        self._items[id(cluster)] = (weakref.ref(cluster, self._forget(id(cluster))), value)
        return value

    def peek(self, cluster: LabCluster) -> T | None:
        hit = self._items.get(id(cluster))
        return hit[1] if hit is not None and hit[0]() is cluster else None

    def _forget(self, key: int) -> Callable[[weakref.ref[LabCluster]], None]:
        def drop(ref: weakref.ref[LabCluster]) -> None:
            current = self._items.get(key)
            if current is not None and current[0] is ref:
                del self._items[key]
        return drop
