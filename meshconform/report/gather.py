"""Diagnostics for a failed check, gathered from the clusters when it fails, bounded in time and size.

Which blocks are worth reading depends on what failed (its area, hints.py): a join failure wants
B's remote secrets decoded, istiod's /debug/clusterz and its log; a traffic failure the caller's
sidecar view of helloworld's endpoints; an injection failure the pods, events and istio-proxy logs.
Blocks are cached per run and process (ten traffic failures read istiod's sync status once), a
cluster whose API server did not answer is not asked again, each read is tried once, and one
check's diagnostics stop after TIME_BUDGET seconds. Everything is redacted before it is returned.
This module is library code: the pytest glue (fixtures/reporting.py) attaches what it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from meshconform.kube import errors, waits
from meshconform.kube.client import Cluster
from meshconform.kube.redact import redact
from meshconform.mesh.facts import MeshFacts, split_pair
from meshconform.mesh.remote_secrets import secret_name
from meshconform.report import sections
from meshconform.report.hints import area_of
from meshconform.report.sections import Section

TIME_BUDGET = 20.0  # seconds of diagnostics per failed check; a real cluster answers each read in < 1 s
SERVICE = "helloworld"
EXPECTED = (errors.KubeError, waits.WaitFailed, ValueError)

Step = tuple[str, str, Callable[[], Section]]  # (cache key, cluster, reader)


class Diagnoser:
    """Reads diagnostics for failed checks from `clusters` (by name), once per block."""

    def __init__(self, clusters: dict[str, Cluster], secrets: tuple[str, ...] = ()) -> None:
        self.clusters = clusters
        self.secrets = secrets
        self.cache: dict[str, Section] = {}
        for cluster in clusters.values():
            cluster.attempts = 1  # a retry storm helps nobody reading a failure

    def diagnose(self, facts: MeshFacts, check: str, target: str) -> list[Section]:
        deadline = time.monotonic() + TIME_BUDGET
        out: list[Section] = []
        for key, name, read in self.plan(facts, check, target):
            out.append(self._section(facts, key, name, read, deadline))
        return out

    def _section(
        self, facts: MeshFacts, key: str, name: str, read: Callable[[], Section], deadline: float
    ) -> Section:
        if key in self.cache:
            return self.cache[key]
        c = facts.clusters.get(name)
        if c is not None and c.reach_problem:
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

    # -- what to read for which area ------------------------------------------------------------

    def plan(self, facts: MeshFacts, check: str, target: str) -> list[Step]:
        area = area_of(check)
        if area in ("control", "trust"):
            return self._istiod(facts, target)
        if area == "names":
            return self._secrets(target, None) + self._clusterz(facts, target)
        if area == "join":
            a, b = split_pair(target)
            found = facts.pairs.get(target)  # A's secret may have another name (it reaches A)
            name = found.name if found and found.present else secret_name(a)
            return self._secrets(b, name) + self._clusterz(facts, b) + self._istiod_log(facts, b)
        if area == "injection":
            return self._workloads(facts, target)
        if area == "traffic" and "->" in target:  # the servers' view: the caller's endpoints, B's pods
            a, b = split_pair(target)
            return self._endpoints(facts, a) + self._workloads(facts, b, events=False)
        if area == "traffic":
            steps = self._endpoints(facts, target) + self._clusterz(facts, target)
            return steps + self._workloads(facts, target, events=False)
        return []

    def _cluster(self, name: str) -> Cluster | None:
        return self.clusters.get(name)

    def _istiod_pod(self, facts: MeshFacts, name: str) -> str | None:
        c = facts.clusters.get(name)
        pods = [p for p in (c.control.istiod if c and c.control else []) if p.revision == facts.revision]
        pods.sort(key=lambda p: not p.ready)
        return pods[0].name if pods else None

    def _istiod(self, facts: MeshFacts, name: str) -> list[Step]:
        cl = self._cluster(name)
        if cl is None:
            return []
        ns = sections.ISTIO_NS
        steps: list[Step] = [
            (f"istiod pods {name}", name, lambda: sections.pods(cl, ns, "app=istiod")),
            (f"events {ns} {name}", name, lambda: sections.events(cl, ns)),
        ]
        return steps + self._istiod_log(facts, name)

    def _istiod_log(self, facts: MeshFacts, name: str) -> list[Step]:
        cl, pod = self._cluster(name), self._istiod_pod(facts, name)
        if cl is None or pod is None:
            return []
        ns = sections.ISTIO_NS
        return [(f"istiod log {name}", name, lambda: sections.log_tail(cl, ns, pod, "discovery"))]

    def _clusterz(self, facts: MeshFacts, name: str) -> list[Step]:
        cl, pod = self._cluster(name), self._istiod_pod(facts, name)
        if cl is None or pod is None:
            return []
        return [(f"clusterz {name}", name, lambda: sections.clusterz(cl, pod))]

    def _secrets(self, name: str, expected: str | None) -> list[Step]:
        cl = self._cluster(name)
        if cl is None:
            return []
        return [(f"secrets {name} {expected}", name, lambda: sections.remote_secrets(cl, expected))]

    def _workloads(self, facts: MeshFacts, name: str, events: bool = True) -> list[Step]:
        cl = self._cluster(name)
        if cl is None:
            return []
        ns = facts.namespace
        steps: list[Step] = [(f"pods {ns} {name}", name, lambda: sections.pods(cl, ns))]
        if events:
            steps.append((f"events {ns} {name}", name, lambda: sections.events(cl, ns)))
        wl = facts.clusters[name].workloads if name in facts.clusters else None
        unready = [p.name for p in (wl.pods if wl else []) if p.has_proxy and not p.ready]
        pod = unready[0] if unready else (wl.source_pod if wl else None)
        if pod:
            key = f"proxy log {name} {pod}"
            steps.append((key, name, lambda: sections.log_tail(cl, ns, pod, "istio-proxy")))
        return steps

    def _endpoints(self, facts: MeshFacts, name: str) -> list[Step]:
        cl = self._cluster(name)
        wl = facts.clusters[name].workloads if name in facts.clusters else None
        if cl is None or wl is None or not wl.source_pod:
            return []
        pod, ns = wl.source_pod, facts.namespace

        def read() -> Section:
            owners: dict[str, str] = {}
            for other in self.clusters.values():
                if not facts.clusters.get(other.name) or not facts.clusters[other.name].reach_problem:
                    owners.update(sections.pod_ips(other, ns))
            return sections.endpoints(cl, ns, pod, SERVICE, owners)

        return [(f"endpoints {name} {pod}", name, read)]
