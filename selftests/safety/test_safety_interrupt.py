"""Interruption and leftovers: Ctrl-C or SIGTERM mid-run still removes what the run created, and
`--cleanup-only` removes what earlier runs left (`--keep`), by label, on every given context.

The lab is served by `python -m meshconform.lab serve` in its own process, with pods slow to become
Ready, so the suite is caught in the middle of its rollout: the test polls the lab until the run's
namespace exists, signals the suite, and then looks through every listable kind in every cluster
for an object labelled app.kubernetes.io/managed-by=meshconform. There must be none.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from safety_support import (
    MANAGED,
    assert_nothing_labelled,
    labelled,
    run_suite,
    snapshot,
    start_suite,
    through_proxies,
)
from support import LabEnv, Run, eventually, request_log

pytestmark = pytest.mark.selftest_slow

READY_DELAY = "4"  # seconds a lab pod takes to become Ready: the window in which the suite is signalled
INTERRUPTED = 2  # pytest.ExitCode.INTERRUPTED
UNDER_WAY = "meshconform: cleaning up what this run created"
LEAVE_SECONDS = 5.0  # "at once", with room for interpreter exit and the reports on a loaded machine


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    with LabEnv.serve(tmp_path_factory.mktemp("served"), f"--ready-delay={READY_DELAY}") as lab:
        yield lab


def ours_exist(lab: LabEnv, namespace: str) -> bool:
    """The run's namespace is in every cluster: the rollout has begun everywhere."""
    return all(
        namespace in {ns.metadata.name for ns in lab.core(ctx).list_namespace(label_selector=MANAGED).items}
        for ctx in lab.contexts
    )


@pytest.mark.parametrize(
    ("signum", "group", "xdist"),
    [
        pytest.param(signal.SIGINT, True, False, id="ctrl-c"),
        pytest.param(signal.SIGTERM, False, False, id="sigterm"),
        pytest.param(signal.SIGINT, True, True, id="ctrl-c-xdist"),
        pytest.param(signal.SIGTERM, False, True, id="sigterm-xdist"),
    ],
)
def test_signal_mid_run_removes_what_the_run_created(
    served: LabEnv, signum: int, group: bool, xdist: bool, tmp_path: Path
) -> None:
    """Ctrl-C reaches the whole foreground process group (xdist workers too); a CI runner's or
    `timeout`'s SIGTERM reaches the pytest process alone."""
    args = [*served.args(), "--ready-timeout=60", "--requests=5", *(["-n", "2"] if xdist else [])]
    suite = start_suite(tmp_path / "reports", *args)
    try:
        eventually(
            lambda: ours_exist(served, "sample") or suite.proc.poll() is not None,
            120,
            lambda: "the run's namespace never appeared",
        )
        if suite.proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted:\n{suite.wait().tail()}")
        assert labelled(served), "nothing labelled to clean up: the interruption proves nothing"
        if group:
            os.killpg(suite.proc.pid, signum)
        else:
            suite.signal(signum)
        run = suite.wait(timeout=60)
    finally:
        suite.stop()
    assert run.returncode == INTERRUPTED, run.tail()
    assert "Traceback" not in run.output, run.tail()
    cleaned = re.search(r"^cleaned up: (\d+) objects: (.*)$", run.output, re.M)
    assert cleaned, run.tail()
    for ctx in served.contexts:
        assert f"{ctx.rsplit('_', 1)[-1]}: namespace sample" in cleaned.group(2), run.tail()
    assert_nothing_labelled(served)


