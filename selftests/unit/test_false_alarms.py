"""False alarms per run, not per check: the verdict code over many simulated healthy runs.

A healthy mesh's load balancer sends each call to a version with its replica-weighted share, so a
source's tally is a multinomial sample. Each simulated run draws every source's calls (seeded
`random`, at the call count `plan_calls` derives, the default --requests 50 as the floor) and
judges every source with the reach and split predicates exactly as checks/traffic.py does: the
budgets split over sources x versions. A run with any failure is a false alarm; the bound is
FALSE_ALARMS (1e-3) per run, at 2 clusters as at 20. Observed counts are compared with the
binomial quantile of that bound, so a run-level rate of 1e-3 passes and an uncorrected one (each
check at 1e-3, about 1 in 5 runs at 20 clusters) does not. The same runs judged with a budget 50
times larger (0.05) show the bound's calibration where a few thousand runs can resolve it.
Broken runs are simulated too: a version that answers nothing, and a partition of two clusters,
are caught in every run.
"""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from meshconform.checks import statistics
from meshconform.mesh import sampling
from meshconform.mesh.facts import Tally
from meshconform.run.config import REQUESTS_DEFAULT

RUNS = {2: 3000, 20: 600}  # simulated runs per cluster count: under 10 s together on a loaded 2-core box
MAGNIFIED = 0.05  # a run-level budget large enough to be measured in a few thousand runs


def layout(clusters: int, replicas: list[int] | None = None) -> list[sampling.Target]:
    counts = replicas or [1] * clusters
    total = sum(counts)
    return [sampling.Target(f"v{i + 1}", f"cluster-{i + 1}", n / total) for i, n in enumerate(counts)]


def draw(
    rng: random.Random, source: str, found: list[sampling.Target], calls: int, silent: set[str]
) -> Tally:
    """One source's healthy sample; versions in `silent` answer nothing from here (the balancer's
    retries send those calls to the others, as Envoy's default retry policy does)."""
    live = [t for t in found if t.version not in silent]
    picks = rng.choices([t.version for t in live], weights=[t.weight for t in live], k=calls)
    by_version = dict(Counter(picks))
    return Tally(source, calls, {"200": calls}, by_version, takes=[calls])


def failures(
    tallies: list[Tally], found: list[sampling.Target], budget: float = sampling.FALSE_ALARMS
) -> set[str]:
    """The sources whose reach or split check fails, judged as the checks judge them."""
    cells = len(tallies) * len(found)
    miss = sampling.MISS_PROBABILITY * budget / sampling.FALSE_ALARMS
    reach = statistics.reached(found, cells, miss)
    split = statistics.not_skewed(found, cells, budget - miss)
    return {t.source for t in tallies if reach(t) or split(t)}


def simulate(clusters: int, runs: int, seed: int, replicas: list[int] | None = None) -> tuple[int, int, int]:
    """(runs, false alarms at the real budget, false alarms at the magnified one)."""
    rng = random.Random(seed)
    found = layout(clusters, replicas)
    calls = sampling.plan_calls(found, clusters, REQUESTS_DEFAULT).calls
    alarms = magnified = 0
    for _ in range(runs):
        tallies = [draw(rng, f"cluster-{s + 1}", found, calls, set()) for s in range(clusters)]
        alarms += bool(failures(tallies, found))
        magnified += bool(failures(tallies, found, MAGNIFIED))
    return runs, alarms, magnified


def most_consistent(runs: int, rate: float, tail: float = 1e-6) -> int:
    """The largest count of alarms in `runs` runs that a true rate of `rate` explains: beyond it
    the upper tail of Binomial(runs, rate) is below `tail`."""
    def pmf(k: int) -> float:
        log = math.lgamma(runs + 1) - math.lgamma(k + 1) - math.lgamma(runs - k + 1)
        return math.exp(log + k * math.log(rate) + (runs - k) * math.log1p(-rate))

    total = 0.0
    for k in range(runs, -1, -1):
        total += pmf(k)
        if total >= tail:
            return k
    return 0


@pytest.mark.parametrize("clusters", [2, 20])
def test_a_healthy_run_fails_a_statistical_check_at_most_once_in_a_thousand(clusters: int) -> None:
    runs, alarms, magnified = simulate(clusters, RUNS[clusters], seed=clusters)
    assert alarms <= most_consistent(runs, sampling.FALSE_ALARMS), (
        f"{alarms} of {runs} healthy {clusters}-cluster runs failed a statistical check"
    )
    assert magnified <= most_consistent(runs, MAGNIFIED), (
        f"at a run budget of {MAGNIFIED}: {magnified} of {runs} healthy runs failed"
    )


def test_an_uneven_replica_layout_keeps_the_bound() -> None:
    runs, alarms, magnified = simulate(5, 600, seed=5, replicas=[1, 1, 2, 3, 9])
    assert alarms <= most_consistent(runs, sampling.FALSE_ALARMS)
    assert magnified <= most_consistent(runs, MAGNIFIED)


@pytest.mark.parametrize("clusters", [2, 20])
def test_the_reach_budget_holds_by_construction(clusters: int) -> None:
    """Missing a healthy version anywhere in a run: at most MISS_PROBABILITY, by the union bound."""
    found = layout(clusters)
    plan = sampling.plan_calls(found, clusters, REQUESTS_DEFAULT)
    per_run = clusters * sum(sampling.miss_probability(t.weight, plan.calls) for t in found)
    assert per_run < sampling.MISS_PROBABILITY


@pytest.mark.parametrize("clusters", [2, 20])
def test_a_version_that_answers_nothing_is_caught_in_every_run(clusters: int) -> None:
    rng = random.Random(clusters)
    found = layout(clusters)
    calls = sampling.plan_calls(found, clusters, REQUESTS_DEFAULT).calls
    sources = [f"cluster-{s + 1}" for s in range(clusters)]
    for _ in range(50):
        tallies = [draw(rng, s, found, calls, {f"v{clusters}"}) for s in sources]
        assert failures(tallies, found) == set(sources)


@pytest.mark.parametrize("clusters", [2, 20])
def test_a_partition_of_two_clusters_is_caught_in_every_run(clusters: int) -> None:
    rng = random.Random(clusters)
    found = layout(clusters)
    calls = sampling.plan_calls(found, clusters, REQUESTS_DEFAULT).calls
    cut = {"cluster-1": {"v2"}, "cluster-2": {"v1"}}
    for _ in range(50):
        sources = [f"cluster-{s + 1}" for s in range(clusters)]
        tallies = [draw(rng, s, found, calls, cut.get(s, set())) for s in sources]
        assert failures(tallies, found) == {"cluster-1", "cluster-2"}
