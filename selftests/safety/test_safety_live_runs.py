"""`--cleanup-only` beside a live run (a colleague's nightly CI job on the same clusters).

A run renews a heartbeat annotation on its namespace while it is alive; `--cleanup-only` leaves
every run with a fresh heartbeat entirely alone (namespace and remote secrets), says so in one
line per run and in summary.json, and exits 0; the live run then passes and cleans up after
itself. What is left by a run that is no longer alive is removed as before: `--keep` drops its
heartbeat as it ends, a stamp from long ago is stale, and a run killed with SIGKILL is spared
only until its heartbeat is older than the stale limit (shortened here through the environment).
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import jsonschema
import pytest
from safety_support import (
    MANAGED,
    REFUSAL_SECONDS,
    assert_nothing_labelled,
    run_suite,
    start_suite,
)
from support import ROOT, LabEnv, eventually

from meshconform.run.heartbeat import ANNOTATION, STALE_ENV

pytestmark = pytest.mark.selftest_slow

CHECKS = 46  # a clean two-cluster run (selftests/matrix: 18 per cluster + 5 per ordered pair)
SKIPPED = 18  # 8 per cluster and 1 per pair do not apply (east-west, managed, primary-remote)
# Pods take this long to become Ready: the live run outlives a --cleanup-only started beside it
# (~5 s, more on a loaded box) and at least one heartbeat period (10 s).
READY_DELAY = "20"


def ours(lab: LabEnv) -> dict[str, str]:
    """Our namespaces and remote secrets, each `cluster: kind name` -> its run id."""
    found = {}
    for ctx in lab.contexts:
        core, cluster = lab.core(ctx), ctx.rsplit("_", 1)[-1]
        for ns in core.list_namespace(label_selector=MANAGED).items:
            found[f"{cluster}: namespace {ns.metadata.name}"] = ns.metadata.labels["meshconform.io/run-id"]
        for s in core.list_namespaced_secret("istio-system", label_selector=MANAGED).items:
            found[f"{cluster}: secret {s.metadata.name}"] = s.metadata.labels["meshconform.io/run-id"]
    return found


def started(lab: LabEnv) -> bool:
    """The namespace and the remote secrets exist in every cluster."""
    found = ours(lab)
    return all(
        any(k.startswith(f"{ctx.rsplit('_', 1)[-1]}: {kind}") for k in found)
        for ctx in lab.contexts
        for kind in ("namespace", "secret")
    )


def heartbeats(lab: LabEnv, namespace: str = "sample") -> list[str | None]:
    return [
        (lab.core(ctx).read_namespace(namespace).metadata.annotations or {}).get(ANNOTATION)
        for ctx in lab.contexts
    ]


def test_cleanup_only_spares_a_live_run_which_then_passes(tmp_path: Path) -> None:
    with LabEnv.serve(tmp_path, f"--ready-delay={READY_DELAY}") as lab:
        live = start_suite(tmp_path / "live", *lab.args(), "--requests=5", "--ready-timeout=120")
        try:
            eventually(
                lambda: live.proc.poll() is not None or started(lab),
                120,
                lambda: f"the live run's namespace and secrets never appeared: {ours(lab)}",
            )
            before = ours(lab)
            first_beats = heartbeats(lab)
            sweep = run_suite(tmp_path / "sweep", *lab.args(), "--cleanup-only", timeout=REFUSAL_SECONDS)
            after = ours(lab)
            alive_then = live.proc.poll() is None
            eventually(
                lambda: live.proc.poll() is not None or heartbeats(lab) != first_beats,
                30,
                "the live run never renewed its heartbeat",
            )
            renewed = live.proc.poll() is None
            passed = live.wait()
        finally:
            live.stop()
        if passed.returncode == 0:
            assert_nothing_labelled(lab)  # the live run cleaned up after itself
    assert alive_then and renewed, f"the live run ended too early to test anything\n{passed.tail()}"
    run_ids = set(before.values())
    assert len(run_ids) == 1, before
    run_id = run_ids.pop()
    assert all(first_beats), f"the namespace was created without a heartbeat: {first_beats}"

    assert sweep.returncode == 0 and "Traceback" not in sweep.output, sweep.tail()
    assert "removed leftovers: 0 objects" in sweep.output, sweep.tail()
    alive = rf"^run {run_id} is alive \(heartbeat \d+s ago in cluster-\d\): "
    line = alive + "not touched; it cleans up after itself$"
    assert re.search(line, sweep.output, re.M), sweep.tail()
    schema = json.loads((ROOT / "docs" / "summary.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(sweep.summary)
    spared = sweep.summary["cleanup"]["spared"]
    assert [s["run_id"] for s in spared] == [run_id], spared
    assert 0 <= spared[0]["heartbeat_seconds_ago"] < 60, spared
    assert set(before) <= set(after), f"the sweep removed some of the live run's objects: {before} -> {after}"

    assert passed.returncode == 0 and "Traceback" not in passed.output, passed.tail()
    assert re.search(rf"^{CHECKS} passed, {SKIPPED} skipped in ", passed.output, re.M), passed.tail()
    cleaned = re.search(r"^cleaned up: .*$", passed.output, re.M)
    assert cleaned and "namespace sample" in cleaned.group(0), passed.tail()


def test_kept_and_long_dead_runs_are_removed(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path) as lab:
        kept = run_suite(tmp_path / "keep", *lab.args(), "--keep", "--requests=5")
        assert kept.returncode == 0, kept.tail()
        assert heartbeats(lab) == [None, None], "--keep left a heartbeat: its leftovers would look alive"
        # One cluster's namespace as a run killed long ago leaves it: an old stamp.
        patch = {"metadata": {"annotations": {ANNOTATION: "2020-01-01T00:00:00Z"}}}
        lab.core(0).patch_namespace("sample", patch)
        leftovers = ours(lab)
        assert len(leftovers) == 4, leftovers

        sweep = run_suite(tmp_path / "sweep", *lab.args(), "--cleanup-only", timeout=REFUSAL_SECONDS)
        assert sweep.returncode == 0 and "Traceback" not in sweep.output, sweep.tail()
        assert "removed leftovers: 4 objects: " in sweep.output, sweep.tail()
        assert " is alive " not in sweep.output, sweep.tail()
        assert sweep.summary["cleanup"]["spared"] == [], sweep.summary["cleanup"]
        assert_nothing_labelled(lab)


def test_a_killed_run_is_spared_until_its_heartbeat_is_stale(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path, ready_delay=float(READY_DELAY)) as lab:
        doomed = start_suite(tmp_path / "doomed", *lab.args(), "--ready-timeout=120")
        try:
            eventually(
                lambda: doomed.proc.poll() is not None or started(lab),
                120,
                lambda: f"the run's namespace and secrets never appeared: {ours(lab)}",
            )
            doomed.signal(signal.SIGKILL)  # no clean-up, no last word: the heartbeat is left fresh
            doomed.proc.wait(timeout=30)
        finally:
            doomed.stop()
        leftovers = ours(lab)
        assert leftovers, "the killed run left nothing to test"

        early = run_suite(tmp_path / "early", *lab.args(), "--cleanup-only", timeout=REFUSAL_SECONDS)
        assert early.returncode == 0 and "removed leftovers: 0 objects" in early.output, early.tail()
        assert f"run {set(leftovers.values()).pop()} is alive" in early.output, early.tail()
        assert ours(lab) == leftovers

        stale = {STALE_ENV: "1"}  # instead of waiting STALE_SECONDS (60 s)
        late = run_suite(tmp_path / "late", *lab.args(), "--cleanup-only", env=stale, timeout=REFUSAL_SECONDS)
        assert late.returncode == 0 and "Traceback" not in late.output, late.tail()
        assert f"removed leftovers: {len(leftovers)} objects: " in late.output, late.tail()
        assert " is alive " not in late.output, late.tail()
        assert_nothing_labelled(lab)


def test_a_dead_runs_namespace_does_not_keep_a_later_runs_secrets(tmp_path: Path) -> None:
    """A run hands its remote secrets over to another run only while that run is alive: a crashed
    run's namespace (stale heartbeat) left them behind, relabelled to it, after every later run."""
    with LabEnv.start(tmp_path) as lab:
        dead = {MANAGED.split("=")[0]: "meshconform", "meshconform.io/run-id": "r0dead000"}
        stale = {ANNOTATION: "2020-01-01T00:00:00Z"}
        lab.core(0).create_namespace({"metadata": {"name": "crashed", "labels": dead, "annotations": stale}})
        run = run_suite(tmp_path / "run", *lab.args(), "--requests=5")
        assert run.returncode == 0 and "Traceback" not in run.output, run.tail()
        assert "handed over" not in run.output, run.tail()
        expected = {"cluster-1: namespace crashed": "r0dead000"}  # the run's own namespaces take a moment
        eventually(lambda: ours(lab) == expected, 20, lambda: f"left behind: {ours(lab)}", pause=0.5)
