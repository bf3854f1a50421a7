"""The check catalogue: what each check asserts over the facts, and what it presupposes.

A check is a named predicate over MeshFacts for one target (a cluster, or an ordered pair A->B)
returning a problem line or None. Its prerequisites are other checks on derived targets; `judge`
evaluates them first, from the facts alone, so a check whose premise is broken is skipped with
the premise's own message instead of failing a second time, and so that this works the same in
every xdist worker. The tests in tests/ are one line each over this table.

No verdict, no green: a skip is green in every CI system, so a check is skipped for two reasons
only. Its premise failed (that failure already makes the run red), or it does not apply to the
mesh under test (statistics.NotApplicable: an istiod too old to serve /debug/clusterz), saying which
check covers what it would have proven. A check whose own facts cannot decide
(statistics.Inconclusive) FAILS with the reason and the remedy, unless the user passed
--allow-inconclusive (`settle`). Neither kind of premise skips its dependants: the traffic checks
still run against the guide's ASM 1.7, whose istiod has no /debug/clusterz, and find there what
that check cannot.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from meshconform.checks import statistics
from meshconform.mesh.facts import ClusterFacts, ControlPlane, MeshFacts

Scope = Literal["cluster", "pair"]
Need = tuple["Check", str]


# Why a check has no verdict of its own: a premise, not applicable, or its facts cannot decide.
Undecided = Literal["", "premise", "not-applicable", "inconclusive"]
NOT_APPLICABLE = "does not apply: "  # how the skip of a check that does not apply to this mesh begins
NOT_JUDGED = "not judged (--allow-inconclusive): "  # how an allowed inconclusive check's skip begins
ALLOW_HINT = "; or pass --allow-inconclusive to let the run pass without this verdict"


@dataclass(frozen=True)
class Outcome:
    status: Literal["passed", "failed", "skipped"]
    message: str = ""
    undecided: Undecided = ""

    @property
    def inconclusive(self) -> bool:
        """Its own facts could not decide (failed, or skipped by --allow-inconclusive)."""
        return self.undecided == "inconclusive"


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


# A run's verdicts, per facts object: a stage's facts are a copy made once and only read after
# (pipeline.run_stage), so a premise judged for one test stands for the next. Without it every
# pair test judged its premise tree again: at 20 clusters, 2,800 tests re-judged the same
# cluster checks about 10,000 times (over half the tests' CPU). The last few stages' facts only,
# so that self-tests building many facts do not keep them all.
_RUN_MEMOS: OrderedDict[int, tuple[MeshFacts, dict[str, Outcome]]] = OrderedDict()
_RUN_MEMO_FACTS = 8


def judge_in_run(facts: MeshFacts, chk: Check, target: str) -> Outcome:
    """judge, sharing premises' verdicts with every other check judged over the same facts
    object; for facts that are not changed after they are first judged (a stage's)."""
    entry = _RUN_MEMOS.get(id(facts))
    if entry is None or entry[0] is not facts:
        entry = _RUN_MEMOS[id(facts)] = (facts, {})
        while len(_RUN_MEMOS) > _RUN_MEMO_FACTS:
            _RUN_MEMOS.popitem(last=False)
    return judge(facts, chk, target, entry[1])


def _judge(facts: MeshFacts, chk: Check, target: str, memo: dict[str, Outcome]) -> Outcome:
    for need, need_target in chk.requires(facts, target):
        outcome = judge(facts, need, need_target, memo)
        if outcome.status != "passed" and outcome.undecided in ("", "premise"):
            why = outcome.message.split("; ")[0] if outcome.status == "failed" else outcome.message
            prefix = "" if outcome.status == "skipped" else f"{need.id(need_target)} failed: "
            return Outcome("skipped", prefix + why, "premise")
    try:
        problem = chk.evaluate(facts, target)
    except statistics.NotApplicable as exc:
        return Outcome("skipped", f"{NOT_APPLICABLE}{exc}", "not-applicable")
    except statistics.Inconclusive as exc:
        return Outcome("failed", f"cannot be judged: {exc}{ALLOW_HINT}", "inconclusive")
    return Outcome("failed", problem) if problem else Outcome("passed")


def settle(outcome: Outcome, allow_inconclusive: bool) -> Outcome:
    """The run's policy for a check that cannot decide: fail (the default), or with
    --allow-inconclusive a skip that says so (and the terminal and summary.json list it)."""
    if not outcome.inconclusive or not allow_inconclusive:
        return outcome
    reason = outcome.message.removeprefix("cannot be judged: ").removesuffix(ALLOW_HINT)
    return Outcome("skipped", NOT_JUDGED + reason, "inconclusive")


def cf(facts: MeshFacts, name: str) -> ClusterFacts:
    return facts.cluster(name)


def control_of(facts: MeshFacts, name: str) -> ControlPlane:
    """The cluster's control-plane facts, or the check cannot decide (istio-system was not read)."""
    control = cf(facts, name).control
    if control is None:
        raise statistics.Inconclusive(
            cf(facts, name).problems.get("control", f"the control plane of {name} could not be read"),
            "make istio-system readable with the run's credentials",
        )
    return control


def reference(facts: MeshFacts, has: Callable[[ClusterFacts], bool]) -> ClusterFacts | None:
    """The first cluster (in --ctx order: the one already in the mesh) that has the fact."""
    return next((c for c in facts.clusters.values() if c.usable and has(c)), None)


def all_checks() -> dict[str, Check]:
    """The registry, with every check module imported."""
    from meshconform.checks import (  # noqa: F401
        cluster,
        join,
        managed,
        mtls,
        networks,
        origin,
        remotes,
        support,
        traffic,
        workloads,
    )

    return REGISTRY
