"""The traffic matrix: where each cluster's hello calls went, against where they should go.

Rows are source clusters, columns the helloworld versions; version vK runs only in cluster K, so a
column is also a destination cluster. Each cell keeps the count and its share of the answered
calls, next to the replica-weighted share the checks expect (checks.traffic.targets). A zero in a
column that has ready replicas is *unreached*: the one cell a person looks for when "calls always
answer v1" (istio/istio#41104).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshconform.checks.traffic import targets
from meshconform.facts import MeshFacts

HANDFUL = 6  # versions drawn one by one; beyond it the chart groups them and the table is compact


@dataclass(frozen=True)
class Destination:
    version: str
    cluster: str
    expected: float  # replica-weighted share


@dataclass
class Row:
    source: str
    requests: int = 0
    errors: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problem: str | None = None  # why no calls were sent from here

    @property
    def answered(self) -> int:
        return sum(self.counts.values())

    def share(self, version: str) -> float:
        return self.counts.get(version, 0) / self.answered if self.answered else 0.0


@dataclass
class TrafficMatrix:
    destinations: list[Destination] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def unreached(self, row: Row) -> list[Destination]:
        """Destinations with ready replicas that this source never reached."""
        if not row.answered:
            return []
        return [d for d in self.destinations if d.expected > 0 and row.counts.get(d.version, 0) == 0]

    def versions(self) -> list[str]:
        known = [d.version for d in self.destinations]
        extra = sorted({v for r in self.rows for v in r.counts} - set(known))
        return known + extra

    def notable(self, limit: int = HANDFUL - 1) -> list[str]:
        """Every version when there are a handful; else the `limit` that most deserve a colour of their
        own: those some source never reached (the most often missed first), then those furthest from
        their expected share at some source (relative to it), in the matrix's order. A ranking for
        the eye only: the checks judge."""
        versions = self.versions()
        if len(versions) <= HANDFUL:
            return versions
        expected = {d.version: d.expected for d in self.destinations}
        missed = {v: sum(1 for r in self.rows for d in self.unreached(r) if d.version == v) for v in versions}

        def deviation(v: str) -> float:
            if not expected.get(v):
                return float("inf")  # answered though not expected at all
            return max(
                (abs(r.share(v) - expected[v]) / expected[v] for r in self.rows if r.answered), default=0.0
            )

        ranked = sorted(versions, key=lambda v: (-missed[v], -deviation(v), versions.index(v)))[:limit]
        return [v for v in versions if v in ranked]

    def owner(self, version: str) -> str:
        return next((d.cluster for d in self.destinations if d.version == version), "?")

    def as_dict(self) -> dict[str, Any]:
        return {
            "destinations": [
                {"version": d.version, "cluster": d.cluster, "expected_share": round(d.expected, 4)}
                for d in self.destinations
            ],
            "sources": {r.source: self._row_dict(r) for r in self.rows},
        }

    def _row_dict(self, row: Row) -> dict[str, Any]:
        return {
            "requests": row.requests,
            "answered": row.answered,
            "errors": row.errors,
            "counts": dict(sorted(row.counts.items())),
            "shares": {v: round(row.share(v), 4) for v in sorted(row.counts)},
            "unreached": [d.version for d in self.unreached(row)],
            "problem": row.problem,
        }


def build(facts: MeshFacts) -> TrafficMatrix:
    """The matrix of a run, in --ctx order; sources that sent nothing keep their reason."""
    matrix = TrafficMatrix(destinations=[Destination(t.version, t.cluster, t.weight) for t in targets(facts)])
    for name in facts.names:
        tally = facts.traffic.get(name)
        if tally is None:
            if name in facts.traffic_problems:
                matrix.rows.append(Row(name, problem=facts.traffic_problems[name]))
            continue
        failed = sum(n for code, n in tally.by_status.items() if code != "200") + tally.malformed
        matrix.rows.append(Row(name, tally.requests, failed, dict(tally.by_version)))
    return matrix