def test_cleanup_only_removes_leftovers_on_every_given_context(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path, clusters=3) as lab:
        kept = run_suite(tmp_path / "keep", *lab.args(), "--keep", "--requests=5")
        assert kept.returncode == 0, kept.tail()
        assert "--keep: kept namespace sample" in kept.output, kept.tail()
        leftovers = labelled(lab)
        assert {line.split(":")[0] for line in leftovers} == {"cluster-1", "cluster-2", "cluster-3"}
        theirs = seed_unowned(lab)

        some = run_suite(tmp_path / "some", *lab.args(*lab.contexts[:2]), "--cleanup-only")
        assert some.returncode == 0 and "Traceback" not in some.output, some.tail()
        # 2 namespaces, and in each of the 2 clusters the secrets of its 2 peers.
        assert "removed leftovers: 6 objects: " in some.output, some.tail()
        for name in (
            "cluster-1: namespace sample",
            "cluster-2: secret istio-system/istio-remote-secret-cluster-3",
        ):
            assert name in some.output, some.tail()
        eventually(
            lambda: {line.split(":")[0] for line in labelled(lab)} == {"cluster-3"},
            20,
            lambda: f"expected only cluster-3's leftovers, found {labelled(lab)}",
        )

        every = run_suite(tmp_path / "every", *lab.args(), "--cleanup-only")
        assert every.returncode == 0 and "removed leftovers: 3 objects: " in every.output, every.tail()
        assert "cluster-3: namespace sample" in every.output, every.tail()
        assert_nothing_labelled(lab)
        assert unowned_state(lab) == theirs

        again = run_suite(tmp_path / "again", *lab.args(), "--cleanup-only")
        assert again.returncode == 0 and "removed leftovers: 0 objects" in again.output, again.tail()


def seed_unowned(lab: LabEnv) -> dict[str, tuple]:
    """What others made, with labels close to ours: only managed-by, or only the run id."""
    for ctx in lab.contexts:
        core = lab.core(ctx)
        core.create_namespace({"metadata": {"name": "payments", "labels": {"team": "payments"}}})
        core.create_namespaced_secret(
            "istio-system",
            {"metadata": {"name": "istio-remote-secret-legacy", "labels": {"istio/multiCluster": "true"}},
             "stringData": {"legacy": "kubeconfig: of a cluster that left the mesh"}},
        )
        core.create_namespace(
            {"metadata": {"name": "copied-labels", "labels": {"meshconform.io/run-id": "r00000000"}}}
        )
    return unowned_state(lab)


def unowned_state(lab: LabEnv) -> dict[str, tuple]:
    state = {}
    for ctx in lab.contexts:
        for kind, ns, name in (
            ("Namespace", "", "payments"),
            ("Namespace", "", "copied-labels"),
            ("Secret", "istio-system", "istio-remote-secret-legacy"),
        ):
            state[f"{ctx}/{kind}/{name}"] = snapshot(lab, ctx, ns, kind, name)
    return state


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_during_a_lab_run_deletes_what_it_created(signum: int, tmp_path: Path) -> None:
    """`pytest --lab`: the lab dies with the run, so its request log is the witness that every
    namespace and remote secret the run created was deleted before the lab stopped."""
    log = tmp_path / "requests.jsonl"
    suite = start_suite(
        tmp_path / "reports", "--lab", "--lab-fault=slow-start", "--requests=5", request_log=log
    )
    try:
        # Namespaces first (the workloads start before the join), then the remote secrets: wait
        # for both, so that the interrupt lands while both kinds of object exist.
        made = lambda: (  # noqa: E731
            len(writes(log, "create", "/api/v1/namespaces")) == 2
            and len(writes(log, "create", "/api/v1/namespaces/istio-system/secrets")) == 2
        )
        eventually(
            lambda: made() or suite.proc.poll() is not None,
            120,
            lambda: "the run's namespaces and remote secrets were never created",
        )
        if suite.proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted:\n{suite.wait().tail()}")
        suite.signal(signum)
        run = suite.wait(timeout=60)
    finally:
        suite.stop()
    assert run.returncode == INTERRUPTED and "Traceback" not in run.output, run.tail()
    secret_path = "/api/v1/namespaces/istio-system/secrets"
    for cluster in ("cluster-1", "cluster-2"):
        created = writes(log, "create", secret_path, cluster)
        deleted = writes(log, "delete", secret_path + "/istio-remote-secret-", cluster)
        assert len(created) == len(deleted) == 1, (cluster, created, deleted)
        gone = writes(log, "delete", "/api/v1/namespaces/sample", cluster)
        assert gone, f"namespace sample in {cluster} was not deleted:\n{run.tail()}"


