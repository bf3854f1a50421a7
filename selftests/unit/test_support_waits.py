"""selftests/support.py's waits: what the self-tests use instead of a fixed sleep before an assertion.

`until` must return the state that satisfied it (the assertion that follows reads that one, not a
later read), and on timeout name what was awaited and the state seen last, including an error that
was being waited out (a 404 before an object exists)."""

from __future__ import annotations

import time

import pytest
from support import eventually, until


def test_until_returns_the_state_that_held() -> None:
    seen = iter([1, 2, 3, 4])
    assert until(lambda: next(seen), lambda n: n >= 3, 5, "three") == 3


def test_until_fails_naming_the_wait_and_the_last_state() -> None:
    started = time.monotonic()
    want = r"^timed out after 0.2s waiting for a green light; last seen: 'red'$"
    with pytest.raises(AssertionError, match=want):
        until(lambda: "red", lambda light: light == "green", 0.2, "a green light", pause=0.01)
    assert time.monotonic() - started < 2


def test_until_waits_out_the_errors_it_is_told_to_ignore_and_shows_the_last() -> None:
    reads = iter([KeyError("not yet"), KeyError("still not"), "there"])

    def read() -> str:
        got = next(reads)
        if isinstance(got, Exception):
            raise got
        return got

    assert until(read, bool, 5, "the object", pause=0.01, ignoring=(KeyError,)) == "there"
    with pytest.raises(AssertionError, match=r"last seen: KeyError\('gone'\)$"):
        until(lambda: {}["gone"], bool, 0.1, "the object", pause=0.01, ignoring=(KeyError,))


def test_until_lets_other_errors_through() -> None:
    with pytest.raises(ZeroDivisionError):
        until(lambda: 1 / 0, bool, 5, "a number", ignoring=(KeyError,))


def test_eventually_calls_why_only_on_timeout() -> None:
    eventually(lambda: True, 1, lambda: pytest.fail("why() called although ok() held"))
    with pytest.raises(AssertionError, match=r"^late$"):
        eventually(lambda: False, 0.05, lambda: "late", pause=0.01)


def test_until_shows_the_last_state_through_show_and_bounded() -> None:
    with pytest.raises(AssertionError, match=r"last seen: \['pod-a Pending'\]$"):
        until(lambda: [("pod-a", "Pending")], lambda pods: False, 0.05, "pods", pause=0.01,
              show=lambda pods: [" ".join(p) for p in pods])
    with pytest.raises(AssertionError) as failed:
        until(lambda: "x" * 10_000, lambda text: False, 0.05, "a short text", pause=0.01)
    assert len(str(failed.value)) < 2200
