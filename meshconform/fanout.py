"""One function over many clusters (or pairs) at once, results in their order.

Why threads: the work is round trips to API servers, so N clusters cost about one cluster's
latency instead of N times it (issue 6: fleets of 3 to 10). Results keep the input order, so
whatever is reported from them (the first refusal, the clean-up list) reads the same as a serial
loop's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("meshconform.fanout")


def parallel(
    fn: Callable[[T], R], items: Iterable[T], stop: threading.Event | None = None, limit: int = 0
) -> list[R]:
    """fn over items, one thread each (at most `limit` at a time when given), results in order.

    When a call's exception reaches the caller (results are collected in order, so an earlier
    item's call is waited for first), or a KeyboardInterrupt arrives while waiting, `stop` is
    set, so that waits in the other threads return early; it is raised once the running calls
    have ended."""
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


def parallel_or_leave(
    fn: Callable[[T], R], items: Iterable[T], stop: threading.Event | None = None
) -> list[R]:
    """As parallel, in daemon threads that an interrupt does not wait for: for preflight's reads
    and for clean-up, where the user's last Ctrl-C means leave now (what is left is then
    --cleanup-only's), as when each was one loop in the main thread. On that interrupt `stop` is
    set, so that a call that looks at it makes no further request. parallel() instead waits for
    its calls, so that no thread creates anything after clean-up has started.

    Every call's exception is logged; the first, in the order of the items, is raised."""
    items = list(items)
    results: list[R | None] = [None] * len(items)
    failures: list[BaseException | None] = [None] * len(items)

    def run(i: int, item: T) -> None:
        try:
            results[i] = fn(item)
        except BaseException as exc:  # handed to the caller below, in the order of the items
            failures[i] = exc

    threads = [
        threading.Thread(target=run, args=(i, item), name=f"meshconform-{i}", daemon=True)
        for i, item in enumerate(items)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # a KeyboardInterrupt: the daemons die with the process
        if stop is not None:
            stop.set()
        raise
    raised = [exc for exc in failures if exc is not None]
    for exc in raised[1:]:
        log.error("%s (raised beside %s)", exc, type(raised[0]).__name__)
    if raised:
        raise raised[0]
    return results  # type: ignore[return-value]  # every slot was filled: no failure above
