"""One function over many clusters (or pairs) at once, results in their order.

Why threads: the work is round trips to API servers, so N clusters cost about one cluster's
latency instead of N times it (fleets of up to 20 clusters). Results keep the input order, so
whatever is reported from them (the first refusal, the clean-up list) reads the same as a serial
loop's. The threads are daemons: when the user's last Ctrl-C says leave now, a call still waiting
on a slow API server must not hold the process (ThreadPoolExecutor's workers are joined at exit).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("meshconform.kube.fanout")


def parallel(
    fn: Callable[[T], R], items: Iterable[T], stop: threading.Event | None = None, limit: int = 0
) -> list[R]:
    """fn over items, one thread each (at most `limit` at a time when given), results in order.

    When a call raises, or a KeyboardInterrupt arrives while waiting, `stop` is set, so that waits
    in the other threads return early, and calls not yet begun are not begun; the exception is
    raised once the running calls have ended, so that no thread creates anything after clean-up
    has started. A further KeyboardInterrupt during that wait leaves at once (the user's "leave
    now"; the daemon threads die with the process, and the run abandons its clean-up)."""
    abort = threading.Event()
    threads: list[threading.Thread] = []
    try:
        results, failures = _start(fn, list(items), abort, stop, limit, threads)
        _join(threads)
    except BaseException:  # a KeyboardInterrupt, maybe while the threads were being started
        abort.set()
        if stop is not None:
            stop.set()
        _join(threads)
        raise
    return _outcome(results, failures)


def at_once(reads: Sequence[Callable[[], Any]], catching: tuple[type[Exception], ...] = ()) -> list[Any]:
    """Independent reads of one cluster, each in its own thread (one round trip for all of them,
    not one each), results in order. An exception of a `catching` type stands in its read's place,
    for the caller to decide what that read's failure means; any other is raised as `parallel`
    raises it."""

    def attempt(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except catching as exc:
            return exc

    return parallel(attempt, reads)


def parallel_or_leave(
    fn: Callable[[T], R], items: Iterable[T], stop: threading.Event | None = None
) -> list[R]:
    """As parallel, but an interrupt does not wait for the running calls: for preflight's reads
    and for clean-up, where the user's last Ctrl-C means leave now (what is left is then
    --cleanup-only's), as when each was one loop in the main thread. On that interrupt `stop` is
    set, so that a call that looks at it makes no further request.

    Every call's exception is logged; the first, in the order of the items, is raised."""
    threads: list[threading.Thread] = []
    try:
        results, failures = _start(fn, list(items), None, None, 0, threads)
        _join(threads)
    except BaseException:  # a KeyboardInterrupt: the daemons die with the process
        if stop is not None:
            stop.set()
        raise
    return _outcome(results, failures)


def _start(
    fn: Callable[[T], R],
    items: list[T],
    abort: threading.Event | None,
    stop: threading.Event | None,
    limit: int,
    threads: list[threading.Thread],
) -> tuple[list[R | None], list[BaseException | None]]:
    """`limit` daemon threads (one per item without it), appended to `threads` as each starts (so
    that an interrupt while starting them knows which to wait for), taking the items in order.
    With `abort`, a failure sets it (and `stop`), and an item not begun by then is not begun;
    without, every item is run."""
    results: list[R | None] = [None] * len(items)
    failures: list[BaseException | None] = [None] * len(items)
    pending = iter(enumerate(items))
    taking = threading.Lock()

    def work() -> None:
        while abort is None or not abort.is_set():  # a call failed, or the user interrupted
            with taking:
                taken = next(pending, None)
            if taken is None:
                return
            i, item = taken
            try:
                results[i] = fn(item)
            except BaseException as exc:  # handed to the caller, in the order of the items
                failures[i] = exc
                if abort is not None:
                    abort.set()
                    if stop is not None:
                        stop.set()

    for n in range(min(limit or len(items), len(items))):
        thread = threading.Thread(target=work, name=f"meshconform-{n}", daemon=True)
        threads.append(thread)
        thread.start()
    return results, failures


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        with contextlib.suppress(RuntimeError):  # its start() was interrupted: it finds abort set
            thread.join()


def _outcome(results: list[R | None], failures: list[BaseException | None]) -> list[R]:
    raised = [exc for exc in failures if exc is not None]
    for exc in raised[1:]:
        log.error("%s (raised beside %s)", exc, type(raised[0]).__name__)
    if raised:
        raise raised[0]
    return results  # type: ignore[return-value]  # every slot was filled: no failure above


class Once:
    """Each key's function run once among threads: the first caller runs it, the others wait for
    its answer (or its exception). For work that many pairs share and one cluster answers: A's
    reader token and CA for every secret A is given, or the TLS handshake and credentials review of
    one (server, CA, token) that N-1 secrets carry alike. Lives as long as one stage: a later
    stage asks again, as the cluster may have changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[Hashable, _Slot] = {}

    def __call__(self, key: Hashable, fn: Callable[[], R]) -> R:
        with self._lock:
            slot, first = self._slots.get(key), key not in self._slots
            if slot is None:
                slot = self._slots[key] = _Slot()
        if first:
            try:
                slot.value = fn()
            except BaseException as exc:  # the waiters get it too, as if each had asked
                slot.error = exc
                raise
            finally:
                slot.done.set()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        value: R = slot.value
        return value


class _Slot:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
