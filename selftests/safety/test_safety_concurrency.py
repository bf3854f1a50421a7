"""Two runs at once against the same clusters (two CI jobs, or a person and a nightly job).

With different `--namespace` both pass: their workloads never meet, and the remote secrets one run
made and the other found in place are handed over, not pulled from under it. With the same
namespace the second run refuses before it creates anything, naming the run that holds it, and
the first run passes undisturbed. Afterwards nothing labelled is left in any cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from safety_support import MANAGED, assert_nothing_labelled, start_suite
from support import LabEnv, Run, eventually

pytestmark = pytest.mark.selftest_slow

CHECKS = 46  # a clean two-cluster run (selftests/matrix: 18 per cluster + 5 per ordered pair)
SKIPPED = 18  # 8 per cluster and 1 per pair do not apply (east-west, managed, primary-remote)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabEnv]:
    """Pods take 3 s to become Ready, so that two runs overlap for seconds."""
    with LabEnv.start(tmp_path, ready_delay=3.0) as target:
        yield target


def assert_all_passed(run: Run) -> None:
    __tracebackhide__ = True
    assert run.returncode == 0 and "Traceback" not in run.output, run.tail()
    assert re.search(rf"^{CHECKS} passed, {SKIPPED} skipped in ", run.output, re.M), run.tail()


def test_two_namespaces_at_once_both_pass(lab: LabEnv, tmp_path: Path) -> None:
    args = [*lab.args(), "--requests=10", "--ready-timeout=60"]
    first = start_suite(tmp_path / "a", *args, "--namespace=team-a")
    second = start_suite(tmp_path / "b", *args, "--namespace=team-b")
    try:
        runs = [first.wait(), second.wait()]
    finally:
        first.stop()
        second.stop()
    for run in runs:
        assert_all_passed(run)
    assert "namespace team-a" in runs[0].output and "namespace team-b" in runs[1].output
    assert_nothing_labelled(lab)


@pytest.fixture
def slow_lab(tmp_path: Path) -> Iterator[LabEnv]:
    """Pods take 8 s to become Ready: the second run's start (~3 s, more on a loaded box) fits."""
    with LabEnv.start(tmp_path, ready_delay=8.0) as target:
        yield target


def test_same_namespace_second_run_refuses_first_passes(slow_lab: LabEnv, tmp_path: Path) -> None:
    lab = slow_lab
    args = [*lab.args(), "--requests=10", "--ready-timeout=60"]
    first = start_suite(tmp_path / "first", *args)
    try:
        eventually(
            lambda: namespace_owner(lab) is not None or first.proc.poll() is not None,
            120,
            lambda: "the first run's namespace never appeared",
        )
        holder = namespace_owner(lab)
        second = start_suite(tmp_path / "second", *args)
        refused = second.wait(timeout=120)
        still_running = first.proc.poll() is None
        passed = first.wait()
    finally:
        first.stop()
    assert still_running, "the first run ended before the second was refused: no overlap was tested"
    assert refused.returncode == 4 and "Traceback" not in refused.output, refused.tail()
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1, refused.tail()
    assert f"belongs to another meshconform run (meshconform.io/run-id={holder})" in lines[0], lines[0]
    assert "--namespace NAME" in lines[0], lines[0]
    assert_all_passed(passed)
    assert_nothing_labelled(lab)


def namespace_owner(lab: LabEnv, namespace: str = "sample") -> str | None:
    """The run id on the namespace once it exists in every cluster."""
    owners = set()
    for ctx in lab.contexts:
        items = lab.core(ctx).list_namespace(label_selector=MANAGED).items
        found = [n for n in items if n.metadata.name == namespace]
        if not found:
            return None
        owners.add(found[0].metadata.labels["meshconform.io/run-id"])
    assert len(owners) == 1, owners
    return owners.pop()


def test_same_namespace_started_together_one_passes(lab: LabEnv, tmp_path: Path) -> None:
    """Two CI jobs fired by one trigger: both pass preflight, and they meet at the namespace. They
    claim it cluster by cluster in one order, so one wins everywhere and passes; the other stops
    at the first cluster, fails (or is refused) naming the winner, and leaves nothing."""
    args = [*lab.args(), "--requests=10", "--ready-timeout=60"]
    jobs = [start_suite(tmp_path / name, *args) for name in ("one", "two")]
    try:
        runs = [job.wait() for job in jobs]
    finally:
        for job in jobs:
            job.stop()
    winners = [run for run in runs if run.returncode == 0]
    assert len(winners) == 1, "\n\n".join(run.tail() for run in runs)
    loser = runs[1 - runs.index(winners[0])]
    assert_all_passed(winners[0])
    winner_id = re.search(r"^run (r[0-9a-f]+):", winners[0].output, re.M)
    assert winner_id, winners[0].tail()
    assert loser.returncode in (1, 4) and "Traceback" not in loser.output, loser.tail()
    assert f"belongs to another meshconform run (meshconform.io/run-id={winner_id.group(1)})" in loser.output
    assert_nothing_labelled(lab)


@pytest.fixture
def managed_lab(tmp_path: Path) -> Iterator[LabEnv]:
    """TRAFFIC_DIRECTOR clusters, cluster-2 without multicluster_mode: --join create declares it.
    Pods take 8 s to become Ready: the second run's start (~3 s, more on a loaded box) fits."""
    with LabEnv.start(tmp_path, ready_delay=8.0, control_planes=("managed-td",),
                      faults=("multicluster-mode-missing:cluster-2",)) as target:
        yield target


def declared_by(lab: LabEnv) -> str | None:
    cm = lab.core(1).read_namespaced_config_map("asm-options", "istio-system")
    return (cm.metadata.labels or {}).get("meshconform.io/run-id")


def test_second_run_relies_on_the_first_runs_declaration(managed_lab: LabEnv, tmp_path: Path) -> None:
    """The first run declares multicluster_mode in cluster-2; the second starts once it has, finds
    it, and relies on it. The first run ends first: its clean-up hands the declaration over instead
    of taking it from under the second run, which passes; the last one out puts back the ConfigMap
    as it was before both (no key, no label, no annotation)."""
    args = [*managed_lab.args(), "--requests=10", "--ready-timeout=60"]
    first = start_suite(tmp_path / "a", *args, "--namespace=team-a")
    second = None
    try:
        eventually(lambda: declared_by(managed_lab) is not None, 60, "the first run never declared it")
        second = start_suite(tmp_path / "b", *args, "--namespace=team-b")
        runs = [first.wait(), second.wait()]
    finally:
        for job in (first, second):
            if job is not None:
                job.stop()
    for run in runs:
        assert run.returncode == 0 and not run.failures, run.tail()
    assert "asm-options (handed over to run" in runs[0].output, runs[0].tail()
    assert "asm-options (multicluster_mode restored)" in runs[1].output, runs[1].tail()
    after = managed_lab.core(1).read_namespaced_config_map("asm-options", "istio-system")
    assert not (after.data or {}) and not (after.metadata.labels or {}), after.metadata
    assert not (after.metadata.annotations or {}), after.metadata
    assert_nothing_labelled(managed_lab)
