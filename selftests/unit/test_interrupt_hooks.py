"""The plugin's interrupt hooks, driven directly (the timing that reaches them in a real run is a
matter of load: selftests/safety/test_safety_interrupt.py presses Ctrl-C on real runs)."""

from __future__ import annotations

from fixtures import plugin


def test_a_press_while_pytest_reports_the_first_interrupt_does_not_escape() -> None:
    """A KeyboardInterrupt raised inside pytest's own keyboard-interrupt reporting (the next press
    landing there) ends that hook quietly instead of escaping pytest with a traceback."""
    hook = plugin.pytest_keyboard_interrupt(excinfo=None)  # type: ignore[arg-type]
    next(hook)
    try:
        hook.throw(KeyboardInterrupt("signal 2"))
    except StopIteration as done:
        assert done.value is None
    else:  # pragma: no cover
        raise AssertionError("the wrapper did not finish")
