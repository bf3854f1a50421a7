"""The kube-controller-manager, scheduler and kubelets of each lab cluster.

Deployments make ReplicaSets make pods; pods walk Pending -> Running -> Ready on a declared
schedule; Endpoints/EndpointSlices follow ready pods; namespaces terminate. Each cluster gets one
`Controllers` bundle; `install(lab)` registers the built-in admission plugins and subscribes the
controllers (so state the Istio install creates is reconciled like any other), `start(lab)`
reconciles what exists. Other lab-sim packages reach a cluster's bundle with `of(cluster)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from .admission import ServiceIPs, pod_admission
from .deployments import DEPLOY, Deployments
from .endpoints import Endpoints
from .kit import Recorder
from .kubelet import Kubelet
from .namespaces import Namespaces
from .registry import PerCluster
from .replicasets import RS, ReplicaSets

Obj = dict[str, Any]
DEFAULT_READY_DELAY = 0.3


class Controllers:
    def __init__(self, cluster: LabCluster, ready_delay: float = DEFAULT_READY_DELAY) -> None:
        self.cluster = cluster
        self.recorder = Recorder(cluster.store)
        self.kubelet = Kubelet(cluster, self.recorder, ready_delay)
        self.deployments = Deployments(cluster, self.recorder)
        self.replicasets = ReplicaSets(cluster, self.recorder)
        self.endpoints = Endpoints(cluster)
        self.namespaces = Namespaces(cluster, ready_delay)
        self._instant = False
        self.subscribed = False

    def subscribe(self) -> None:
        if self.subscribed:
            return
        self.subscribed = True
        store = self.cluster.store
        store.admission.append(pod_admission)
        store.admission.append(ServiceIPs(self.cluster))
        store.subscribe(self.on_event)

    def on_event(self, kind: str, res: str, obj: Obj, old: Obj | None) -> None:
        if res == "pods" and kind == "ADDED" and self._instant:
            self.kubelet.begin(obj, instantly=True)
        else:
            self.kubelet.on_event(kind, res, obj, old)
        if res in (DEPLOY, RS, "pods"):
            self.deployments.on_event(kind, res, obj, old)
            self.replicasets.on_event(kind, res, obj, old)
        if res in ("services", "pods"):
            self.endpoints.on_event(kind, res, obj, old)
        if res in ("namespaces", "configmaps"):
            self.namespaces.on_event(kind, res, obj, old)

    def resync(self) -> None:
        """Enqueue everything that exists (after a start, as informers' initial list does)."""
        store = self.cluster.store
        for d in store.iter(DEPLOY):
            self.deployments.queue.add((d["metadata"]["namespace"], d["metadata"]["name"]))
        for rs in store.iter(RS):
            self.replicasets.queue.add((rs["metadata"]["namespace"], rs["metadata"]["name"]))
        for s in store.iter("services"):
            self.endpoints.queue.add((s["metadata"]["namespace"], s["metadata"]["name"]))
        for ns in store.iter("namespaces"):
            self.namespaces.queue.add(ns["metadata"]["name"])
        for p in store.iter("pods"):
            if p["metadata"]["uid"] not in self.kubelet.runs:
                self.kubelet.begin(p)

    @contextmanager
    def instantly(self) -> Iterator[None]:
        """Within: pods come up at once and queues are drained on exit (state that predates the lab)."""
        self._instant = True
        try:
            yield
            self.settle()
        finally:
            self._instant = False

    def settle(self, rounds: int = 8) -> None:
        """Drain the queues synchronously until quiet (install time only)."""
        queues = (self.deployments.queue, self.replicasets.queue, self.endpoints.queue, self.namespaces.queue)
        for _ in range(rounds):
            busy = [q for q in queues if q.pending()]
            if not busy:
                return
            for q in busy:
                q.drain_now()

    def stop(self) -> None:
        self.kubelet.stop()
        for q in (
            self.deployments.queue,
            self.replicasets.queue,
            self.endpoints.queue,
            self.namespaces.queue,
        ):
            q.stop()


_BUNDLES: PerCluster[Controllers] = PerCluster(Controllers)


def of(cluster: LabCluster) -> Controllers:
    """The cluster's controllers (made with the default ready delay if install has not run)."""
    return _BUNDLES(cluster)


def install(lab: Any) -> None:
    delay = float(getattr(lab.options, "ready_delay", DEFAULT_READY_DELAY))
    for cluster in lab.clusters.values():
        ctl = _BUNDLES.peek(cluster)
        if ctl is None:
            ctl = _BUNDLES(cluster)
        ctl.kubelet.ready_delay = delay
        ctl.namespaces.grace = min(1.0, max(0.05, delay))
        ctl.subscribe()


def start(lab: Any) -> None:
    for cluster in lab.clusters.values():
        ctl = of(cluster)
        ctl.subscribe()
        ctl.resync()
