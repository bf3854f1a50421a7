"""istiod's namespace controller: an `istio-ca-root-cert` ConfigMap in every namespace.

As pilot/pkg/bootstrap/namespacecontroller (security/pkg/k8s/controller), istiod writes the
mesh root certificate under key `root-cert.pem`, labelled istio.io/config=true, into each
namespace but the ignored system ones, and puts it back when deleted or edited. Only a running
istiod does this: with istiod down, new namespaces get none. Terminating namespaces are left alone.
In a remote the primary's istiod does it, once it leads the remote (istio/remote.py `led`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..apiserver.store import clone
from ..controllers.kit import Queue, try_create
from ..controllers.replicasets import pod_ready
from . import revisions as rv

Obj = dict[str, Any]
NAME = "istio-ca-root-cert"
# inject.IgnoredNamespaces: istiod publishes no root certificate there
IGNORED = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")
KEY = "root-cert.pem"


class RootCertPublisher:
    def __init__(
        self,
        cluster: LabCluster,
        root_pem: str,
        managed: bool = False,
        leader: Callable[[], bool] | None = None,
    ) -> None:
        self.store, self.root_pem = cluster.store, root_pem
        self.managed = managed  # Google's control plane publishes it: no istiod pod to wait for
        # a remote's: whether a primary's istiod leads it (istio/remote.py); no local istiod then
        self.leader = leader
        self.queue = Queue(f"istio-ca-root-cert/{cluster.name}", self.reconcile)

    def on_event(self, kind: str, res: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if res == "namespaces" and kind != "DELETED":
            self.queue.add(meta["name"])
        elif res == "configmaps" and meta["name"] == NAME:
            self.queue.add(meta["namespace"])
        elif res == "pods" and meta.get("namespace") == rv.ISTIO_NS and \
                (meta.get("labels") or {}).get("app") == "istiod":    # an istiod came up: catch up
            self.resync()

    def resync(self) -> None:
        for ns in self.store.iter("namespaces"):
            self.queue.add(ns["metadata"]["name"])

    def istiod_running(self) -> bool:
        if self.leader is not None:
            return self.leader()
        return self.managed or any(pod_ready(p) for p in self.store.iter("pods", rv.ISTIO_NS)
                   if (p["metadata"].get("labels") or {}).get("app") == "istiod")

    def reconcile(self, ns_name: str) -> None:
        ns = self.store.find("namespaces", None, ns_name)
        if ns is None or ns_name in IGNORED or ns["metadata"].get("deletionTimestamp"):
            return
        if not self.istiod_running():
            return
        cur = self.store.find("configmaps", ns_name, NAME)
        if cur is None:
            try_create(self.store, "configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": NAME, "namespace": ns_name, "labels": {"istio.io/config": "true"}},
                "data": {KEY: self.root_pem}})
        elif (cur.get("data") or {}).get(KEY) != self.root_pem:
            new = clone(cur)
            new["data"] = {**(new.get("data") or {}), KEY: self.root_pem}
            new["metadata"].pop("resourceVersion", None)
            self.store.update("configmaps", new)