def writes(log: Path, verb: str, path: str, cluster: str | None = None) -> list[dict[str, Any]]:
    """Successful requests of `verb` whose path is `path` (a prefix, for deletes by name)."""
    return [
        e for e in request_log(log)
        if e["verb"] == verb and e["status"] < 300 and cluster in (None, e["cluster"])
        and (e["path"] == path if verb in ("create", "list") else e["path"].startswith(path))
    ]


@contextlib.contextmanager
def namespace_made(tmp_path: Path) -> Iterator[tuple[LabEnv, Any, list[Any], Path]]:
    """A run through delaying proxies (none yet): yields (lab, suite, proxies, request log) once
    the run's namespace exists in every cluster; the run is stopped on exit."""
    log = tmp_path / "requests.jsonl"
    with LabEnv.serve(tmp_path, f"--ready-delay={READY_DELAY}", f"--request-log={log}") as lab, \
            through_proxies(lab, tmp_path) as (proxied, proxies):
        # faulthandler: a run that does not leave when told can be made to show where it waits.
        suite = start_suite(
            tmp_path / "reports", *proxied.args(), "--ready-timeout=60", "--requests=5",
            env={"PYTHONFAULTHANDLER": "1"},
        )
        try:
            eventually(lambda: ours_exist(lab, "sample") or suite.proc.poll() is not None, 120,
                       lambda: "the run's namespace never appeared")
            if suite.proc.poll() is not None:
                pytest.fail(f"the run ended before it could be interrupted:\n{suite.wait().tail()}")
            yield lab, suite, proxies, log
        finally:
            suite.stop()


@contextlib.contextmanager
def cleanup_under_way(tmp_path: Path) -> Iterator[tuple[LabEnv, Any, list[Any]]]:
    """A run interrupted once its namespace exists: yields (lab, suite, proxies) once the
    clean-up's first request reached the lab. Every request is delayed 0.3 s from that Ctrl-C
    on, as a distant API server's are, so that the clean-up can be caught under way."""
    with namespace_made(tmp_path) as (lab, suite, proxies, log):
        for proxy in proxies:
            proxy.delay = 0.3
        interrupted = time.time()
        os.killpg(suite.proc.pid, signal.SIGINT)
        eventually(lambda: cleanup_started(log, interrupted), 60, lambda: "clean-up never started")
        yield lab, suite, proxies


def second_press(suite: Any) -> None:
    """Ctrl-C, and wait until the run says it heard it: two presses before the run's handler ran
    are one to it (CPython coalesces a pending signal)."""
    os.killpg(suite.proc.pid, signal.SIGINT)
    eventually(lambda: UNDER_WAY in suite.out.read_text(errors="replace"), 30,
               lambda: f"the second Ctrl-C was never acknowledged:\n{suite.out.read_text()[-2000:]}")


def third_press(suite: Any) -> tuple[float, Run]:
    """Ctrl-C; -> (seconds until the run left, the run). A run still there after LEAVE_SECONDS
    gets SIGABRT, so that faulthandler prints every thread into its output."""
    third = time.monotonic()
    os.killpg(suite.proc.pid, signal.SIGINT)
    try:
        suite.proc.wait(timeout=LEAVE_SECONDS)
    except subprocess.TimeoutExpired:
        os.kill(suite.proc.pid, signal.SIGABRT)
    waited = time.monotonic() - third
    return waited, suite.wait(timeout=120)


def test_second_ctrl_c_during_cleanup_does_not_abandon_it(tmp_path: Path) -> None:
    """People press Ctrl-C twice. The second press lands in the clean-up (made slow here by a
    proxy that delays every request 0.3 s once the run is interrupted, as a distant API server
    is): it must say clean-up is under way and let it finish, not leave the namespace behind."""
    with cleanup_under_way(tmp_path) as (lab, suite, _):
        os.killpg(suite.proc.pid, signal.SIGINT)
        run = suite.wait(timeout=120)
        assert run.returncode == INTERRUPTED, run.tail()
        assert "cleaning up what this run created" in run.output, run.tail()
        assert "Traceback" not in run.output, run.tail()
        assert_nothing_labelled(lab)


