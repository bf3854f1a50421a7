"""Traffic statistics: miss probability, exact binomial, chi-square; predicates and messages."""

from __future__ import annotations

import math

import pytest

from meshconform import verdicts
from meshconform.facts import Tally


def tally(**by_version: int) -> Tally:
    n = sum(by_version.values())
    return Tally(source="cluster-1", requests=n, by_status={"200": n}, by_version=dict(by_version))


TWO = [verdicts.Target("v1", "cluster-1", 0.5), verdicts.Target("v2", "cluster-2", 0.5)]


def test_reached_all_passes():
    assert verdicts.reached(TWO)(tally(v1=26, v2=24)) is None


def test_missing_version_fails_with_expected_vs_observed():
    message = verdicts.reached(TWO)(tally(v1=50))
    assert message == "from cluster-1: did not reach v2 (cluster-2); got {v1: 50}"


def test_missing_version_with_too_few_calls_is_inconclusive():
    with pytest.raises(verdicts.Inconclusive, match="pass --requests 20 or more"):
        verdicts.reached(TWO)(tally(v1=5))


def test_calls_needed_matches_threshold():
    for weight in (0.5, 1 / 3, 0.1):
        n = verdicts.calls_needed(weight)
        assert verdicts.miss_probability(weight, n) < verdicts.MISS_PROBABILITY
        assert verdicts.miss_probability(weight, n - 1) >= verdicts.MISS_PROBABILITY


def test_binomial_two_sided_known_values():
    # Symmetric case: P(X <= 20 or X >= 30) for Bin(50, 0.5) = 0.2026...
    assert verdicts.binomial_two_sided(20, 50, 0.5) == pytest.approx(0.20263, rel=1e-3)
    assert verdicts.binomial_two_sided(25, 50, 0.5) == pytest.approx(1.0)
    assert verdicts.binomial_two_sided(45, 50, 0.5) < 1e-8


def test_against_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    for k, n, p in [(3, 40, 0.25), (17, 30, 0.4), (0, 10, 0.5), (60, 100, 0.5)]:
        assert verdicts.binomial_two_sided(k, n, p) == pytest.approx(
            stats.binomtest(k, n, p).pvalue, rel=1e-6
        )
    for observed in ([10, 20, 30], [33, 33, 34], [50, 0, 0, 10]):
        probs = [1 / len(observed)] * len(observed)
        expected = stats.chisquare(observed).pvalue
        assert verdicts.chi_square_p(observed, probs) == pytest.approx(expected, rel=1e-6, abs=1e-300)


def test_gamma_q_matches_closed_form_for_two_degrees_of_freedom():
    for x in (0.1, 1.0, 5.0, 30.0):
        assert verdicts.gamma_q(1.0, x) == pytest.approx(math.exp(-x), rel=1e-9)


def test_skew_detected_and_explained():
    message = verdicts.not_skewed(TWO)(tally(v1=45, v2=5))
    assert message is not None
    assert message.startswith(
        "from cluster-1: split {v1: 45, v2: 5} differs from the replica-weighted {v1: 25, v2: 25}"
    )
    assert "alpha 0.001" in message


def test_fair_split_is_not_skewed():
    assert verdicts.not_skewed(TWO)(tally(v1=30, v2=20)) is None
    three = [verdicts.Target(f"v{i}", f"cluster-{i}", 1 / 3) for i in (1, 2, 3)]
    assert verdicts.not_skewed(three)(tally(v1=20, v2=15, v3=15)) is None


def test_replica_weights_shift_the_expectation():
    weighted = [verdicts.Target("v1", "cluster-1", 0.75), verdicts.Target("v2", "cluster-2", 0.25)]
    assert verdicts.not_skewed(weighted)(tally(v1=38, v2=12)) is None
    assert verdicts.not_skewed(TWO)(tally(v1=38, v2=12)) is not None


def test_ok_status_counts_failures():
    t = tally(v1=48)
    t.requests, t.by_status = 50, {"200": 48, "503": 2}
    t.errors = ["503: upstream connect error"]
    message = verdicts.ok_status()(t)
    assert (
        message
        == "from cluster-1: 2 of 50 hello calls failed (status {503: 2}); e.g. 503: upstream connect error"
    )


def test_all_of_joins_problems():
    both = verdicts.all_of(verdicts.ok_status(), verdicts.reached(TWO))
    assert both(tally(v1=25, v2=25)) is None
    assert "did not reach v2" in (both(tally(v1=50)) or "")
