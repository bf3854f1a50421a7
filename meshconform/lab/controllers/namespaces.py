"""Namespace controller (termination) and the root-CA publisher (kube-root-ca.crt).

Deleting a namespace leaves it `Terminating` with spec.finalizers [kubernetes]; as
pkg/controller/namespace/deletion/namespaced_resources_deleter.go does, this controller reports
the NamespaceContentRemaining / NamespaceDeletionContentFailure conditions, deletes every
namespaced object in it, and when nothing is left calls the `finalize` subresource, after which
the namespace disappears. Termination takes a short while (a share of the pod ready delay), long
enough for a client to see `Terminating`, as on a real cluster.
The root-CA publisher (pkg/controller/certificates/rootcacertpublisher) puts the cluster CA in a
`kube-root-ca.crt` ConfigMap in every namespace, which the service-account token volume mounts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..apiserver.resources import RESOURCES
from ..apiserver.store import clone
from .kit import Queue, now, try_create, update_status

Obj = dict[str, Any]
ROOT_CA = "kube-root-ca.crt"


class Namespaces:
    def __init__(self, cluster: LabCluster, ready_delay: float) -> None:
        self.cluster, self.store = cluster, cluster.store
        self.grace = min(1.0, max(0.05, ready_delay))    # seconds before contents go
        self.queue = Queue("namespace", self.reconcile)
        self._deadline: dict[str, float] = {}   # namespace -> loop time its contents go

    def on_event(self, kind: str, res: str, obj: Obj, old: Obj | None) -> None:
        if res == "namespaces" and kind != "DELETED":
            self.queue.add(obj["metadata"]["name"])
        elif res == "configmaps" and kind == "DELETED" and obj["metadata"]["name"] == ROOT_CA:
            self.queue.add(obj["metadata"]["namespace"])

    def reconcile(self, name: str) -> None:
        ns = self.store.find("namespaces", None, name)
        if ns is None:
            return
        if not ns["metadata"].get("deletionTimestamp"):
            self._publish_root_ca(name)
            return
        remaining = self._contents(name)
        if not remaining:
            self._finalize(ns)
            return
        self._report(ns, remaining)
        # contents go after one grace period, so a client can see the namespace Terminating
        t = asyncio.get_running_loop().time()
        deadline = self._deadline.setdefault(name, t + self.grace)
        if t >= deadline:
            self._empty(name, remaining)
        else:
            self.queue.add_after(name, deadline - t)

    def _contents(self, ns: str) -> list[tuple[str, Obj]]:
        out: list[tuple[str, Obj]] = []
        for r in RESOURCES:
            if r.namespaced and r.stored:
                out.extend((r.key, o) for o in self.store.iter(r.key, ns))
        return out

    def _empty(self, name: str, remaining: list[tuple[str, Obj]]) -> None:
        for res, o in remaining:
            if self.store.find(res, name, o["metadata"]["name"]) is not None:
                self.store.delete(res, name, o["metadata"]["name"])
        self.queue.add(name)

    def _report(self, ns: Obj, remaining: list[tuple[str, Obj]]) -> None:
        counts: dict[str, int] = {}
        for res, _ in remaining:
            counts[res] = counts.get(res, 0) + 1
        what = ", ".join(f"{res} has {n} resource instances" for res, n in sorted(counts.items()))
        stamp = now(self.store)
        conds = [
            {
                "type": "NamespaceDeletionDiscoveryFailure",
                "status": "False",
                "lastTransitionTime": stamp,
                "reason": "ResourcesDiscovered",
                "message": "All resources successfully discovered",
            },
            {
                "type": "NamespaceDeletionGroupVersionParsingFailure",
                "status": "False",
                "lastTransitionTime": stamp,
                "reason": "ParsedGroupVersions",
                "message": "All legacy kube types successfully parsed",
            },
            {
                "type": "NamespaceDeletionContentFailure",
                "status": "False",
                "lastTransitionTime": stamp,
                "reason": "ContentDeleted",
                "message": "All content successfully deleted, may be waiting on finalization",
            },
            {
                "type": "NamespaceContentRemaining",
                "status": "True",
                "lastTransitionTime": stamp,
                "reason": "SomeResourcesRemain",
                "message": f"Some resources are remaining: {what}",
            },
            {
                "type": "NamespaceFinalizersRemaining",
                "status": "False",
                "lastTransitionTime": stamp,
                "reason": "ContentHasNoFinalizers",
                "message": "All content-preserving finalizers finished",
            },
        ]
        old = (ns.get("status") or {}).get("conditions") or []
        if [(c["type"], c.get("message")) for c in old] != [(c["type"], c["message"]) for c in conds]:
            update_status(self.store, "namespaces", ns, {"phase": "Terminating", "conditions": conds})

    def _finalize(self, ns: Obj) -> None:
        self._deadline.pop(ns["metadata"]["name"], None)
        new = clone(ns)
        new["spec"] = {**(new.get("spec") or {}), "finalizers": []}
        new["metadata"].pop("resourceVersion", None)
        self.store.update("namespaces", new, subresource="finalize")

    def _publish_root_ca(self, ns: str) -> None:
        if self.store.find("configmaps", ns, ROOT_CA) is None:
            try_create(
                self.store,
                "configmaps",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": ROOT_CA,
                        "namespace": ns,
                        "annotations": {
                            "kubernetes.io/description": "Contains a CA bundle that can be used to "
                            "verify the kube-apiserver when using internal endpoints such as the "
                            "internal service IP or kubernetes.default.svc. No other usage is "
                            "guaranteed across distributions of Kubernetes clusters."
                        },
                    },
                    "data": {"ca.crt": self.cluster.ca_pem.decode()},
                },
            )
