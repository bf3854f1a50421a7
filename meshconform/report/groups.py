"""Naming many targets in a few words: the failing pairs of a check, for the terminal and the verdict.

At 20 clusters one broken cluster fails a pair check for 19 pairs, and a line per pair buries the
one fact a person needs: *which cluster* is broken. A set of ordered pairs A->B is therefore
written the way a person would say it: a source that fails towards every other cluster is
`cluster-3->*`, a target that fails from every other cluster is `*->cluster-7` (`*`: every other
cluster of the run), and what is left is grouped by source, `cluster-1->{cluster-2,cluster-5}`,
or by target, `{cluster-2,cluster-4}->cluster-6`, whichever takes fewer groups; a group that
holds most of the other clusters names the few it does not, `{* except cluster-3}->cluster-1`.
Clusters keep the run's --ctx order. Per-cluster targets are listed in that order. Nothing here judges: the
outcomes come from the checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from meshconform.report.hints import HINTS

STAR = "*"
STAR_NOTE = "(* = every other cluster)"
MIN_STAR = 3  # a full row or column is written as * from this many pairs; below it the names are shorter
FAILING = ("failed", "error")
Pair = tuple[str, str]


def split_id(check_id: str) -> tuple[str, str | None]:
    """`test_x[cluster-1->cluster-2]` -> ("test_x", "cluster-1->cluster-2"); no brackets: no target."""
    name, sep, rest = check_id.partition("[")
    return name, (rest.removesuffix("]") if sep else None)


def _set(members: Sequence[str], missing: Sequence[str]) -> str:
    """`a`, `{a,b}`, or when fewer of the other clusters are missing than present `{* except c}`."""
    if len(missing) < len(members) and len(members) + len(missing) >= MIN_STAR:
        return "{" + f"{STAR} except " + ",".join(missing) + "}"
    return members[0] if len(members) == 1 else "{" + ",".join(members) + "}"


def _full(pairs: set[Pair], names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Sources failing towards every other cluster, and targets failing from every other one."""
    if len(names) - 1 < MIN_STAR:
        return [], []
    rows = [a for a in names if all((a, b) in pairs for b in names if b != a)]
    cols = [b for b in names if all((a, b) in pairs for a in names if a != b)]
    return rows, cols


def _grouped(pairs: set[Pair], wanted: set[Pair], names: Sequence[str], by_source: bool) -> list[str]:
    """`pairs` grouped by their source (or target); `wanted` (all pairs named) decides what is missing."""
    out = []
    for n in names:
        ends = [o for o in names if o != n]
        members = [o for o in ends if ((n, o) if by_source else (o, n)) in pairs]
        if not members:
            continue
        missing = [o for o in ends if ((n, o) if by_source else (o, n)) not in wanted]
        group = _set(members, missing)
        out.append(f"{n}->{group}" if by_source else f"{group}->{n}")
    return out


def compact_pairs(pairs: Iterable[Pair], names: Sequence[str]) -> list[str]:
    """The fewest groups that name exactly `pairs`: full rows and columns as *, then the rest."""
    names = list(names) + sorted({n for p in pairs for n in p} - set(names))
    wanted = set(pairs)
    if not wanted:
        return []
    rows, cols = _full(wanted, names)
    if len(rows) == len(names):
        return [f"{STAR}->{STAR}"]
    out = [f"{a}->{STAR}" for a in rows] + [f"{STAR}->{b}" for b in cols]
    rest = {p for p in wanted if p[0] not in rows and p[1] not in cols}
    by_source, by_target = _grouped(rest, wanted, names, True), _grouped(rest, wanted, names, False)
    return out + (by_target if len(by_target) < len(by_source) else by_source)


def compact_targets(targets: Iterable[str], names: Sequence[str]) -> list[str]:
    """Cluster targets as one group in --ctx order (`every cluster` when all are), then the pair
    targets compacted (compact_pairs)."""
    pairs: list[Pair] = []
    clusters: list[str] = []
    for target in targets:
        a, arrow, b = target.partition("->")
        if arrow:
            pairs.append((a, b))
        else:
            clusters.append(target)
    order = {n: i for i, n in enumerate(names)}
    clusters.sort(key=lambda n: (order.get(n, len(order)), n))
    if len(names) >= MIN_STAR and set(names) <= set(clusters):
        clusters = [f"every cluster ({len(clusters)})"]
    return ([", ".join(clusters)] if clusters else []) + compact_pairs(pairs, names)


def by_check(checks: dict[str, dict[str, Any]], outcomes: Sequence[str] = FAILING) -> dict[str, list[str]]:
    """check name -> its targets whose outcome is one of `outcomes`, checks in the guide's order."""
    out: dict[str, list[str]] = {}
    for check_id, entry in checks.items():
        if entry["outcome"] in outcomes:
            name, target = split_id(check_id)
            out.setdefault(name, [])
            if target is not None:
                out[name].append(target)
    order = {n: i for i, n in enumerate(HINTS)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def phrase(targets: Sequence[str], names: Sequence[str], limit: int = 8) -> str:
    """`cluster-1->{cluster-2,cluster-5}; cluster-3->*`, at most `limit` groups and a count of the rest."""
    groups = compact_targets(targets, names)
    shown = "; ".join(groups[:limit])
    if len(groups) > limit:
        shown += f"; and {len(groups) - limit} more groups"
    return shown


def failing_lines(checks: dict[str, dict[str, Any]], names: Sequence[str], limit: int = 8) -> list[str]:
    """`failed: CHECK: TARGETS`, one line per failing check, its targets compacted; the terminal's."""
    lines = []
    for name, targets in by_check(checks).items():
        count = f" ({len(targets)} failed)" if len(targets) > 1 else ""
        lines.append(
            f"failed: {name}: {phrase(targets, names, limit)}{count}" if targets else f"failed: {name}"
        )
    if any(STAR in line for line in lines):
        lines.append(STAR_NOTE)
    return lines
