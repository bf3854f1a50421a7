"""Join the clusters as the guide does: `istioctl x create-remote-secret --name A | kubectl apply` in B.

The Secret is what istioctl/pkg/multicluster/remote_secret.go emits: istio-remote-secret-<A> in
istio-system, label istio/multiCluster=true, annotation networking.istio.io/cluster=<A>,
stringData[<A>] = a kubeconfig (clusters/contexts/users all named <A>) with A's server, A's CA
(the ca.crt of the reader's token Secret) and the istio-reader-service-account token. It goes
through B's API like `kubectl apply` would (the store folds stringData into data).
Join faults bend one pair:
  no-secret:A->B            no secret for A in B
  stale-secret:A->B         A's secret in B is from A's previous life: dead address, old CA, old token
  duplicate-cluster-name    cluster-1's secret in cluster-2 claims the name cluster-2
(reader-rbac-missing and api-unreachable-from leave the secrets right; see fault_effects.py.)
"""

from __future__ import annotations

import base64
import secrets
import socket
from typing import Any

import yaml

from ..cluster import LabCluster
from ..errors import AlreadyExists
from . import revisions as rv
from .objects import READER_SA
from .pki import RootCA

Obj = dict[str, Any]
SECRET_PREFIX = "istio-remote-secret-"


def kubeconfig(name: str, server: str, ca_pem: str, token: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "current-context": name,
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                    },
                }
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "users": [{"name": name, "user": {"token": token}}],
        },
        sort_keys=True,
    )


def remote_secret(name: str, config: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET_PREFIX + name,
            "namespace": rv.ISTIO_NS,
            "annotations": {"networking.istio.io/cluster": name},
            "labels": {"istio/multiCluster": "true"},
        },
        "stringData": {name: config},
    }


def reader_token(cluster: LabCluster) -> tuple[str, str]:
    """(token, CA PEM) from the reader's token Secret, as istioctl 1.7 reads them."""
    sa = cluster.store.find("serviceaccounts", rv.ISTIO_NS, READER_SA) or {}
    for ref in sa.get("secrets") or []:
        s = cluster.store.find("secrets", rv.ISTIO_NS, ref.get("name", ""))
        data = (s or {}).get("data") or {}
        if data.get("token"):
            return base64.b64decode(data["token"]).decode(), base64.b64decode(data.get("ca.crt", "")).decode()
    return cluster.issue_token(rv.ISTIO_NS, READER_SA, 3600 * 24 * 365), cluster.ca_pem.decode()


def dead_server() -> str:
    """An address nothing listens on any more (the stale secret's API server of old)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"https://127.0.0.1:{port}"


def secret_for(lab: Any, a: LabCluster, b: LabCluster) -> Obj | None:
    faults = lab.faults
    if faults.has("no-secret", f"{a.name}->{b.name}"):
        return None
    token, ca = reader_token(a)
    server = a.server_url
    if faults.has("stale-secret", f"{a.name}->{b.name}"):
        server, ca = dead_server(), RootCA("kube-apiserver CA").pem
        token = (
            f"eyJhbGciOiJSUzI1NiIsImtpZCI6Im9sZCJ9.{secrets.token_urlsafe(96)}.{secrets.token_urlsafe(64)}"
        )
    name = a.name
    if faults.has("duplicate-cluster-name") and a.name == "cluster-1" and b.name == "cluster-2":
        name = b.name
    return remote_secret(name, kubeconfig(name, server, ca, token))


def join(lab: Any) -> int:
    """Create every cluster's secret in every other cluster; -> how many were made."""
    made = 0
    for a in lab.clusters.values():
        for b in lab.clusters.values():
            if a is b:
                continue
            secret = secret_for(lab, a, b)
            if secret is None:
                continue
            try:
                b.store.create("secrets", secret)
                made += 1
            except AlreadyExists:
                pass
    return made
