"""ReplicaSet controller: keep `spec.replicas` pods alive, named `<replicaset>-<5 chars>`.

As pkg/controller/replicaset/replica_set.go: pods are created from the template with an owning
controller reference, through the full admission chain (so the Istio injector sees them as on a
real cluster); a refusal becomes a FailedCreate warning event `Error creating: <status message>`
and a ReplicaFailure condition, and the controller retries with back-off. Surplus pods are deleted,
not-ready ones first. Status counts replicas, fullyLabeledReplicas, readyReplicas and
availableReplicas (minReadySeconds is 0 for everything the lab runs).
"""

from __future__ import annotations

from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..apiserver.selection import matches_label_selector
from ..apiserver.status import AlreadyExistsError, StatusError
from ..apiserver.store import clone
from .kit import Queue, Recorder, controlled_by, now, owner_ref, random_suffix, update_status

Obj = dict[str, Any]
RS = "replicasets.apps"
MAX_BACKOFF = 10.0     # seconds; kept short so a repaired fault recovers quickly


def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class ReplicaSets:
    def __init__(self, cluster: LabCluster, recorder: Recorder) -> None:
        self.store, self.recorder = cluster.store, recorder
        self.queue = Queue("replicaset", self.reconcile)
        self._failures: dict[tuple[str, str], int] = {}

    def on_event(self, kind: str, res: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if res == RS:
            self.queue.add((meta["namespace"], meta["name"]))
        elif res == "pods":
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "ReplicaSet":
                    self.queue.add((meta["namespace"], ref["name"]))

    def reconcile(self, key: tuple[str, str]) -> None:
        rs = self.store.find(RS, *key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            self._failures.pop(key, None)
            return
        uid = rs["metadata"]["uid"]
        pods = [p for p in self.store.iter("pods", key[0])
                if controlled_by(p, uid) and not p["metadata"].get("deletionTimestamp")]
        want = int(rs["spec"].get("replicas", 1))
        error = None
        if len(pods) < want:
            error = self._create(rs, want - len(pods))
        elif len(pods) > want:
            for p in sorted(pods, key=pod_ready)[: len(pods) - want]:
                self.store.delete("pods", key[0], p["metadata"]["name"])
                self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}",
                                    "replicaset-controller")
        self._status(key, error)

    def _create(self, rs: Obj, n: int) -> str | None:
        key = (rs["metadata"]["namespace"], rs["metadata"]["name"])
        for _ in range(n):
            try:
                made = self.store.create("pods", self._pod(rs))
            except AlreadyExistsError:
                self.queue.add(key)         # a name collision: try again with another suffix
                return None
            except StatusError as e:
                message = f"Error creating: {e.message}"
                self.recorder.event(rs, "Warning", "FailedCreate", message, "replicaset-controller")
                fails = self._failures[key] = self._failures.get(key, 0) + 1
                self.queue.add_after(key, min(MAX_BACKOFF, 0.25 * 2 ** fails))
                return message
            self.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {made['metadata']['name']}",
                                "replicaset-controller")
        self._failures.pop(key, None)
        return None

    @staticmethod
    def _pod(rs: Obj) -> Obj:
        tmpl = clone(rs["spec"]["template"])
        meta = tmpl.get("metadata") or {}
        meta.pop("creationTimestamp", None)
        base = rs["metadata"]["name"]
        meta.update({"name": f"{base}-{random_suffix()}", "generateName": f"{base}-",
                     "namespace": rs["metadata"]["namespace"], "ownerReferences": [owner_ref(rs)]})
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tmpl.get("spec") or {}}

    def _status(self, key: tuple[str, str], error: str | None) -> None:
        rs = self.store.find(RS, *key)
        if rs is None:
            return
        uid = rs["metadata"]["uid"]
        pods = [p for p in self.store.iter("pods", key[0]) if controlled_by(p, uid)]
        labels_ok = [p for p in pods if matches_label_selector(rs["spec"].get("selector") or {},
                                                               p["metadata"].get("labels") or {})]
        ready = sum(1 for p in pods if pod_ready(p))
        status: Obj = {"replicas": len(pods), "fullyLabeledReplicas": len(labels_ok), "readyReplicas": ready,
                       "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        old = [
            c for c in (rs.get("status") or {}).get("conditions") or [] if c.get("type") == "ReplicaFailure"
        ]
        if error is not None:
            stamp = old[0]["lastTransitionTime"] if old else now(self.store)
            status["conditions"] = [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": stamp,
                    "reason": "FailedCreate",
                    "message": error,
                }
            ]
        elif old and key in self._failures:
            status["conditions"] = old
        update_status(self.store, RS, rs, status)
