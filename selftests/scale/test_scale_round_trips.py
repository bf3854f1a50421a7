"""Per-cluster work runs concurrently across clusters, also before and after the checks: with a
simulated API round trip (--lab-latency), the lab's request log shows preflight's first request
and clean-up's namespace deletion in every cluster under way at the same time, where a loop over
the clusters would start each one only after the previous cluster's requests had come back. So
is per-pair work within a cluster (the remote secrets each cluster holds are deleted at once), and
the namespace is claimed in the first cluster by name, then in all the others at once.

Ordering is asserted, not speed: each request waits LATENCY_MS before the lab handles it, so two
requests overlap only if the suite sent the second before the first had returned."""

from __future__ import annotations

from typing import Any

import pytest
from support import Run, run_suite

N = 3
LATENCY_MS = 80


@pytest.fixture(scope="module")
def slow_network(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("round-trips")
    args = ("--lab", f"--lab-clusters={N}", f"--lab-latency={LATENCY_MS}", "-q")
    return run_suite(tmp / "reports", *args, quiet=False, request_log=tmp / "requests.jsonl")


def _span(entry: dict[str, Any]) -> tuple[float, float]:
    end = float(entry["ts"])
    return end - float(entry["ms"]) / 1000, end


def _overlap(entries: list[dict[str, Any]], what: str, key: str = "cluster", count: int = N) -> None:
    spans = {e[key]: _span(e) for e in entries}
    assert len(spans) == count, f"{what}: expected {count}, got {sorted(spans)}"
    latest_start = max(start for start, _ in spans.values())
    earliest_end = min(end for _, end in spans.values())
    assert latest_start < earliest_end, (
        f"{what} ran one cluster after another, not at once: (start, end) per cluster {spans}"
    )


@pytest.mark.selftest_slow
def test_the_run_passes_over_a_slow_network(slow_network: Run) -> None:
    assert slow_network.returncode == 0, slow_network.tail()
    assert slow_network.healthy, slow_network.outcomes
    assert min(float(e["ms"]) for e in slow_network.requests) >= LATENCY_MS * 0.9


@pytest.mark.selftest_slow
def test_preflight_reaches_every_cluster_at_once(slow_network: Run) -> None:
    first: dict[str, dict[str, Any]] = {}
    for entry in slow_network.requests:
        first.setdefault(entry["cluster"], entry)
    assert {e["path"] for e in first.values()} == {"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"}
    _overlap(list(first.values()), "preflight's first request (the credentials review)")


@pytest.mark.selftest_slow
def test_cleanup_deletes_in_every_cluster_at_once(slow_network: Run) -> None:
    deletes = slow_network.calls("DELETE", "/api/v1/namespaces/sample")
    _overlap(deletes, "clean-up's DELETE namespace sample")


@pytest.mark.selftest_slow
@pytest.mark.parametrize("cluster", [f"cluster-{k}" for k in range(1, N + 1)])
def test_cleanup_deletes_a_clusters_secrets_at_once(slow_network: Run, cluster: str) -> None:
    deletes = [
        e
        for e in slow_network.requests
        if e["method"] == "DELETE" and e["cluster"] == cluster and "/istio-system/secrets/" in e["path"]
    ]
    _overlap(deletes, f"clean-up's DELETE of the remote secrets in {cluster}", "path", N - 1)


@pytest.mark.selftest_slow
def test_namespace_is_claimed_first_in_one_cluster_then_in_the_others_at_once(slow_network: Run) -> None:
    creates = sorted(slow_network.calls("POST", "/api/v1/namespaces"), key=lambda e: _span(e)[0])
    assert [e["cluster"] for e in creates[:1]] == ["cluster-1"], f"cluster-1 first: {creates}"
    assert _span(creates[0])[1] <= min(_span(e)[0] for e in creates[1:]) + 0.01, creates
    _overlap(creates[1:], "the namespace's POST in the other clusters", count=N - 1)
