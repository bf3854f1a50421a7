"""How many hello calls each source sends, so that the traffic checks can decide.

The reach check fails a version that no call of a source reached, unless chance explains it: with
replica-weighted share w, a healthy version is missed by n answered calls with probability (1-w)^n.
The run sends enough calls that this stays below MISS_PROBABILITY per run (split evenly over the
S sources x V versions it judges), at any number of clusters and replica layout; `--requests` is
a floor. checks/statistics judges the calls with the same budgets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from meshconform.mesh.facts import MeshFacts, Tally, TrafficPlan

FALSE_ALARMS = 1e-3  # per run: a healthy mesh fails some statistical check at most this often
MISS_PROBABILITY = 1e-6  # per run, of FALSE_ALARMS: a healthy version missed by chance somewhere
# Calls per source are derived, but not without end: at 20 clusters an even layout needs 387,
# and only a replica imbalance beyond a thousand to one needs more than this.
MAX_CALLS = 20_000
RETAKE_GROWTH = 4  # a retake sends at most this many times the plan's calls


@dataclass(frozen=True)
class Target:
    version: str
    cluster: str
    weight: float  # replica-weighted expected share


def targets(facts: MeshFacts) -> list[Target]:
    """One target per cluster: its helloworld version, weighted by its ready replicas."""
    counts = {}
    for name in facts.names:
        wl = facts.cluster(name).workloads
        if wl:
            ready = sum(1 for p in wl.pods if p.app == "helloworld" and p.ready) or wl.replicas
            counts[(wl.version, name)] = ready
    total = sum(counts.values()) or 1
    return [Target(v, c, n / total) for (v, c), n in counts.items()]


def cells(facts: MeshFacts) -> int:
    """Sources x versions: every cluster calls, every cluster runs a version."""
    return max(1, len(facts.names) * len(targets(facts)))


def miss_probability(weight: float, answered: int) -> float:
    return (1.0 - weight) ** answered


def calls_needed(weight: float, budget: float = MISS_PROBABILITY) -> int:
    """Answered calls after which missing a version of share `weight` is below `budget`."""
    return math.ceil(math.log(budget) / math.log(1.0 - weight)) if 0 < weight < 1 else 1


def plan_calls(found: list[Target], sources: int, floor: int) -> TrafficPlan:
    """Calls per source: enough that the smallest share is missed by chance with probability below
    its cell's part of MISS_PROBABILITY, and at least `floor` (--requests), which keeps the split
    test's power where the shares are large (50 calls find a 90/10 split of two versions)."""
    n_cells = max(1, sources * len(found))
    smallest = min(found, key=lambda t: t.weight, default=None)
    needed = calls_needed(smallest.weight, MISS_PROBABILITY / n_cells) if smallest else 1
    calls = max(floor, min(needed, MAX_CALLS))
    plan = TrafficPlan(calls, floor, needed, cells=n_cells, capped=needed > MAX_CALLS)
    if smallest is not None:
        plan.smallest_version, plan.smallest_cluster = smallest.version, smallest.cluster
        plan.smallest_share = smallest.weight
    plan.reason = _plan_reason(plan, sources)
    return plan


def _plan_reason(plan: TrafficPlan, sources: int) -> str:
    share = Fraction(plan.smallest_share).limit_denominator(10_000)
    odds = f"missing it by chance in {plan.needed} answered calls < {MISS_PROBABILITY:g} per run"
    why = (
        f"the smallest replica share is {share} ({plan.smallest_version}, {plan.smallest_cluster}); "
        f"{odds} over {sources} sources x {plan.cells // max(1, sources)} versions"
    )
    if plan.capped:
        return (
            f"{plan.calls} calls per source, the most the suite sends, though {plan.needed} are needed "
            f"({why}): a version that is not reached may not be judged; even out the helloworld replicas"
        )
    if plan.calls > plan.needed:
        return f"{plan.calls} calls per source (--requests {plan.floor}; {plan.needed} would do: {why})"
    return f"{plan.calls} calls per source: {why}"


def retake_calls(plan: TrafficPlan, take: Tally) -> int:
    """Calls for a retake of a sample that missed a version. When enough calls answered, the miss
    is real at that moment and the retake asks whether the mesh has converged since: the same
    number. When failed calls left too few answered to judge a miss, the retake sends enough at
    the answer rate seen to settle it (at most RETAKE_GROWTH times the plan), instead of asking the
    same too-small question again."""
    sent = take.takes[-1] if take.takes else plan.calls
    answered = take.answered
    if answered >= plan.needed or answered == 0 or plan.capped:
        return plan.calls
    wanted = math.ceil(plan.needed * sent / answered)
    return max(plan.calls, min(wanted, plan.calls * RETAKE_GROWTH))
