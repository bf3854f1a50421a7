"""The traffic matrix: where each cluster's hello calls went, against where they should go.

Rows are source clusters, columns the helloworld versions; version vK runs only in cluster K, so a
column is also a destination cluster. Each cell keeps the count and its share of the answered
calls, next to the replica-weighted share the checks expect (checks.traffic.targets). A zero in a
column that has ready replicas is *unreached*: the one cell a person looks for when "calls always
answer v1" (istio/istio#41104).

Beside each count, the server's view: how many of the calls from that source the version's own
sidecars counted as received over mutual TLS from the source's sleep identity (checks.mtls), and
per destination why that view is missing when it is (stats unreadable, metrics disabled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshconform.checks.mtls import MTLS, cluster_ids, identity
from meshconform.checks.traffic import calls_not_sent, targets
from meshconform.mesh.facts import MeshFacts

HANDFUL = 6  # versions drawn one by one; beyond it the chart groups them and the table is compact


@dataclass(frozen=True)
class Destination:
    version: str
    cluster: str
    expected: float  # replica-weighted share


@dataclass
class Row:
    source: str
    calls: int = 0
    errors: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problem: str | None = None  # why no calls were sent from here
    confirmed: dict[str, int] = field(default_factory=dict)  # by version: received over mTLS from us
    received: dict[str, int] = field(default_factory=dict)  # by version: all its sidecars counted from us

    @property
    def answered(self) -> int:
        return sum(self.counts.values())

    def share(self, version: str) -> float:
        return self.counts.get(version, 0) / self.answered if self.answered else 0.0


@dataclass
class TrafficMatrix:
    destinations: list[Destination] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    server_unknown: dict[str, str] = field(default_factory=dict)  # version -> why its view is missing

    def unconfirmed(self, row: Row, version: str) -> bool:
        """Answered, per the caller, more often than the server confirms (and the server was read)."""
        known = version not in self.server_unknown
        return known and row.confirmed.get(version, 0) < row.counts.get(version, 0)

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
            "server_unknown": dict(self.server_unknown),
        }

    def _row_dict(self, row: Row) -> dict[str, Any]:
        return {
            "requests": row.calls,
            "answered": row.answered,
            "errors": row.errors,
            "counts": dict(sorted(row.counts.items())),
            "shares": {v: round(row.share(v), 4) for v in sorted(row.counts)},
            "unreached": [d.version for d in self.unreached(row)],
            "problem": row.problem,
            "confirmed_mtls": dict(sorted(row.confirmed.items())),
            "received": dict(sorted(row.received.items())),
        }


def build(facts: MeshFacts) -> TrafficMatrix:
    """The matrix of a run, in --ctx order; sources that sent nothing keep their reason."""
    matrix = TrafficMatrix(destinations=[Destination(t.version, t.cluster, t.weight) for t in targets(facts)])
    for name in facts.names:
        tally = facts.traffic.get(name)
        if tally is None:
            problem = calls_not_sent(facts, name)
            if problem:
                matrix.rows.append(Row(name, problem=problem))
            continue
        failed = sum(n for code, n in tally.by_status.items() if code != "200") + tally.malformed
        matrix.rows.append(Row(name, tally.calls, failed, dict(tally.by_version)))
    server_view(facts, matrix)
    return matrix


def server_view(facts: MeshFacts, matrix: TrafficMatrix) -> None:
    """Fill each row's server columns from what the destinations' sidecars counted."""
    for d in matrix.destinations:
        view = facts.server_view.get(d.cluster)
        if view is None:
            matrix.server_unknown[d.version] = "not read"
        elif view.problems and len(view.problems) == len(view.pods):
            matrix.server_unknown[d.version] = next(iter(view.problems.values()))
        elif not view.received and view.telemetry_off:
            off = ", ".join(view.telemetry_off)
            matrix.server_unknown[d.version] = f"metrics disabled by Telemetry {off}"
        elif view.received and all(r.source_cluster == "" for r in view.received):
            total = sum(r.calls for r in view.received if r.security == MTLS)
            matrix.server_unknown[d.version] = f"no source_cluster label: {total} over mTLS from all callers"
        if view is None:
            continue
        for row in matrix.rows:
            ids, sleep = cluster_ids(facts, row.source), identity(facts, row.source)
            mine = [r for r in view.received if r.source_cluster in ids]
            row.received[d.version] = sum(r.calls for r in mine)
            row.confirmed[d.version] = sum(
                r.calls for r in mine if r.security == MTLS and r.source_principal == sleep
            )
