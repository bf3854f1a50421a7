"""Whether a source's traffic split moved between two runs more than chance explains.

Before/after an upgrade the question is not "is the split the replica-weighted one" (test_split_
not_skewed answers that for each run) but "did it change": per source and version, the calls that
answered from that version in the baseline and now form a 2x2 table (this version / the others,
then / now), judged with Fisher's exact test, two-sided (the table's probability under the
hypergeometric law, summed over every table with the same margins that is at most as likely, with
the relative tolerance R's fisher.test uses). Exact, as the split check is, so the size holds at
any count; the budget is split over the cells compared (Bonferroni, as statistics.py explains), so a
healthy pair of runs reports drift somewhere with probability below the run's false-alarm budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from meshconform.checks.statistics import SPLIT_ALPHA

TOLERANCE = 1e-7  # relative, as R's fisher.test (and statistics.binomial_two_sided)


@dataclass(frozen=True)
class Drift:
    source: str
    version: str
    was: Mapping[str, int]
    now: Mapping[str, int]
    p_value: float
    threshold: float

    def line(self) -> str:
        def shown(counts: Mapping[str, int]) -> str:
            return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + "}"

        return (
            f"from {self.source}: split {shown(self.was)} -> {shown(self.now)} "
            f"({self.version}: p={self.p_value:.2g} < {self.threshold:.2g})"
        )


def fisher_two_sided(a: int, b: int, c: int, d: int) -> float:
    """p of the 2x2 table [[a, b], [c, d]] with its margins fixed."""
    row1, col1, n = a + b, a + c, a + b + c + d
    low, high = max(0, col1 - (n - row1)), min(row1, col1)

    def log_p(x: int) -> float:
        return _log_choose(row1, x) + _log_choose(n - row1, col1 - x) - _log_choose(n, col1)

    observed = log_p(a)
    total = sum(math.exp(lp) for x in range(low, high + 1) if (lp := log_p(x)) <= observed + TOLERANCE)
    return min(1.0, total)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def drifted(
    was: Mapping[str, Mapping[str, int]], now: Mapping[str, Mapping[str, int]], alpha: float = SPLIT_ALPHA
) -> list[Drift]:
    """Sources (in both runs, answered in both) whose count of some version moved beyond chance,
    at `alpha` over every (source, version) cell compared; the most significant version each."""
    answered = [s for s in now if s in was and sum(was[s].values()) > 0 and sum(now[s].values()) > 0]
    cells = [(s, v) for s in answered for v in sorted(set(was[s]) | set(now[s]))]
    if not cells:
        return []
    threshold = alpha / len(cells)
    found: dict[str, Drift] = {}
    for source, version in cells:
        old, new = was[source], now[source]
        a, c = old.get(version, 0), new.get(version, 0)
        p = fisher_two_sided(a, sum(old.values()) - a, c, sum(new.values()) - c)
        if p < threshold and (source not in found or p < found[source].p_value):
            found[source] = Drift(source, version, dict(old), dict(new), p, threshold)
    return [found[s] for s in now if s in found]
