"""Traffic verdicts: small named predicates over a Tally, composed, with statistics instead of luck.

Each predicate returns a problem (str) or None, so they compose with `all_of` and state expected vs
observed in one line ("from cluster-1: did not reach v2 (cluster-2); got {v1: 50}"), after
Istio's echo checkers (pkg/test/framework/components/echo/check/checkers.go: And, ReachedClusters).

Load balancing is random, so two rules keep chance from failing a healthy mesh:
- "reached every version" fails only when missing a version by chance is negligible: with n
  answered calls and replica-weighted share p, P(miss) = (1-p)^n must be below MISS_PROBABILITY
  (1e-6, one false alarm in a million runs); otherwise the verdict is inconclusive and says how
  many calls would settle it.
- "not skewed" tests the observed split against the replica-weighted one: exact two-sided
  binomial test for two versions, Pearson's chi-square otherwise, at significance SKEW_ALPHA (1e-3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from meshconform.facts import Tally

MISS_PROBABILITY = 1e-6
SKEW_ALPHA = 1e-3

Predicate = Callable[[Tally], "str | None"]


class Inconclusive(Exception):
    """Too few calls to decide either way; the message says how many would do."""


@dataclass(frozen=True)
class Target:
    version: str
    cluster: str
    weight: float  # replica-weighted expected share


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
        if not bad and not tally.malformed and tally.requests:
            return None
        if not tally.requests:
            return f"from {tally.source}: no call was made"
        failed = sum(bad.values()) + tally.malformed
        detail = f"status {fmt_counts(bad)}" if bad else f"{tally.malformed} malformed replies"
        example = f"; e.g. {tally.errors[0]}" if tally.errors else ""
        return f"from {tally.source}: {failed} of {tally.requests} hello calls failed ({detail}){example}"

    return check


def miss_probability(weight: float, answered: int) -> float:
    return (1.0 - weight) ** answered


def calls_needed(weight: float) -> int:
    """Answered calls after which missing a version of share `weight` is below MISS_PROBABILITY."""
    return math.ceil(math.log(MISS_PROBABILITY) / math.log(1.0 - weight)) if 0 < weight < 1 else 1


def reached(targets: list[Target]) -> Predicate:
    """Every target version answered at least once, unless chance could explain its absence."""

    def check(tally: Tally) -> str | None:
        missing = [t for t in targets if tally.by_version.get(t.version, 0) == 0]
        if not missing:
            return None
        n = tally.answered
        if n == 0:
            raise Inconclusive(f"from {tally.source}: no call was answered, so nothing shows where calls go")
        doubtful = [t for t in missing if miss_probability(t.weight, n) >= MISS_PROBABILITY]
        if doubtful:
            need = max(calls_needed(t.weight) for t in doubtful)
            raise Inconclusive(
                f"from {tally.source}: {n} answered calls are too few to tell whether "
                f"{', '.join(t.version for t in doubtful)} is reachable (P(miss by chance) >= "
                f"{MISS_PROBABILITY:g}); pass --requests {need} or more"
            )
        names = ", ".join(f"{t.version} ({t.cluster})" for t in missing)
        return f"from {tally.source}: did not reach {names}; got {fmt_counts(tally.by_version)}"

    return check


def not_skewed(targets: list[Target], alpha: float = SKEW_ALPHA) -> Predicate:
    """The observed split is consistent with the replica-weighted one at significance `alpha`."""

    def check(tally: Tally) -> str | None:
        observed = [tally.by_version.get(t.version, 0) for t in targets]
        n = sum(observed)
        if n == 0:  # no split to judge: not a pass (reached() says the same for its check)
            raise Inconclusive(f"from {tally.source}: no call was answered, so nothing shows where calls go")
        if len(targets) < 2:
            return None
        p = split_p_value(observed, [t.weight for t in targets])
        if p >= alpha:
            return None
        expected = {t.version: round(t.weight * n, 1) for t in targets}
        got = {t.version: o for t, o in zip(targets, observed, strict=True)}
        return (
            f"from {tally.source}: split {fmt_counts(got)} differs from the replica-weighted "
            f"{fmt_counts(expected)} (p={p:.2g} < alpha {alpha:g})"
        )

    return check


def split_p_value(observed: list[int], weights: list[float]) -> float:
    """Exact binomial for two categories, chi-square goodness of fit for more."""
    total_w = sum(weights)
    probs = [w / total_w for w in weights]
    if len(observed) == 2:
        return binomial_two_sided(observed[0], sum(observed), probs[0])
    return chi_square_p(observed, probs)


def binomial_two_sided(k: int, n: int, p: float) -> float:
    """P of an outcome at most as likely as k successes in n trials (the exact test's definition)."""
    if p <= 0.0 or p >= 1.0:
        return 1.0 if (k == 0 and p <= 0) or (k == n and p >= 1) else 0.0
    logs = [_log_binom_pmf(i, n, p) for i in range(n + 1)]
    threshold = logs[k] + 1e-7  # relative tolerance, as R's binom.test uses
    return min(1.0, sum(math.exp(v) for v in logs if v <= threshold))


def _log_binom_pmf(i: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )


def chi_square_p(observed: list[int], probs: list[float]) -> float:
    n = sum(observed)
    stat = sum((o - n * p) ** 2 / (n * p) for o, p in zip(observed, probs, strict=True) if p > 0)
    return gamma_q((len(observed) - 1) / 2.0, stat / 2.0)


def gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x): series below a+1, continued fraction above
    (Numerical Recipes 6.2); the chi-square survival function is Q(df/2, stat/2)."""
    if x <= 0:
        return 1.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(500):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b, c, d = x + 1 - a, 1 / tiny, 1 / (x + 1 - a)
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)
