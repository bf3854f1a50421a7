"""meshconform/fanout.py: results in order, a failure stops what has not begun, daemon threads."""

from __future__ import annotations

import threading
import time

import pytest

from meshconform.fanout import parallel, parallel_or_leave


def test_results_keep_the_order_of_the_items() -> None:
    def slow_first(n: int) -> int:
        time.sleep(0.05 if n == 0 else 0)
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
        time.sleep(0.02)
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
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return n

    before = threading.active_count()
    assert parallel(call, range(12), limit=3) == list(range(12))
    assert most[0] <= 3 and sorted(begun) == list(range(12))
    assert threading.active_count() == before
