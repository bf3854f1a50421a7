"""N clusters throughout: with four lab clusters every check runs for every cluster and every
ordered pair, and calls from every cluster reach every version v1..v4 (vK lives in cluster K)."""

from __future__ import annotations

import pytest
from support import Run, run_suite

N = 4
CLUSTERS = [f"cluster-{k}" for k in range(1, N + 1)]
PAIRS = [f"{a}->{b}" for a in CLUSTERS for b in CLUSTERS if a != b]
PAIR_CHECKS = [
    "test_remote_secret_present",
    "test_remote_secret_targets_cluster",
    "test_remote_secret_credentials",
    "test_istiod_synced",
]


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("four")
    args = ("--lab", f"--lab-clusters={N}", "-q")
    return run_suite(tmp / "reports", *args, quiet=False, request_log=tmp / "requests.jsonl")


@pytest.mark.selftest_slow
def test_every_check_passes(four: Run) -> None:
    assert four.returncode == 0, four.tail()
    assert four.healthy, four.outcomes


@pytest.mark.selftest_slow
@pytest.mark.parametrize("check", PAIR_CHECKS)
def test_every_ordered_pair_is_checked(four: Run, check: str) -> None:
    ids = {
        name.removeprefix(check + "[").removesuffix("]")
        for name in four.outcomes
        if name.startswith(check + "[")
    }
    assert ids == set(PAIRS), f"{check}: expected the {len(PAIRS)} ordered pairs, got {sorted(ids)}"


@pytest.mark.selftest_slow
def test_every_source_reaches_every_version(four: Run) -> None:
    matrix = four.summary.get("traffic_matrix") or {}
    sources = matrix.get("sources") or {}
    assert sorted(sources) == CLUSTERS, f"summary.json traffic_matrix sources: {sorted(sources)}"
    versions = {f"v{k}" for k in range(1, N + 1)}
    for source, row in sources.items():
        reached = {v for v, n in (row.get("counts") or {}).items() if n > 0}
        assert reached == versions, f"from {source}: reached {sorted(reached)}, expected {sorted(versions)}"
