"""Traffic verdicts: small named predicates over a Tally, composed, with statistics instead of luck.

Each predicate returns a problem (str) or None, so they compose with `all_of` and state expected vs
observed in one line ("from cluster-1: did not reach v2 (cluster-2); got {v1: 50}"), after
Istio's echo checkers (pkg/test/framework/components/echo/check/checkers.go: And, ReachedClusters).

Load balancing is random, so chance must not fail a healthy mesh, and a nightly gate over a fleet
runs many checks: the budgets below are per RUN, whatever the number of clusters. With S sources
and V versions (one per cluster) a run judges S x V (source, version) cells; each budget is split
evenly over them (Bonferroni: the union bound needs no independence between the cells, and unlike
Holm it keeps one source's verdict independent of the other sources' tallies):
- reach: a version absent from n answered calls of a source, with replica-weighted share w, is a
  failure when (1-w)^n is below MISS_PROBABILITY / (S x V); a healthy run then misses some cell
  by chance with probability below MISS_PROBABILITY (1e-6). `plan_calls` derives the calls per
  source from the smallest share so that this holds at any N and replica layout: a version that is
  never reached is a failure, not "too few calls".
- split: each cell's count is tested against its replica-weighted share with the exact two-sided
  binomial test at SPLIT_ALPHA / (S x V). Exact tests keep their size at any count, where a
  chi-square approximation drifts in the far tail that a 20-cluster correction reaches.
Together a healthy run fails some statistical check with probability at most FALSE_ALARMS (1e-3).
selftests/unit/test_false_alarms.py simulates healthy tallies at 2 and 20 clusters to show it.

What cannot be decided raises Inconclusive (with the remedy); what does not apply to the mesh
under test raises NotApplicable (saying which check covers it). checks/ turns those into outcomes.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Callable, Mapping

from meshconform.mesh.facts import Tally
from meshconform.mesh.sampling import (
    FALSE_ALARMS,
    MISS_PROBABILITY,
    Target,
    calls_needed,
    miss_probability,
)

SPLIT_ALPHA = FALSE_ALARMS - MISS_PROBABILITY  # per run, the rest: a healthy split called skewed
Predicate = Callable[[Tally], "str | None"]


class Inconclusive(Exception):
    """The facts cannot decide either way; `remedy` says what would."""

    def __init__(self, reason: str, remedy: str) -> None:
        super().__init__(f"{reason}; {remedy}")
        self.reason, self.remedy = reason, remedy


class NotApplicable(Exception):
    """The check does not apply to the mesh under test; the message says which check covers it."""


def fmt_counts(counts: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {_number(v)}" for k, v in sorted(counts.items())) + "}"


def _number(value: float) -> str:
    """25.0 -> "25", 16.66 -> "16.7": an expected count reads as the observed ones do."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def all_of(*predicates: Predicate) -> Predicate:
    def check(tally: Tally) -> str | None:
        problems = [p for p in (pred(tally) for pred in predicates) if p]
        return "; ".join(problems) or None

    return check


def ok_status() -> Predicate:
    """Every call answered 200 with a well-formed hello reply."""

    def check(tally: Tally) -> str | None:
        bad = {code: n for code, n in tally.by_status.items() if code != "200"}
        if not bad and not tally.malformed and tally.calls:
            return None
        if not tally.calls:
            return f"from {tally.source}: no call was made"
        failed = sum(bad.values()) + tally.malformed
        detail = f"status {fmt_counts(bad)}" if bad else f"{tally.malformed} malformed replies"
        example = f"; e.g. {tally.errors[0]}" if tally.errors else ""
        return f"from {tally.source}: {failed} of {tally.calls} hello calls failed ({detail}){example}"

    return check


# -- reach ----------------------------------------------------------------------------------------


def reached(targets: list[Target], n_cells: int = 1, budget: float = MISS_PROBABILITY) -> Predicate:
    """Every target version answered at least once, unless chance could explain its absence: a
    miss fails when its probability is below `budget` / `n_cells`."""
    cell = budget / n_cells

    def check(tally: Tally) -> str | None:
        missing = [t for t in targets if tally.by_version.get(t.version, 0) == 0]
        if not missing:
            return None
        n = tally.answered
        if n == 0:
            raise Inconclusive(
                f"from {tally.source}: no call was answered, so nothing shows where calls go",
                "make the hello calls answer (test_hello_calls_succeed says why they fail)",
            )
        doubtful = [t for t in missing if miss_probability(t.weight, n) >= cell]
        if doubtful:
            raise _too_few(tally, doubtful, cell)
        names = ", ".join(f"{t.version} ({t.cluster})" for t in missing)
        return f"from {tally.source}: did not reach {names}; got {fmt_counts(tally.by_version)}"

    return check


