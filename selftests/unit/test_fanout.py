"""meshconform/kube/fanout.py: results in order, a failure stops what has not begun, daemon threads; Once."""

from __future__ import annotations

import threading
import time

import pytest

from meshconform.kube import errors
from meshconform.kube.fanout import Once, at_once, parallel, parallel_or_leave


def test_results_keep_the_order_of_the_items() -> None:
    def slow_first(n: int) -> int:
        time.sleep(0.05 if n == 0 else 0)  # the first item finishes last: order must not follow time
        return n * 10

    assert parallel(slow_first, range(5)) == [0, 10, 20, 30, 40]
    assert parallel_or_leave(slow_first, range(5)) == [0, 10, 20, 30, 40]


def test_a_failure_sets_stop_and_what_had_not_begun_is_not_begun() -> None:
    stop, begun = threading.Event(), []

    def call(n: int) -> int:
        begun.append(n)
        if n == 0:
            raise RuntimeError("boom in 0")
        return n

    with pytest.raises(RuntimeError, match="boom in 0"):
        parallel(call, range(4), stop, limit=1)
    assert stop.is_set() and begun == [0]


def test_clean_up_runs_every_call_beside_a_failure() -> None:
    done: list[int] = []

    def call(n: int) -> None:
        if n == 0:
            raise RuntimeError("cluster-1 failed")
        time.sleep(0.02)  # still running when the failure arrives: they must be let finish
        done.append(n)

    with pytest.raises(RuntimeError, match="cluster-1"):
        parallel_or_leave(call, range(3))
    assert sorted(done) == [1, 2]


def test_the_threads_are_daemons() -> None:
    seen: list[bool] = []
    parallel(lambda _: seen.append(threading.current_thread().daemon), range(2))
    assert seen == [True, True]


def test_limit_caps_the_threads() -> None:
    running, most, begun = [0], [0], []
    lock = threading.Lock()

    def call(n: int) -> int:
        with lock:
            begun.append(n)
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)  # long enough for the calls to overlap, so that the cap is what limits them
        with lock:
            running[0] -= 1
        return n

    before = threading.active_count()
    assert parallel(call, range(12), limit=3) == list(range(12))
    assert most[0] <= 3 and sorted(begun) == list(range(12))
    assert threading.active_count() == before


def test_reads_at_once_run_together_and_keep_each_reads_own_failure() -> None:
    """One round trip for a cluster's independent reads; a Forbidden on one read (Google's kinds
    under the shipped CI RBAC) stands in its place instead of sinking the others' results."""
    together = threading.Barrier(2, timeout=30)  # passed only if both reads are running at once

    def read(value: str) -> str:
        together.wait()
        return value

    def forbidden() -> str:
        raise errors.Forbidden("controlplanerevisions is forbidden")

    got = at_once([lambda: read("pods"), forbidden, lambda: read("webhooks")], catching=(errors.KubeError,))
    assert got[0] == "pods" and isinstance(got[1], errors.Forbidden) and got[2] == "webhooks"
    with pytest.raises(errors.Forbidden):
        at_once([lambda: "pods", forbidden])  # nothing caught: raised as parallel raises it


def test_once_runs_each_key_once_while_the_others_wait_for_its_answer() -> None:
    once, calls, gate = Once(), [], threading.Event()

    def slow(key: str) -> str:
        calls.append(key)
        gate.wait(5)  # every other caller of the key arrives while this one is still running
        return key.upper()

    def ask(item: tuple[int, str]) -> str:
        if item[0] == 19:
            gate.set()
        return once(item[1], lambda: slow(item[1]))

    items = [(i, "a" if i % 2 else "b") for i in range(20)]
    assert parallel(ask, items) == ["B" if i % 2 == 0 else "A" for i in range(20)]
    assert sorted(calls) == ["a", "b"], f"one call per key, got {calls}"


def test_once_hands_its_exception_to_every_caller_of_the_key() -> None:
    once, calls = Once(), []

    def refused() -> str:
        calls.append(1)
        raise errors.Forbidden("CREATE token", "Forbidden", "no")

    for _ in range(3):
        with pytest.raises(errors.Forbidden):
            once("token", refused)
    assert calls == [1]
