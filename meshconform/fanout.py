"""One function over many clusters (or pairs) at once, results in their order.

Why threads: the work is round trips to API servers, so N clusters cost about one cluster's
latency instead of N times it (issue 6: fleets of 3 to 10). Results keep the input order, so
whatever is reported from them (the first refusal, the clean-up list) reads the same as a serial
loop's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel(
    fn: Callable[[T], R], items: Iterable[T], stop: threading.Event | None = None, limit: int = 0
) -> list[R]:
    """fn over items, one thread each (at most `limit` at a time when given), results in order.

    An exception in any call (or a KeyboardInterrupt while waiting) sets `stop`, so that waits in
    the other threads return early, and is raised once the running calls have ended."""
    items = list(items)
    if not items:
        return []
    pool = ThreadPoolExecutor(
        max_workers=min(len(items), limit or len(items)), thread_name_prefix="meshconform"
    )
    try:
        return list(pool.map(fn, items))
    except BaseException:
        if stop is not None:
            stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
