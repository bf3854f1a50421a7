"""Traffic statistics: miss probability, exact binomial, chi-square; predicates and messages."""

from __future__ import annotations

import math

import pytest

from meshconform.checks import statistics
from meshconform.mesh import sampling
from meshconform.mesh.facts import Tally


def tally(**by_version: int) -> Tally:
    n = sum(by_version.values())
    return Tally(source="cluster-1", calls=n, by_status={"200": n}, by_version=dict(by_version))


TWO = [sampling.Target("v1", "cluster-1", 0.5), sampling.Target("v2", "cluster-2", 0.5)]


def test_reached_all_passes():
    assert statistics.reached(TWO)(tally(v1=26, v2=24)) is None


def test_missing_version_fails_with_expected_vs_observed():
    message = statistics.reached(TWO)(tally(v1=50))
    assert message == "from cluster-1: did not reach v2 (cluster-2); got {v1: 50}"


def test_missing_version_with_too_few_calls_is_inconclusive():
    with pytest.raises(statistics.Inconclusive, match="pass --requests 20 or more"):
        statistics.reached(TWO)(tally(v1=5))


def test_the_miss_budget_is_split_over_the_cells():
    """20 answered calls settle a miss of one half alone (0.5^20 < 1e-6), not among 4 cells."""
    assert statistics.reached(TWO)(tally(v1=20)) is not None
    with pytest.raises(statistics.Inconclusive, match="pass --requests 22 or more"):
        statistics.reached(TWO, n_cells=4)(tally(v1=20))


def test_calls_needed_matches_threshold():
    for weight in (0.5, 1 / 3, 0.1):
        for budget in (sampling.MISS_PROBABILITY, sampling.MISS_PROBABILITY / 400):
            n = sampling.calls_needed(weight, budget)
            assert sampling.miss_probability(weight, n) < budget
            assert sampling.miss_probability(weight, n - 1) >= budget


def even(n: int) -> list[sampling.Target]:
    return [sampling.Target(f"v{i}", f"cluster-{i}", 1 / n) for i in range(1, n + 1)]


@pytest.mark.parametrize(("clusters", "calls"), [(2, 50), (3, 50), (5, 77), (8, 135), (12, 216), (20, 387)])
def test_plan_derives_the_calls_from_the_smallest_share(clusters, calls):
    """--requests 50 is a floor: from about 5 clusters the shares need more calls per source."""
    plan = sampling.plan_calls(even(clusters), clusters, floor=50)
    assert plan.calls == calls
    assert plan.cells == clusters * clusters
    assert plan.cells * sampling.miss_probability(1 / clusters, plan.needed) < sampling.MISS_PROBABILITY


def test_plan_says_why_in_one_sentence():
    plan = sampling.plan_calls(even(20), 20, floor=50)
    assert plan.reason == (
        "387 calls per source: the smallest replica share is 1/20 (v1, cluster-1); missing it by chance "
        "in 387 answered calls < 1e-06 per run over 20 sources x 20 versions"
    )
    small = sampling.plan_calls(TWO, 2, floor=50)
    assert small.reason.startswith("50 calls per source (--requests 50; 22 would do: the smallest")


def test_plan_follows_an_uneven_replica_layout_up_to_a_cap():
    layout = [sampling.Target("v1", "cluster-1", 1 / 31), sampling.Target("v2", "cluster-2", 30 / 31)]
    plan = sampling.plan_calls(layout, 2, floor=50)
    assert (plan.smallest_version, plan.calls) == ("v1", 464)
    assert "1/31 (v1, cluster-1)" in plan.reason
    tiny = [sampling.Target("v1", "cluster-1", 1e-4), sampling.Target("v2", "cluster-2", 1 - 1e-4)]
    capped = sampling.plan_calls(tiny, 2, floor=50)
    assert capped.capped and capped.calls == sampling.MAX_CALLS
    assert "even out the helloworld replicas" in capped.reason


