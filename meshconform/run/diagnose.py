"""Diagnostics for each failed check, read from the clusters right when it fails, bounded in time.

What to read for which area is mesh/diagnostics.py's; this is the run's side: one handle per
cluster, connected on the first failure and tried once per read (a retry storm helps nobody reading
a failure); blocks cached per run and process (ten traffic failures read istiod's sync status
once); a cluster whose API server did not answer is not asked again; one check's diagnostics stop
after TIME_BUDGET seconds; everything is redacted before it is returned. The report shows what
this returns and reads nothing itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from meshconform.kube import errors, waits
from meshconform.kube.client import Cluster
from meshconform.kube.redact import redact
from meshconform.mesh.diagnostics import Section, plan
from meshconform.mesh.facts import MeshFacts
from meshconform.run.config import RunConfig

TIME_BUDGET = 20.0  # seconds of diagnostics per failed check; a real cluster answers each read in < 1 s
EXPECTED = (errors.KubeError, waits.WaitFailed, ValueError)


class Diagnoser:
    """Reads diagnostics for failed checks from `clusters` (by name), once per block."""

    def __init__(self, clusters: dict[str, Cluster], secrets: tuple[str, ...] = ()) -> None:
        self.clusters = clusters
        self.secrets = secrets
        self.cache: dict[str, Section] = {}
        for cluster in clusters.values():
            cluster.attempts = 1  # a retry storm helps nobody reading a failure

    @classmethod
    def connect(cls, cfg: RunConfig, secrets: tuple[str, ...] = ()) -> Diagnoser:
        """Handles of the run's own, apart from the stages' (whose retries they keep)."""
        pairs = zip(cfg.contexts, cfg.cluster_names, strict=True)
        return cls({n: Cluster.connect(ctx, n, cfg.kubeconfig) for ctx, n in pairs}, secrets)

    def diagnose(self, facts: MeshFacts, area: str | None, target: str) -> list[Section]:
        """The blocks worth reading when a check of `area` failed for `target`."""
        deadline = time.monotonic() + TIME_BUDGET
        out: list[Section] = []
        for key, name, read in plan(self.clusters, facts, area, target):
            out.append(self._section(facts, key, name, read, deadline))
        return out

    def _section(
        self, facts: MeshFacts, key: str, name: str, read: Callable[[], Section], deadline: float
    ) -> Section:
        if key in self.cache:
            return self.cache[key]
        c = facts.clusters.get(name)
        if c is not None and not c.usable:
            return Section(key, "", f"not read: the API server of {name} did not answer")
        if time.monotonic() > deadline:
            why = f"not read: this check's {TIME_BUDGET:.0f}s diagnostics budget was used up"
            return Section(key, "", why)
        try:
            got = read()
        except EXPECTED as exc:
            got = Section(key, "", f"could not read it: {exc}")
        except Exception as exc:  # diagnostics are best effort: a surprise here must not cost the report
            got = Section(key, "", f"could not read it: {type(exc).__name__}: {exc}")
        section = Section(got.title, got.command, redact(got.text, self.secrets))
        self.cache[key] = section
        return section
