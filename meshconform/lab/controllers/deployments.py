"""Deployment controller: one ReplicaSet per pod template, named `<deployment>-<pod-template-hash>`.

Follows pkg/controller/deployment (sync.go getNewReplicaSet, util/deployment_util.go): the hash is
controller.ComputeHash (FNV-1a over the template plus collisionCount, spelt with
rand.SafeEncodeString), the ReplicaSet carries the `pod-template-hash` label in its selector and
template, annotations deployment.kubernetes.io/{revision,desired-replicas,max-replicas}, and an
ownerReference to the Deployment. A new template scales the new ReplicaSet up and old ones down
(at once: the lab has no reason to roll slowly). Status and conditions use the real reasons
(MinimumReplicasAvailable, NewReplicaSetCreated, ReplicaSetUpdated, NewReplicaSetAvailable).
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..apiserver.status import AlreadyExistsError
from ..apiserver.store import clone
from .kit import Queue, Recorder, controlled_by, fnv32a, now, owner_ref, safe_encode, update_status

Obj = dict[str, Any]
DEPLOY, RS = "deployments.apps", "replicasets.apps"
HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    body = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        body += str(collision_count).encode()
    return safe_encode(str(fnv32a(body)))


def _surge(d: Obj, replicas: int) -> int:
    ru = ((d["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(ru, str) and ru.endswith("%"):
        return math.ceil(replicas * int(ru[:-1]) / 100)
    return int(ru)


def _max_unavailable(d: Obj) -> int:
    replicas = int(d["spec"].get("replicas", 1))
    ru = ((d["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(ru, str) and ru.endswith("%"):
        return math.floor(replicas * int(ru[:-1]) / 100)
    return int(ru)


class Deployments:
    def __init__(self, cluster: LabCluster, recorder: Recorder) -> None:
        self.store, self.recorder = cluster.store, recorder
        self.queue = Queue("deployment", self.reconcile)

    def on_event(self, kind: str, res: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if res == DEPLOY:
            self.queue.add((meta["namespace"], meta["name"]))
        elif res in (RS, "pods"):
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "Deployment" and res == RS:
                    self.queue.add((meta["namespace"], ref["name"]))
            if res == "pods":   # pods move a Deployment's ready counts: find it through the ReplicaSet
                rs_ref = next(
                    (r for r in meta.get("ownerReferences") or [] if r.get("kind") == "ReplicaSet"), None
                )
                rs = self.store.find(RS, meta["namespace"], rs_ref["name"]) if rs_ref else None
                for ref in (rs or {}).get("metadata", {}).get("ownerReferences") or []:
                    if ref.get("kind") == "Deployment":
                        self.queue.add((meta["namespace"], ref["name"]))

    def reconcile(self, key: tuple[str, str]) -> None:
        d = self.store.find(DEPLOY, *key)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        d = clone(d)
        owned = [rs for rs in self.store.iter(RS, key[0]) if controlled_by(rs, d["metadata"]["uid"])]
        h = template_hash(d["spec"]["template"], (d.get("status") or {}).get("collisionCount"))
        new = next((rs for rs in owned if rs["metadata"].get("labels", {}).get(HASH) == h), None)
        replicas = int(d["spec"].get("replicas", 1))
        created = False
        if new is None:
            new, created = self._create_rs(d, h, owned, replicas), True
        elif int(new["spec"].get("replicas", 0)) != replicas:
            new = self._scale(d, new, replicas)
        for rs in owned:
            if rs["metadata"]["name"] != new["metadata"]["name"] and int(rs["spec"].get("replicas", 0)):
                self._scale(d, rs, 0)
        self._revision(d, new)
        self._status(key, new, created)

    def _create_rs(self, d: Obj, h: str, owned: list[Obj], replicas: int) -> Obj:
        meta = d["metadata"]
        template = clone(d["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH] = h
        selector = clone(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH] = h
        revision = 1 + max(
            [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned] or [0]
        )
        annotations = {
            "deployment.kubernetes.io/desired-replicas": str(replicas),
            "deployment.kubernetes.io/max-replicas": str(replicas + _surge(d, replicas)),
            REVISION: str(revision),
        }
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{h}",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [owner_ref(d)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            made = self.store.create(RS, rs)
        except AlreadyExistsError:  # a hash collision with a foreign ReplicaSet: bump collisionCount
            status = {
                **(d.get("status") or {}),
                "collisionCount": int((d.get("status") or {}).get("collisionCount") or 0) + 1,
            }
            update_status(self.store, DEPLOY, d, status)
            raise
        self.recorder.event(
            d,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled up replica set {made['metadata']['name']} to {replicas}",
            "deployment-controller",
        )
        return made

    def _scale(self, d: Obj, rs: Obj, replicas: int) -> Obj:
        old = int(rs["spec"].get("replicas", 0))
        new = clone(rs)
        new["spec"]["replicas"] = replicas
        new["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(
            d["spec"].get("replicas", 1)
        )
        new["metadata"].pop("resourceVersion", None)
        out = self.store.update(RS, new)
        verb = "up" if replicas > old else "down"
        self.recorder.event(
            d,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {verb} replica set {rs['metadata']['name']} to {replicas}",
            "deployment-controller",
        )
        return out

    def _revision(self, d: Obj, new: Obj) -> None:
        rev = new["metadata"].get("annotations", {}).get(REVISION)
        if rev and d["metadata"].get("annotations", {}).get(REVISION) != rev:
            cur = clone(self.store.get(DEPLOY, d["metadata"]["namespace"], d["metadata"]["name"]))
            cur["metadata"].setdefault("annotations", {})[REVISION] = rev
            cur["metadata"].pop("resourceVersion", None)
            self.store.update(DEPLOY, cur)

    def _status(self, key: tuple[str, str], new: Obj, created: bool) -> None:
        d = self.store.find(DEPLOY, *key)
        if d is None:
            return
        owned = [rs for rs in self.store.iter(RS, key[0]) if controlled_by(rs, d["metadata"]["uid"])]
        sums = {
            k: sum(int((rs.get("status") or {}).get(k) or 0) for rs in owned)
            for k in ("replicas", "readyReplicas", "availableReplicas")
        }
        cur = self.store.find(RS, key[0], new["metadata"]["name"]) or new
        updated = int((cur.get("status") or {}).get("replicas") or 0)
        desired = int(d["spec"].get("replicas", 1))
        old_status = d.get("status") or {}
        status: Obj = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sums["replicas"],
            "updatedReplicas": updated,
            "readyReplicas": sums["readyReplicas"],
            "availableReplicas": sums["availableReplicas"],
        }
        unavailable = max(0, desired - sums["availableReplicas"])
        if unavailable:
            status["unavailableReplicas"] = unavailable
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration", "replicas")}
        if "collisionCount" in old_status:
            status["collisionCount"] = old_status["collisionCount"]
        status["conditions"] = self._conditions(
            d, cur, created, unavailable, old_status.get("conditions") or []
        )
        update_status(self.store, DEPLOY, d, status)

    def _conditions(self, d: Obj, rs: Obj, created: bool, unavailable: int, old: list[Obj]) -> list[Obj]:
        stamp = now(self.store)
        name = rs["metadata"]["name"]
        available = unavailable <= _max_unavailable(d)
        done = (rs.get("status") or {}).get("availableReplicas", 0) == d["spec"].get("replicas", 1)
        if created:
            prog = ("NewReplicaSetCreated", f'Created new replica set "{name}"')
        elif done:
            prog = ("NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.')
        else:
            prog = ("ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.')
        avail = (
            ("MinimumReplicasAvailable", "Deployment has minimum availability.")
            if available
            else ("MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        )
        conds = [
            self._cond(old, "Available", available, *avail, stamp),
            self._cond(old, "Progressing", True, *prog, stamp),
        ]
        failure = next(
            (c for c in (rs.get("status") or {}).get("conditions") or [] if c["type"] == "ReplicaFailure"),
            None,
        )
        if failure is not None:
            conds.append(
                self._cond(
                    old,
                    "ReplicaFailure",
                    True,
                    failure.get("reason", "FailedCreate"),
                    failure.get("message", ""),
                    stamp,
                )
            )
        return conds

    @staticmethod
    def _cond(old: list[Obj], ctype: str, ok: bool, reason: str, message: str, stamp: str) -> Obj:
        prev = next((c for c in old if c.get("type") == ctype), None)
        status = "True" if ok else "False"
        changed = prev is None or prev.get("status") != status
        same = prev is not None and not changed and prev.get("reason") == reason
        return {
            "type": ctype,
            "status": status,
            "lastUpdateTime": prev["lastUpdateTime"] if same and prev else stamp,
            "lastTransitionTime": stamp if changed or prev is None else prev.get("lastTransitionTime", stamp),
            "reason": reason,
            "message": message,
        }