def test_retake_escalates_only_when_failures_left_too_few_answers():
    plan = sampling.plan_calls(TWO, 2, floor=50)
    seen = tally(v1=50)
    seen.takes = [50]
    assert sampling.retake_calls(plan, seen) == 50  # a conclusive miss: ask again once converged
    few = tally(v1=10)
    few.calls, few.by_status, few.takes = 50, {"200": 10, "503": 40}, [50]
    assert sampling.retake_calls(plan, few) == 110  # 22 answers needed at 1 in 5
    worse = tally(v1=1)
    worse.calls, worse.by_status, worse.takes = 50, {"200": 1, "503": 49}, [50]
    assert sampling.retake_calls(plan, worse) == 50 * sampling.RETAKE_GROWTH


def test_binomial_two_sided_known_values():
    # Symmetric case: P(X <= 20 or X >= 30) for Bin(50, 0.5) = 0.2026...
    assert statistics.binomial_two_sided(20, 50, 0.5) == pytest.approx(0.20263, rel=1e-3)
    assert statistics.binomial_two_sided(25, 50, 0.5) == pytest.approx(1.0)
    assert statistics.binomial_two_sided(45, 50, 0.5) < 1e-8


def test_against_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    cases = [(3, 40, 0.25), (17, 30, 0.4), (0, 10, 0.5), (60, 100, 0.5), (2, 387, 0.05), (40, 387, 0.05)]
    for k, n, p in cases:
        expected = stats.binomtest(k, n, p).pvalue
        assert statistics.binomial_two_sided(k, n, p) == pytest.approx(expected, rel=1e-6)


def test_binomial_tail_matches_a_direct_sum():
    """The cached table gives what summing the pmf directly gives, on both sides of the mode."""
    n, p = 387, 0.05
    pmf = [math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    for k in (0, 5, 19, 30, 60):
        direct = sum(q for q in pmf if q <= pmf[k] * (1 + 1e-7))
        assert statistics.binomial_two_sided(k, n, p) == pytest.approx(min(1.0, direct), rel=1e-9)


def test_skew_detected_and_explained():
    message = statistics.not_skewed(TWO)(tally(v1=45, v2=5))
    assert message is not None
    assert message.startswith(
        "from cluster-1: split {v1: 45, v2: 5} differs from the replica-weighted {v1: 25, v2: 25}"
    )
    assert "the run's false-alarm budget 0.001 over 1 source-version cells" in message


def test_skew_budget_is_split_over_the_cells():
    """38/12 of two even versions (p = 3.2e-4) is skew for one cell alone, not among 4 cells."""
    assert statistics.not_skewed(TWO)(tally(v1=38, v2=12)) is not None
    assert statistics.not_skewed(TWO, n_cells=4)(tally(v1=38, v2=12)) is None


def test_a_long_split_names_the_versions_that_differ():
    counts = {f"v{i}": 19 for i in range(1, 21)}
    counts["v1"], counts["v2"] = 60, 0
    message = statistics.not_skewed(even(20), n_cells=400)(tally(**counts))
    assert message is not None
    assert message.startswith(
        "from cluster-1: split {v1: 60, v2: 0} differs from the replica-weighted {v1: 20.1, v2: 20.1}"
    )
    assert "2 of 20 versions shown" in message


def test_fair_split_is_not_skewed():
    assert statistics.not_skewed(TWO)(tally(v1=30, v2=20)) is None
    three = [sampling.Target(f"v{i}", f"cluster-{i}", 1 / 3) for i in (1, 2, 3)]
    assert statistics.not_skewed(three)(tally(v1=20, v2=15, v3=15)) is None


def test_replica_weights_shift_the_expectation():
    weighted = [sampling.Target("v1", "cluster-1", 0.75), sampling.Target("v2", "cluster-2", 0.25)]
    assert statistics.not_skewed(weighted)(tally(v1=38, v2=12)) is None
    assert statistics.not_skewed(TWO)(tally(v1=38, v2=12)) is not None


def test_ok_status_counts_failures():
    t = tally(v1=48)
    t.calls, t.by_status = 50, {"200": 48, "503": 2}
    t.errors = ["503: upstream connect error"]
    message = statistics.ok_status()(t)
    assert (
        message
        == "from cluster-1: 2 of 50 hello calls failed (status {503: 2}); e.g. 503: upstream connect error"
    )


def test_all_of_joins_problems():
    both = statistics.all_of(statistics.ok_status(), statistics.reached(TWO))
    assert both(tally(v1=25, v2=25)) is None
    assert "did not reach v2" in (both(tally(v1=50)) or "")
