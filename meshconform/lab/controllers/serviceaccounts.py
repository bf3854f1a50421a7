"""The service-account and token controllers (kube-controller-manager), which are auth plumbing.

Every namespace gets a `default` ServiceAccount; a Secret of type kubernetes.io/service-account-token
annotated with kubernetes.io/service-account.name gets `token`, `ca.crt` and `namespace` filled and
the annotation service-account.uid set (pkg/controller/serviceaccount/tokens_controller.go), which is
how istioctl's remote secrets got their reader token before TokenRequest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..apiserver.status import AlreadyExistsError, NotFoundError, StatusError

SA_TOKEN = "kubernetes.io/service-account-token"
SA_NAME = "kubernetes.io/service-account.name"
SA_UID = "kubernetes.io/service-account.uid"


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def ensure_default_sa(cluster: LabCluster, namespace: str) -> None:
    # it may exist already, or its namespace may have gone away meanwhile
    with contextlib.suppress(AlreadyExistsError, StatusError):
        cluster.store.create("serviceaccounts", {"metadata": {"name": "default", "namespace": namespace}})


def fill_token_secret(cluster: LabCluster, secret: dict[str, Any]) -> None:
    meta = secret["metadata"]
    sa_name = (meta.get("annotations") or {}).get(SA_NAME)
    if secret.get("type") != SA_TOKEN or not sa_name or (secret.get("data") or {}).get("token"):
        return
    try:
        sa = cluster.store.get("serviceaccounts", meta["namespace"], sa_name)
        new = cluster.store.get("secrets", meta["namespace"], meta["name"])
    except NotFoundError:
        return  # the real controller deletes such secrets later; leaving it is harmless here
    new["metadata"].setdefault("annotations", {})[SA_UID] = sa["metadata"]["uid"]
    new["data"] = {
        **(new.get("data") or {}),
        "token": _b64(cluster.issue_secret_token(new, sa)),
        "ca.crt": _b64(cluster.ca_pem),
        "namespace": _b64(meta["namespace"]),
    }
    new["metadata"].pop("resourceVersion", None)
    cluster.store.update("secrets", new)


def start(cluster: LabCluster) -> None:
    """Subscribe both controllers; they act asynchronously, as the controller manager does."""
    loop = asyncio.get_running_loop()

    def on_event(kind: str, res: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if kind == "ADDED" and res == "namespaces":
            loop.call_soon(ensure_default_sa, cluster, obj["metadata"]["name"])
        elif kind != "DELETED" and res == "secrets" and obj.get("type") == SA_TOKEN:
            loop.call_soon(fill_token_secret, cluster, obj)

    cluster.store.subscribe(on_event)
    for ns in cluster.store.iter("namespaces"):
        ensure_default_sa(cluster, ns["metadata"]["name"])
