"""Twenty clusters, the most the suite takes: one lab run of 380 ordered pairs passes whole.

What is the source cluster's, whatever the target, is asked once per cluster, not once per pair:
its reader token, its CA, and the credentials review of that token (the join's per-pair requests
are the ones that name the pair's secret). Calls from every cluster reach all 20 versions with one
exec per source pod. No round trip is simulated: this is about correctness at N = 20, in well under
a minute; the bench measures speed (`--scale`).
"""

from __future__ import annotations

import pytest
from support import Run, run_suite

N = 20
CLUSTERS = [f"cluster-{k}" for k in range(1, N + 1)]
PAIRS = {f"{a}->{b}" for a in CLUSTERS for b in CLUSTERS if a != b}
NS = "/api/v1/namespaces"


@pytest.fixture(scope="module")
def twenty(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("twenty")
    # Its own base temp, where the stages' facts live: the run is long, and the numbered base temps
    # of pytest-of-USER are shared with every other pytest the machine runs meanwhile.
    args = ("--lab", f"--lab-clusters={N}", "-q", f"--basetemp={tmp / 'basetemp'}")
    return run_suite(tmp / "reports", *args, quiet=False, request_log=tmp / "requests.jsonl")


@pytest.mark.selftest_slow
def test_every_check_passes(twenty: Run) -> None:
    assert twenty.returncode == 0, twenty.tail()
    assert twenty.healthy, twenty.tail()
    synced = {n.split("[", 1)[1].rstrip("]") for n in twenty.outcomes if n.startswith("test_istiod_synced[")}
    assert synced == PAIRS, f"expected the {len(PAIRS)} ordered pairs, got {len(synced)}"


@pytest.mark.selftest_slow
def test_every_source_reaches_every_version_in_one_exec(twenty: Run) -> None:
    sources = (twenty.summary.get("traffic_matrix") or {}).get("sources") or {}
    assert sorted(sources) == sorted(CLUSTERS), f"traffic_matrix sources: {sorted(sources)}"
    versions = {f"v{k}" for k in range(1, N + 1)}
    for source, row in sources.items():
        reached = {v for v, n in (row.get("counts") or {}).items() if n > 0}
        assert reached == versions, f"from {source}: missed {sorted(versions - reached)}"
    execs: dict[tuple[str, str], int] = {}
    for r in twenty.requests:
        parts = r["path"].split("/")
        if r["path"].startswith(f"{NS}/sample/pods/") and parts[-1] == "exec" and r["status"] == 101:
            execs[(r["cluster"], parts[-2])] = execs.get((r["cluster"], parts[-2]), 0) + 1
    sources = {k: n for k, n in execs.items() if not k[1].startswith("helloworld-")}
    servers = {k: n for k, n in execs.items() if k[1].startswith("helloworld-")}
    assert len(sources) == N and set(sources.values()) == {1}, f"one exec per source pod, got {execs}"
    # and each helloworld sidecar's stats, read once before and once after the calls
    assert len(servers) == N and set(servers.values()) == {2}, f"two stats reads per server pod: {execs}"


@pytest.mark.selftest_slow
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{NS}/istio-system/serviceaccounts/istio-reader-service-account/token"),
        ("GET", f"{NS}/istio-system/configmaps/kube-root-ca.crt"),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"),
    ],
    ids=["reader-token", "cluster-ca", "credentials-review"],
)
def test_what_is_the_sources_is_asked_once_per_cluster(twenty: Run, method: str, path: str) -> None:
    suite = [r for r in twenty.calls(method, path) if "OpenAPI-Generator" in r.get("user_agent", "")]
    per_cluster = {c: sum(1 for r in suite if r["cluster"] == c) for c in CLUSTERS}
    assert set(per_cluster.values()) == {1}, f"{method} {path}: expected once per cluster, got {per_cluster}"
