"""A broken path is red at any number of clusters, in a default run, and a healthy fleet is green.

Before the calls per source were derived from the replica shares, a partition between two of five
clusters ended "148 passed, 2 skipped", exit 0: 50 calls over five versions were too few to judge
a miss, and the check was skipped, which is green in every CI system. Here, for N from 2 to 20
clusters and with no --requests, the suite runs as a user runs it and must:
- fail test_calls_reach_every_cluster for exactly the two sources of `partition:cluster-1,cluster-2`
  (exit 1), with the plan of calls said in the terminal;
- fail it for every source when one version answers no call (`hello-localhost:cluster-N`: its app
  listens on 127.0.0.1 only, which no sidecar reaches from Istio 1.10);
- pass a healthy fleet with no skip but those of checks that do not apply (the network checks on
  one network).
A check that cannot decide fails the run with its remedy, and passes only with
--allow-inconclusive, which the terminal and summary.json then name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import LabEnv, Run, eventually, run_suite

FLEETS = [2, 3, 5, 8, 12, 20]
FLEET_SECONDS = 600.0  # a 20-cluster run has 380 ordered pairs to join and check


def run_lab(tmp_path: Path, clusters: int, *args: str) -> Run:
    run = run_suite(tmp_path / "reports", "--lab", f"--lab-clusters={clusters}", *args, timeout=FLEET_SECONDS)
    assert (run.report_dir / "junit.xml").exists(), run.tail(3000)
    return run


def reach(*sources: str) -> set[str]:
    return {f"test_calls_reach_every_cluster[{s}]" for s in sources}


def said_the_plan(run: Run, clusters: int) -> None:
    __tracebackhide__ = True
    plan = (run.summary.get("verdicts") or {}).get("traffic_plan") or {}
    assert plan.get("calls_per_source", 0) >= 50, run.summary.get("verdicts")
    assert plan["reason"] in run.output, "the terminal must say how many calls and why"
    assert f"over {clusters} sources x {clusters} versions" in plan["reason"], plan["reason"]


@pytest.mark.selftest_slow
@pytest.mark.parametrize("clusters", FLEETS)
def test_a_partition_fails_the_reach_check_at_any_size(clusters: int, tmp_path: Path) -> None:
    run = run_lab(tmp_path, clusters, "--lab-fault", "partition:cluster-1,cluster-2")
    assert (run.returncode, set(run.failures)) == (1, reach("cluster-1", "cluster-2")), run.tail(3000)
    assert "did not reach v2 (cluster-2)" in run.failures["test_calls_reach_every_cluster[cluster-1]"]
    said_the_plan(run, clusters)


@pytest.mark.selftest_slow
@pytest.mark.parametrize("clusters", FLEETS)
def test_a_version_that_answers_nothing_fails_every_source(clusters: int, tmp_path: Path) -> None:
    silent = f"cluster-{clusters}"
    run = run_lab(tmp_path, clusters, "--lab-fault", f"hello-localhost:{silent}")
    sources = [f"cluster-{i}" for i in range(1, clusters + 1)]
    assert (run.returncode, set(run.failures)) == (1, reach(*sources)), run.tail(3000)
    assert f"not even {silent}'s own" in run.failures[f"test_calls_reach_every_cluster[{silent}]"]


@pytest.mark.selftest_slow
@pytest.mark.parametrize("clusters", FLEETS)
def test_a_healthy_fleet_passes_with_no_skip(clusters: int, tmp_path: Path) -> None:
    run = run_lab(tmp_path, clusters)
    assert run.returncode == 0 and not run.failures and not run.skips_that_apply, run.tail(3000)
    said_the_plan(run, clusters)


@pytest.fixture
def digest_pinned(tmp_path: Path) -> Iterator[LabEnv]:
    """A lab whose cluster-2 runs istiod from a digest-pinned image, as registries with image
    policies require: the image names no version, so test_istiod_version cannot decide."""
    env = LabEnv.start(tmp_path / "lab", clusters=2)
    try:
        apps = env.apps(1)
        (dep,) = apps.list_namespaced_deployment("istio-system", label_selector="app=istiod").items
        repo = dep.spec.template.spec.containers[0].image.rsplit(":", 1)[0]
        pinned = {"name": "discovery", "image": f"{repo}@sha256:{'ab' * 32}"}
        apps.patch_namespaced_deployment(dep.metadata.name, "istio-system", {
            "spec": {"template": {"spec": {"containers": [pinned]}}}
        })
        eventually(lambda: _rolled(env), 20, "istiod in cluster-2 never rolled to the pinned image")
        yield env
    finally:
        env.stop()


def _rolled(env: LabEnv) -> bool:
    pods = env.core(1).list_namespaced_pod("istio-system", label_selector="app=istiod").items
    live = [p for p in pods if not p.metadata.deletion_timestamp]
    return bool(live) and all("@sha256:" in p.spec.containers[0].image for p in live)


VERSION_CHECK = "test_istiod_version[cluster-2]"


@pytest.mark.selftest_slow
def test_a_check_that_cannot_decide_fails_with_its_remedy(digest_pinned: LabEnv, tmp_path: Path) -> None:
    run = run_suite(tmp_path / "reports", *digest_pinned.args())
    assert (run.returncode, set(run.failures)) == (1, {VERSION_CHECK}), run.tail(3000)
    message = run.failures[VERSION_CHECK]
    assert "cannot be judged: the istiod image in cluster-2 names no version" in message
    assert "istioctl version --context" in message and "pass --allow-inconclusive" in message
    assert run.summary["verdicts"]["not_judged"] == [] and not run.summary["verdicts"]["allow_inconclusive"]


@pytest.mark.selftest_slow
def test_it_passes_only_with_allow_inconclusive_and_says_so(digest_pinned: LabEnv, tmp_path: Path) -> None:
    run = run_suite(tmp_path / "reports", *digest_pinned.args(), "--allow-inconclusive")
    assert run.returncode == 0 and not run.failures, run.tail(3000)
    assert set(run.skips_that_apply) == {VERSION_CHECK}, run.skips
    assert run.skips[VERSION_CHECK].startswith("not judged (--allow-inconclusive): the istiod image")
    assert f"could not decide and were skipped instead of failing: {VERSION_CHECK}" in run.output
    assert run.summary["verdicts"]["not_judged"] == [VERSION_CHECK]
    assert run.summary["verdicts"]["allow_inconclusive"] is True
