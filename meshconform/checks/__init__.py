"""The check catalogue: what each check asserts over the facts, and what it presupposes.

A check is a named predicate over MeshFacts for one target (a cluster, or an ordered pair A->B)
returning a problem line or None. Its prerequisites are other checks on derived targets; `judge`
evaluates them first, from the facts alone, so a check whose premise is broken is skipped with
the premise's own message instead of failing a second time, and so that this works the same in
every xdist worker. A premise that could not be judged (inconclusive: an istiod too old to report
its sync status, too few calls) is not a broken one: the check goes on and judges its own facts,
so that, e.g., the traffic checks still run against the guide's ASM 1.7, whose istiod has no
/debug/clusterz, and find there what that check cannot. The tests in tests/ are one line each over this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from meshconform import verdicts
from meshconform.facts import ClusterFacts, MeshFacts

Scope = Literal["cluster", "pair"]
Need = tuple["Check", str]


@dataclass(frozen=True)
class Outcome:
    status: Literal["passed", "failed", "skipped"]
    message: str = ""
    inconclusive: bool = False  # skipped because its own facts cannot decide, not for a premise


@dataclass(frozen=True)
class Check:
    name: str  # the test function that runs it, e.g. test_istiod_ready
    scope: Scope
    evaluate: Callable[[MeshFacts, str], str | None]
    requires: Callable[[MeshFacts, str], list[Need]]

    def id(self, target: str) -> str:
        return f"{self.name}[{target}]"


REGISTRY: dict[str, Check] = {}


def check(
    name: str, scope: Scope = "cluster", requires: Callable[[MeshFacts, str], list[Need]] | None = None
) -> Callable[[Callable[[MeshFacts, str], str | None]], Check]:
    def register(fn: Callable[[MeshFacts, str], str | None]) -> Check:
        REGISTRY[name] = Check(name, scope, fn, requires or (lambda facts, target: []))
        return REGISTRY[name]

    return register


def judge(facts: MeshFacts, chk: Check, target: str, memo: dict[str, Outcome] | None = None) -> Outcome:
    """Prerequisites first (skip on the first one that is not passing), then the check itself."""
    memo = {} if memo is None else memo
    key = chk.id(target)
    if key not in memo:
        memo[key] = _judge(facts, chk, target, memo)
    return memo[key]


def _judge(facts: MeshFacts, chk: Check, target: str, memo: dict[str, Outcome]) -> Outcome:
    for need, need_target in chk.requires(facts, target):
        outcome = judge(facts, need, need_target, memo)
        if outcome.status != "passed" and not outcome.inconclusive:
            why = outcome.message.split("; ")[0] if outcome.status == "failed" else outcome.message
            prefix = "" if outcome.status == "skipped" else f"{need.id(need_target)} failed: "
            return Outcome("skipped", prefix + why)
    try:
        problem = chk.evaluate(facts, target)
    except verdicts.Inconclusive as exc:
        return Outcome("skipped", str(exc), inconclusive=True)
    return Outcome("failed", problem) if problem else Outcome("passed")


def cf(facts: MeshFacts, name: str) -> ClusterFacts:
    return facts.cluster(name)


def reference(facts: MeshFacts, has: Callable[[ClusterFacts], bool]) -> ClusterFacts | None:
    """The first cluster (in --ctx order: the one already in the mesh) that has the fact."""
    return next((c for c in facts.clusters.values() if not c.reach_problem and has(c)), None)


def all_checks() -> dict[str, Check]:
    """The registry, with every check module imported."""
    from meshconform.checks import cluster, join, traffic, workloads  # noqa: F401

    return REGISTRY
