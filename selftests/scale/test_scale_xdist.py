"""Under pytest-xdist the join, the rollout and the traffic happen once per run, and clean-up once.

Two workers both need every stage's facts (the checks are spread over them); the lab's request
log shows what reached the clusters: each Deployment created once per cluster, one namespace,
one remote secret per ordered pair, one exec into each source pod for all its calls (and two into
each helloworld pod: its sidecar's stats before and after), and one
namespace deletion at the end. Three clusters, so that "every ordered pair" means six.
"""

from __future__ import annotations

import pytest
from support import Run, run_suite

CLUSTERS = ["cluster-1", "cluster-2", "cluster-3"]
NS = "/api/v1/namespaces"


@pytest.fixture(scope="module")
def xdist_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("xdist")
    args = ("--lab", f"--lab-clusters={len(CLUSTERS)}", "-n", "2", "-v")
    return run_suite(tmp / "reports", *args, quiet=False, request_log=tmp / "requests.jsonl")


@pytest.mark.selftest_slow
def test_passes_on_two_workers(xdist_run: Run) -> None:
    assert xdist_run.returncode == 0, xdist_run.tail()
    closing = xdist_run.stdout[-6000:] + xdist_run.stderr[-3000:]  # where this check has always looked
    assert "[gw0]" in closing and "[gw1]" in closing, "both workers must run checks"
    assert xdist_run.healthy, xdist_run.outcomes


@pytest.mark.selftest_slow
@pytest.mark.parametrize("cluster", CLUSTERS)
def test_workloads_deployed_once(xdist_run: Run, cluster: str) -> None:
    deployments = xdist_run.calls("POST", "/apis/apps/v1/namespaces/sample/deployments", cluster)
    assert [d["status"] for d in deployments] == [201, 201], (
        f"{cluster}: expected helloworld-vK and sleep created once each, got {deployments}"
    )
    namespaces = xdist_run.calls("POST", NS, cluster)
    assert [n["status"] for n in namespaces] == [201], f"{cluster}: namespace created {namespaces}"


@pytest.mark.selftest_slow
@pytest.mark.parametrize("cluster", CLUSTERS)
def test_joined_once(xdist_run: Run, cluster: str) -> None:
    secrets = xdist_run.calls("POST", f"{NS}/istio-system/secrets", cluster)
    assert [s["status"] for s in secrets] == [201] * (len(CLUSTERS) - 1), (
        f"{cluster}: one remote secret per other cluster, created once; got {secrets}"
    )


@pytest.mark.selftest_slow
def test_one_exec_per_source_pod(xdist_run: Run) -> None:
    execs: dict[tuple[str, str], int] = {}
    for r in xdist_run.requests:
        parts = r["path"].split("/")
        if r["path"].startswith(f"{NS}/sample/pods/") and parts[-1] == "exec" and r["status"] == 101:
            key = (r["cluster"], parts[-2])
            execs[key] = execs.get(key, 0) + 1
    sources = {k: n for k, n in execs.items() if k[1].startswith("sleep-")}
    servers = {k: n for k, n in execs.items() if k[1].startswith("helloworld-")}
    assert sorted(c for c, _ in sources) == CLUSTERS, f"one source pod per cluster, got {execs}"
    assert set(sources.values()) == {1}, f"every source pod sends all its calls in one exec, got {execs}"
    # the servers' view: one stats reading before and one after the calls, per helloworld pod
    assert sorted(c for c, _ in servers) == CLUSTERS and set(servers.values()) == {2}, execs
    assert len(execs) == len(sources) + len(servers), execs


@pytest.mark.selftest_slow
@pytest.mark.parametrize("cluster", CLUSTERS)
def test_cleaned_up_once(xdist_run: Run, cluster: str) -> None:
    deletes = xdist_run.calls("DELETE", f"{NS}/sample", cluster)
    assert [d["status"] for d in deletes] == [200], f"{cluster}: namespace deleted {deletes}"
