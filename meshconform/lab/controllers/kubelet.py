"""Scheduler + kubelet: bind each new pod to a node, then walk it through the declared lifecycle.

The lifecycle is the table `podstatus.STEPS` (scheduled -> initialized -> running -> ready), each
step applied after its share of the pod's ready delay, so `slow-start` is a bigger delay, not other
code (after moto's managed_state_model). What a container does once started is asked
of behaviour hooks: the Istio simulation makes istio-proxy NEVER_READY (proxy-not-ready) or istiod's
discovery container CRASHLOOP (istiod-down). Events are the kubelet's and the scheduler's texts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from . import podstatus as ps
from .kit import Recorder, now, update_status

Obj = dict[str, Any]
Behaviour = Callable[[LabCluster, Obj, Obj], str | None]   # (cluster, pod, container) -> OK/...

PROBE_PERIOD = 2.0        # seconds between repeated Unhealthy events (the probe's periodSeconds)
BACKOFF_PERIOD = 10.0     # seconds between CrashLoopBackOff restarts (the kubelet's first back-off)


class Kubelet:
    def __init__(self, cluster: LabCluster, recorder: Recorder, ready_delay: float) -> None:
        self.cluster, self.store, self.recorder = cluster, cluster.store, recorder
        self.ready_delay = ready_delay
        self.behaviours: list[Behaviour] = []
        self.slowdown = 1.0          # slow-start multiplies every pod's ready delay
        self.runs: dict[str, ps.Run] = {}                       # pod uid -> run
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._ips = 0
        self._ip_of: dict[str, str] = {}
        self._next_node = 0

    # -- events --------------------------------------------------------------------------------
    def on_event(self, kind: str, res: str, obj: Obj, old: Obj | None) -> None:
        if res != "pods":
            return
        uid = obj["metadata"]["uid"]
        if kind == "DELETED":
            self._forget(uid)
        elif kind == "ADDED" and uid not in self.runs:
            self.begin(obj)

    def begin(self, pod: Obj, *, instantly: bool = False) -> None:
        """Start a pod's lifecycle (instantly: all steps now, for state that predates the lab)."""
        uid = pod["metadata"]["uid"]
        self.runs[uid] = ps.Run(step="", behaviours={}, since={}, kubelet_minor=self.cluster.release.minor)
        if instantly:
            for step in ps.STEPS:
                self._apply(pod["metadata"]["namespace"], pod["metadata"]["name"], uid, step, chain=False)
            return
        self._later(uid, 0.0, pod, ps.STEPS[0])

    def stop(self) -> None:
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()

    # -- steps ---------------------------------------------------------------------------------
    def delay_for(self, pod: Obj) -> float:
        return self.ready_delay * self.slowdown

    def _later(self, uid: str, delay: float, pod: Obj, step: ps.StartupStep) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        loop = asyncio.get_running_loop()
        self._timers[uid] = loop.call_later(delay, self._apply, ns, name, uid, step)

    def _apply(self, ns: str, name: str, uid: str, step: ps.StartupStep, chain: bool = True) -> None:
        self._timers.pop(uid, None)
        pod = self.store.find("pods", ns, name)
        run = self.runs.get(uid)
        if pod is None or run is None or pod["metadata"]["uid"] != uid:
            self._forget(uid)
            return
        run.step, run.since[step.name] = step.name, now(self.store)
        if step.name == ps.SCHEDULED:
            pod = self._bind(pod) or pod
        if step.name == ps.INITIALIZED:  # native sidecars start with the init containers
            sidecars = [c for c in pod["spec"].get("initContainers") or [] if ps.restartable(c)]
            run.behaviours.update({c["name"]: self._behaviour(pod, c) for c in sidecars})
        if step.name == ps.RUNNING:
            run.behaviours.update({c["name"]: self._behaviour(pod, c) for c in pod["spec"]["containers"]})
        node = pod["spec"].get("nodeName", "")
        update_status(self.store, "pods", pod, ps.status(pod, run, self._host_ip(node), self._pod_ip(uid)))
        self._events(pod, step.name, node)
        nxt = self._next(step)
        if nxt is not None and chain:
            self._later(uid, (nxt.at - step.at) * self.delay_for(pod), pod, nxt)
        elif nxt is None:
            self._after_ready(pod, run)

    @staticmethod
    def _next(step: ps.StartupStep) -> ps.StartupStep | None:
        i = [s.name for s in ps.STEPS].index(step.name)
        return ps.STEPS[i + 1] if i + 1 < len(ps.STEPS) else None

    def _behaviour(self, pod: Obj, container: Obj) -> str:
        for hook in self.behaviours:
            b = hook(self.cluster, pod, container)
            if b is not None:
                return b
        return ps.OK

    def _bind(self, pod: Obj) -> Obj | None:
        """The scheduler's binding: nodeName set, PodScheduled, the Scheduled event."""
        if pod["spec"].get("nodeName"):
            return None
        nodes = self.store.iter("nodes")
        if not nodes:
            return None
        node = nodes[self._next_node % len(nodes)]["metadata"]["name"]
        self._next_node += 1
        new = {**pod, "spec": {**pod["spec"], "nodeName": node},
               "metadata": {k: v for k, v in pod["metadata"].items() if k != "resourceVersion"}}
        bound = self.store.update("pods", new)
        self.recorder.event(bound, "Normal", "Scheduled", f"Successfully assigned "
                            f"{pod['metadata']['namespace']}/{pod['metadata']['name']} to {node}",
                            "default-scheduler")
        return bound

    def _events(self, pod: Obj, step: str, node: str) -> None:
        if step == ps.INITIALIZED:
            for c in pod["spec"].get("initContainers") or []:
                self._container_events(pod, c, f"spec.initContainers{{{c['name']}}}", node)
        elif step == ps.RUNNING:
            for c in pod["spec"]["containers"]:
                self._container_events(pod, c, f"spec.containers{{{c['name']}}}", node)

    def _container_events(self, pod: Obj, c: Obj, path: str, node: str) -> None:
        image = c.get("image", "")
        if c.get("imagePullPolicy") == "Always":
            self.recorder.event(pod, "Normal", "Pulling", f'Pulling image "{image}"', "kubelet", node, path)
            self.recorder.event(pod, "Normal", "Pulled", f'Successfully pulled image "{image}"', "kubelet",
                                node, path)
        else:
            self.recorder.event(
                pod,
                "Normal",
                "Pulled",
                f'Container image "{image}" already present on machine',
                "kubelet",
                node,
                path,
            )
        self.recorder.event(pod, "Normal", "Created", f"Created container {c['name']}", "kubelet", node, path)
        self.recorder.event(pod, "Normal", "Started", f"Started container {c['name']}", "kubelet", node, path)

    # -- containers that misbehave ---------------------------------------------------------------
    def _after_ready(self, pod: Obj, run: ps.Run) -> None:
        uid = pod["metadata"]["uid"]
        bad = {n: b for n, b in run.behaviours.items() if b != ps.OK}
        if not bad:
            return
        node = pod["spec"].get("nodeName", "")
        inits = {c["name"]: c for c in pod["spec"].get("initContainers") or []}
        for name, b in bad.items():
            path = f"spec.{'initContainers' if name in inits else 'containers'}{{{name}}}"
            if b == ps.NEVER_READY:
                mains: dict[str, Obj] = {c["name"]: c for c in pod["spec"]["containers"]}
                spec = inits.get(name) or mains.get(name) or {}
                # a native sidecar's startup probe fails first (same endpoint), holding the pod back
                kind = "Startup" if name in inits and spec.get("startupProbe") else "Readiness"
                probe: Obj = spec.get(f"{kind.lower()}Probe") or {}
                port = (probe.get("httpGet") or {}).get("port", "")
                self.recorder.event(
                    pod,
                    "Warning",
                    "Unhealthy",
                    f"{kind} probe failed: HTTP probe failed with statuscode: 503"
                    if port
                    else f"{kind} probe failed:",
                    "kubelet",
                    node,
                    path,
                )
            elif b == ps.CRASHLOOP:
                run.restarts += 1
                self.recorder.event(
                    pod, "Warning", "BackOff", "Back-off restarting failed container", "kubelet", node, path
                )
        if any(b == ps.CRASHLOOP for b in bad.values()):
            update_status(
                self.store, "pods", pod, ps.status(pod, run, self._host_ip(node), self._pod_ip(uid))
            )
        period = BACKOFF_PERIOD if ps.CRASHLOOP in bad.values() else PROBE_PERIOD
        loop = asyncio.get_running_loop()
        ns, pname = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self._timers[uid] = loop.call_later(period, self._repeat, ns, pname, uid)

    def _repeat(self, ns: str, name: str, uid: str) -> None:
        self._timers.pop(uid, None)
        pod, run = self.store.find("pods", ns, name), self.runs.get(uid)
        if pod is not None and run is not None and pod["metadata"]["uid"] == uid:
            if self._probe_again(pod, run):
                return
            self._after_ready(pod, run)

    def _probe_again(self, pod: Obj, run: ps.Run) -> bool:
        """The readiness probe runs every period: a container whose cause of failing went away (a
        sidecar that now gets its certificate) turns ready; a native sidecar's startup probe passes
        then, and the app containers it held back start. -> whether nothing fails any more."""
        sidecars = [c for c in pod["spec"].get("initContainers") or [] if ps.restartable(c)]
        by_name = {c["name"]: c for c in [*sidecars, *pod["spec"]["containers"]]}
        passing = [n for n, b in run.behaviours.items()
                   if b == ps.NEVER_READY and n in by_name and self._behaviour(pod, by_name[n]) == ps.OK]
        if not passing:
            return False
        run.behaviours.update(dict.fromkeys(passing, ps.OK))
        node = pod["spec"].get("nodeName", "")
        uid = pod["metadata"]["uid"]
        update_status(self.store, "pods", pod, ps.status(pod, run, self._host_ip(node), self._pod_ip(uid)))
        return all(b == ps.OK for b in run.behaviours.values())

    # -- addresses -----------------------------------------------------------------------------
    def _host_ip(self, node: str) -> str:
        n = self.store.find("nodes", None, node) if node else None
        for a in ((n or {}).get("status") or {}).get("addresses") or []:
            if a.get("type") == "InternalIP":
                return str(a["address"])
        return ""

    def _pod_ip(self, uid: str) -> str:
        """Pod IPs unique across the lab's clusters (one flat network, as the guide's shared VPC)."""
        if uid not in self._ip_of:
            self._ips += 1
            k = cluster_index(self.cluster)
            self._ip_of[uid] = f"10.{4 * k}.{self._ips // 250}.{self._ips % 250 + 2}"
        return self._ip_of[uid]

    def _forget(self, uid: str) -> None:
        self.runs.pop(uid, None)
        t = self._timers.pop(uid, None)
        if t is not None:
            t.cancel()


def cluster_index(cluster: LabCluster) -> int:
    """cluster-3 -> 3 (names are cluster-1..N); other names hash into 9..63."""
    tail = cluster.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 9 + sum(cluster.name.encode()) % 55