def _too_few(tally: Tally, doubtful: list[Target], cell: float) -> Inconclusive:
    n = tally.answered
    need = max(calls_needed(t.weight, cell) for t in doubtful)
    sent = sum(tally.takes) or tally.calls  # the failures of every take are in the tally
    per_take = math.ceil(need * (tally.takes[-1] if tally.takes else tally.calls) / n)
    failed = tally.calls - n
    why = f"; {failed} of the {sent} calls sent failed" if failed > 0 else ""
    return Inconclusive(
        f"from {tally.source}: {n} answered calls are too few to tell whether "
        f"{', '.join(t.version for t in doubtful)} is reachable (missed by chance with probability "
        f"{miss_probability(min(t.weight for t in doubtful), n):.2g}, above the {cell:.2g} "
        f"one source and version may have){why}",
        f"make the calls answer (test_hello_calls_succeed), or pass --requests {per_take} or more",
    )


# -- split ----------------------------------------------------------------------------------------

SHOWN_VERSIONS = 6  # a longer split names only the versions that differ


def not_skewed(targets: list[Target], n_cells: int = 1, alpha: float = SPLIT_ALPHA) -> Predicate:
    """Each version's count is consistent with its replica-weighted share: exact two-sided
    binomial per version at `alpha` / `n_cells`."""
    cell = alpha / n_cells

    def check(tally: Tally) -> str | None:
        observed = [tally.by_version.get(t.version, 0) for t in targets]
        n = sum(observed)
        if n == 0:  # no split to judge: not a pass (reached() says the same for its check)
            raise Inconclusive(
                f"from {tally.source}: no call was answered, so nothing shows where calls go",
                "make the hello calls answer (test_hello_calls_succeed says why they fail)",
            )
        if len(targets) < 2:
            return None
        total = sum(t.weight for t in targets)
        pvalues = [binomial_two_sided(o, n, t.weight / total) for t, o in zip(targets, observed, strict=True)]
        differ = [i for i, p in enumerate(pvalues) if p < cell]
        if not differ:
            return None
        shown = range(len(targets)) if len(targets) <= SHOWN_VERSIONS else differ
        expected = {targets[i].version: round(targets[i].weight / total * n, 1) for i in shown}
        got = {targets[i].version: observed[i] for i in shown}
        worst = min(differ, key=lambda i: pvalues[i])
        more = f", {len(differ)} of {len(targets)} versions shown" if len(shown) < len(targets) else ""
        return (
            f"from {tally.source}: split {fmt_counts(got)} differs from the replica-weighted "
            f"{fmt_counts(expected)} ({targets[worst].version}: p={pvalues[worst]:.2g} < {cell:.2g}, "
            f"the run's false-alarm budget {alpha:.2g} over {n_cells} source-version cells{more})"
        )

    return check


def binomial_two_sided(k: int, n: int, p: float) -> float:
    """P of an outcome at most as likely as k successes in n trials (the exact test's definition,
    with the relative tolerance R's binom.test uses)."""
    if p <= 0.0 or p >= 1.0:
        return 1.0 if (k == 0 and p <= 0) or (k == n and p >= 1) else 0.0
    logs, ascending, cumulative = _binomial_table(n, p)
    below = bisect.bisect_right(ascending, logs[k] + 1e-7)
    return min(1.0, cumulative[below - 1]) if below else 0.0


@functools.lru_cache(maxsize=256)
def _binomial_table(n: int, p: float) -> tuple[list[float], list[float], list[float]]:
    """log pmf by k, the same sorted, and the running sums of the sorted pmf (smallest first, for
    accuracy): a run judges S x V cells with one (n, p), each then costs a bisection."""
    logs = [_log_binom_pmf(i, n, p) for i in range(n + 1)]
    ascending = sorted(logs)
    return logs, ascending, list(itertools.accumulate(math.exp(v) for v in ascending))


def _log_binom_pmf(i: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )
