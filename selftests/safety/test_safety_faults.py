"""Faults survived, and waits that end say why: transient API errors are retried and shown, never
hidden; a deadline from --ready-timeout ends every wait with the last state seen and the events.

The fault matrix (selftests/matrix) already proves that `--lab-fault flaky-api` and `slow-start`
runs pass. Here: a flaky run reports its retries (summary.json, report.html, the live log), a
clean run reports none (a retry there would be a retry of a real failure), and a pod that never
becomes Ready fails its check at the user's deadline with the pod's state and its probe events;
API servers that die mid-run end the run in bounded time, with clean-up errors and the way out.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from safety_support import MANAGED, run_suite, start_suite
from support import LabEnv, Run, eventually

pytestmark = pytest.mark.selftest_slow

RETRY_NOTE = re.compile(r"^(CREATE|GET|LIST|DELETE|PATCH|PUT) .+ on cluster-\d: attempt [2-5]$")


def failures(run: Run) -> dict[str, str]:
    """test name -> the <failure>'s message and text (the evidence pytest wrote); errors aside."""
    return {c.name: f"{c.message}\n{c.text}" for c in run.cases if c.outcome == "failed" and not c.error}


def assert_clean_pass(run: Run) -> None:
    __tracebackhide__ = True
    assert run.returncode == 0 and "Traceback" not in run.output, run.tail()
    # 40 checks pass; 12 do not apply to the lab's default mesh (east-west, managed control plane)
    assert re.search(r"^46 passed, 18 skipped in ", run.output, re.M), run.tail()


def test_flaky_api_passes_and_says_it_retried(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run = run_suite(reports, "--lab", "--lab-fault=flaky-api", "--requests=10")
    assert_clean_pass(run)
    doc = run.summary
    notes, per_cluster = doc["retries"], doc["api"]
    assert notes, f"flaky-api failed {doc['lab']} requests' worth of calls yet no retry was noted"
    assert all(RETRY_NOTE.match(note) for note in notes), notes
    assert sum(c["retries"] for c in per_cluster.values()) >= len(notes) > 0, per_cluster
    counts = [int(n) for n in re.findall(r"(\d+) retried", run.html)]
    assert counts and sum(counts) > 0, "report.html does not say how many calls were retried"
    attempt = r"attempt 1/\d failed \((429 TooManyRequests|500 InternalError| \w+Error)\); will retry in"
    assert re.search(attempt, run.output), "the live log does not show the retried attempts"


def test_clean_run_retries_nothing(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run = run_suite(reports, "--lab", "--requests=10")
    assert_clean_pass(run)
    doc = run.summary
    assert doc["retries"] == [] and all(c["retries"] == 0 for c in doc["api"].values()), doc["api"]
    assert "will retry" not in run.output, run.tail()


@pytest.mark.parametrize(
    ("fault", "timeout", "failing", "state", "events"),
    [
        # A current Istio on Kubernetes 1.33 injects a native sidecar: its startup probe holds the
        # app container back, so the pod stays Pending with the proxy not started.
        pytest.param("proxy-not-ready:cluster-2", "5", ["cluster-2"],
                     r"0/2 Pending \(istio-proxy not started",
                     "Unhealthy: Startup probe failed: HTTP probe failed with statuscode: 503",
                     id="proxy-not-ready"),
        # The guide's ASM 1.7 injects a classic sidecar container: the app runs, the proxy is not Ready.
        pytest.param("proxy-not-ready:cluster-2 --lab-revisions=asm-173-3", "5", ["cluster-2"],
                     r"1/2 Running \(istio-proxy not ready\)",
                     "Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503",
                     id="proxy-not-ready-classic"),
        # The pods were created before the join (pipeline "deploy"), so by the deadline they may
        # have got as far as one container up: the state shown is whichever kubectl would show.
        pytest.param("slow-start", "1.5", ["cluster-1", "cluster-2"], r"[01]/2 (Pending|Running)", None,
                     id="slow-start"),
    ],
)
def test_wait_ends_at_the_deadline_with_last_state_and_events(
    fault: str, timeout: str, failing: list[str], state: str, events: str | None, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    fault, *extra = fault.split()
    options = (f"--lab-fault={fault}", *extra, f"--ready-timeout={timeout}", "--requests=10")
    run = run_suite(reports, "--lab", *options)
    assert run.returncode == 1 and "Traceback" not in run.output, run.tail()
    found = failures(run)
    expected = {f"test_sample_pods_injected_and_ready[{name}]" for name in failing}
    assert set(found) == expected, sorted(found)
    for name in failing:
        text = found[f"test_sample_pods_injected_and_ready[{name}]"]
        first = text.splitlines()[0]
        assert f"timed out after {timeout}s waiting for pods of" in first and f"on {name}" in first, first
        assert "last seen: " in text and re.search(state, text), text
        if events:
            assert "events: " in text and events in text, text
    waits = [float(s) for s in re.findall(r"workloads: done in ([0-9.]+)s", run.output)]
    assert waits and max(waits) < float(timeout) + 10, f"the deadline was not kept: {waits}"


def test_clusters_gone_mid_run_end_the_run_in_bounded_time(tmp_path: Path) -> None:
    """The API servers die during the rollout: waits end at their deadline, clean-up gives up after
    its bounded retries, says what it could not do and how to finish it later; no traceback."""
    with LabEnv.serve(tmp_path, "--ready-delay=4") as lab:
        suite = start_suite(tmp_path / "reports", *lab.args(), "--ready-timeout=10", "--requests=5")
        try:
            eventually(
                lambda: bool(lab.core(lab.contexts[1]).list_namespace(label_selector=MANAGED).items)
                or suite.proc.poll() is not None,
                120,
                lambda: "the run's namespace never appeared",
            )
            lab.process.send_signal(signal.SIGINT)
            lab.process.wait(timeout=30)
            died = time.monotonic()
            run = suite.wait(timeout=180)
        finally:
            suite.stop()
    assert run.returncode == 1 and "Traceback" not in run.output, run.tail()
    assert time.monotonic() - died < 10 + 40, f"the run took {time.monotonic() - died:.0f}s to end"
    assert re.search(r"^clean-up error: cluster-\d: .*Connection refused", run.output, re.M), run.tail()
    assert "run pytest --cleanup-only with the same --ctx options" in run.output, run.tail()