def cleanup_started(log: Path, after: float) -> bool:
    """The clean-up's first request (LIST namespaces by label) reached the lab."""
    return any(e["ts"] > after for e in writes(log, "list", "/api/v1/namespaces"))



def test_third_ctrl_c_during_cleanup_leaves_at_once(tmp_path: Path) -> None:
    """The press after that leaves now, to --cleanup-only, even while every cluster's clean-up
    waits on a slow API server (each request delayed 10 s here): clean-up runs one thread per
    cluster, and the run must not wait for those threads once told to go."""
    with cleanup_under_way(tmp_path) as (_, suite, proxies):
        for proxy in proxies:
            proxy.delay = 10.0  # from here each of clean-up's requests hangs
        second_press(suite)
        waited, run = third_press(suite)
    slow = f"the run took {waited:.1f}s to leave after the third Ctrl-C (its threads then):\n{run.tail(6000)}"
    assert waited < LEAVE_SECONDS, slow
    assert run.returncode == INTERRUPTED and "Traceback" not in run.output, run.tail()
    assert "clean-up abandoned" in run.output and "--cleanup-only" in run.output, run.tail()
    assert "clean-up abandoned" in " ".join(run.summary["cleanup"]["errors"]), run.summary["cleanup"]


def test_ctrl_c_during_preflight_leaves_at_once(tmp_path: Path) -> None:
    """Preflight reads every cluster in its own thread; a Ctrl-C while those reads wait on a slow
    API server (5 s a request here) ends the run now, not when the slowest cluster answers, and
    says that nothing was created."""
    log = tmp_path / "requests.jsonl"
    with LabEnv.serve(tmp_path, "--latency-ms=5000", f"--request-log={log}") as lab:
        suite = start_suite(tmp_path / "reports", *lab.args())
        try:
            eventually(lambda: bool(request_log(log)) or suite.proc.poll() is not None, 120,
                       lambda: "preflight's first request never reached the lab")
            if suite.proc.poll() is not None:
                pytest.fail(f"the run ended before it could be interrupted:\n{suite.wait().tail()}")
            pressed = time.monotonic()
            os.killpg(suite.proc.pid, signal.SIGINT)
            run = suite.wait(timeout=60)
            waited = time.monotonic() - pressed
        finally:
            suite.stop()
    assert waited < 3.0, f"the run took {waited:.1f}s to leave after Ctrl-C in preflight:\n{run.tail()}"
    assert run.returncode == INTERRUPTED and "Traceback" not in run.output, run.tail()
    assert "nothing was created" in run.output, run.tail()


def test_third_ctrl_c_before_cleanup_began_leaves_at_once(tmp_path: Path) -> None:
    """The three presses land while the run's threads still wait on the API (every request held
    10 s once the namespace exists): the third abandons the clean-up before it begins, as it would
    once begun, rather than starting it beside threads that may still create objects."""
    with namespace_made(tmp_path) as (_, suite, proxies, log):
        for proxy in proxies:
            proxy.delay = 10.0
        eventually(lambda: all(proxy.held for proxy in proxies), 30,
                   lambda: f"no request held by every proxy: {[proxy.held for proxy in proxies]}")
        pressed = time.time()
        os.killpg(suite.proc.pid, signal.SIGINT)
        # Not a wait on a state: the first press prints nothing and its requests are held, so no
        # sign says its handler has run. Half a second lets it run, so that the second press is
        # not coalesced with the first (CPython runs a handler once for two pending signals).
        time.sleep(0.5)
        second_press(suite)
        waited, run = third_press(suite)
        cleanup = writes(log, "list", "/api/v1/namespaces")
    assert waited < LEAVE_SECONDS, f"left {waited:.1f}s after the third Ctrl-C:\n{run.tail(6000)}"
    assert run.returncode == INTERRUPTED and "Traceback" not in run.output, run.tail()
    assert "clean-up abandoned" in run.output and "--cleanup-only" in run.output, run.tail()
    assert not [e for e in cleanup if e["ts"] > pressed], "a clean-up began after all"
