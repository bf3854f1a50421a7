"""Endpoints and EndpointSlice controllers: each selector Service follows its pods.

As pkg/controller/endpoint/endpoints_controller.go: pods matching the Service selector that have an
IP land in `addresses` when Ready and `notReadyAddresses` otherwise, each with nodeName and a
targetRef to the pod; ports are the Service ports with targetPort resolved (a named targetPort
looks up the container port of that name); the Endpoints carry the Service's labels and the
endpoints.kubernetes.io/last-change-trigger-time annotation. The EndpointSlice
(pkg/controller/endpointslice) is `<service>-<5 chars>`, labelled kubernetes.io/service-name and
endpointslice.kubernetes.io/managed-by, with per-endpoint ready/serving/terminating conditions
and the node's zone. Services without a selector are left to their owners, as upstream does.
"""

from __future__ import annotations

from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..apiserver.selection import matches_map_selector
from ..apiserver.store import clone
from .kit import Queue, now, random_suffix, try_create
from .replicasets import pod_ready

Obj = dict[str, Any]
SLICES = "endpointslices.discovery.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"


def _target_port(port: Obj, pod: Obj) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for c in pod["spec"].get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return None


def _ref(pod: Obj) -> Obj:
    m = pod["metadata"]
    return {"kind": "Pod", "namespace": m["namespace"], "name": m["name"], "uid": m["uid"],
            "resourceVersion": m.get("resourceVersion", "")}


class Endpoints:
    def __init__(self, cluster: LabCluster) -> None:
        self.store = cluster.store
        self.queue = Queue("endpoints", self.reconcile)

    def on_event(self, kind: str, res: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if res == "services":
            self.queue.add((meta["namespace"], meta["name"]))
        elif res == "pods":
            labels = [meta.get("labels") or {}] + ([old["metadata"].get("labels") or {}] if old else [])
            for svc in self.store.iter("services", meta["namespace"]):
                if any(matches_map_selector(svc["spec"].get("selector"), lb) for lb in labels):
                    self.queue.add((meta["namespace"], svc["metadata"]["name"]))

    def reconcile(self, key: tuple[str, str]) -> None:
        ns, name = key
        svc = self.store.find("services", ns, name)
        if svc is None:
            self._drop(ns, name)
            return
        selector = svc["spec"].get("selector")
        if not selector or svc["spec"].get("type") == "ExternalName":
            return
        pods = [p for p in self.store.iter("pods", ns)
                if matches_map_selector(selector, p["metadata"].get("labels") or {})
                and (p.get("status") or {}).get("podIP") and not p["metadata"].get("deletionTimestamp")]
        self._endpoints(svc, pods)
        self._slice(svc, pods)

    def _subsets(self, svc: Obj, pods: list[Obj]) -> list[Obj]:
        groups: dict[tuple[tuple[str, int, str], ...], Obj] = {}
        for pod in pods:
            ports = []
            for p in svc["spec"].get("ports") or []:
                tp = _target_port(p, pod)
                if tp is not None:
                    ports.append((p.get("name", ""), tp, p.get("protocol", "TCP")))
            if not ports:
                continue
            sub = groups.setdefault(tuple(ports), {"ports": [{**({"name": n} if n else {}), "port": tp,
                                                             "protocol": proto} for n, tp, proto in ports]})
            addr = {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName", ""),
                    "targetRef": _ref(pod)}
            sub.setdefault("addresses" if pod_ready(pod) else "notReadyAddresses", []).append(addr)
        for sub in groups.values():
            for k in ("addresses", "notReadyAddresses"):
                if k in sub:
                    sub[k].sort(key=lambda a: a["ip"])
        return list(groups.values())

    def _endpoints(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        subsets = self._subsets(svc, pods)
        cur = self.store.find("endpoints", meta["namespace"], meta["name"])
        if cur is not None and (cur.get("subsets") or []) == subsets and \
                (cur["metadata"].get("labels") or {}) == (meta.get("labels") or {}):
            return
        ep: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                   "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                                "annotations": {TRIGGER: now(self.store)}}}
        if meta.get("labels"):
            ep["metadata"]["labels"] = dict(meta["labels"])
        if subsets:
            ep["subsets"] = subsets
        if cur is None:
            try_create(self.store, "endpoints", ep)
        else:
            new = clone(cur)
            new["metadata"]["annotations"] = {
                **(new["metadata"].get("annotations") or {}),
                **ep["metadata"]["annotations"],
            }
            new["metadata"]["labels"] = ep["metadata"].get("labels", {})
            new["metadata"].pop("resourceVersion", None)
            new.pop("subsets", None)
            if subsets:
                new["subsets"] = subsets
            self.store.update("endpoints", new)

    def _slice(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        ports = [
            {
                "name": p.get("name", ""),
                "port": _target_port(p, pods[0]) if pods else p.get("port"),
                "protocol": p.get("protocol", "TCP"),
            }
            for p in svc["spec"].get("ports") or []
        ]
        endpoints = [
            {
                "addresses": [p["status"]["podIP"]],
                "conditions": {"ready": pod_ready(p), "serving": pod_ready(p), "terminating": False},
                "nodeName": p["spec"].get("nodeName", ""),
                "targetRef": _ref(p),
                **({"zone": z} if (z := self._zone(p)) else {}),
            }
            for p in pods
        ]
        endpoints.sort(key=lambda e: e["addresses"][0])
        mine = [
            s
            for s in self.store.iter(SLICES, meta["namespace"])
            if (s["metadata"].get("labels") or {}).get(SERVICE_NAME) == meta["name"]
        ]
        labels = {
            **(meta.get("labels") or {}),
            SERVICE_NAME: meta["name"],
            MANAGED_BY: "endpointslice-controller.k8s.io",
        }
        body = {"addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        if mine:
            cur = mine[0]
            if all(cur.get(k) == v for k, v in body.items()) and cur["metadata"].get("labels") == labels:
                return
            new = {**clone(cur), **body}
            new["metadata"]["labels"] = labels
            new["metadata"].pop("resourceVersion", None)
            self.store.update(SLICES, new)
            return
        owner = {
            "apiVersion": "v1",
            "kind": "Service",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        try_create(
            self.store,
            SLICES,
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{meta['name']}-{random_suffix()}",
                    "generateName": f"{meta['name']}-",
                    "namespace": meta["namespace"],
                    "labels": labels,
                    "ownerReferences": [owner],
                    "annotations": {TRIGGER: now(self.store)},
                },
                **body,
            },
        )

    def _zone(self, pod: Obj) -> str:
        node = (
            self.store.find("nodes", None, pod["spec"].get("nodeName", ""))
            if pod["spec"].get("nodeName")
            else None
        )
        return str(
            ((node or {}).get("metadata", {}).get("labels") or {}).get("topology.kubernetes.io/zone", "")
        )

    def _drop(self, ns: str, name: str) -> None:
        if self.store.find("endpoints", ns, name) is not None:
            self.store.delete("endpoints", ns, name)
        for s in list(self.store.iter(SLICES, ns)):
            if (s["metadata"].get("labels") or {}).get(SERVICE_NAME) == name:
                self.store.delete(SLICES, ns, s["metadata"]["name"])
