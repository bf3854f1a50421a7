"""Join the clusters as the guide does: `istioctl x create-remote-secret --name A | kubectl apply` in B.

The Secret is what istioctl/pkg/multicluster/remote_secret.go emits: istio-remote-secret-<A> in
istio-system, label istio/multiCluster=true, annotation networking.istio.io/cluster=<A>,
stringData[<A>] = a kubeconfig (clusters/contexts/users all named <A>) with A's server, A's CA
(the ca.crt of the reader's token Secret) and the istio-reader-service-account token. It goes
through B's API like `kubectl apply` would (the store folds stringData into data).
The istioctl of the release A runs makes it: before 1.7 that one annotated
istio.io/clusterContext=<the kubeconfig context it ran with> and named the kubeconfig's cluster,
context and user after that context (istioctl/pkg/multicluster/options.go and remote_secret.go
createRemoteServiceAccountSecret, createBaseKubeconfig at 1.6.8; networking.istio.io/cluster and
<A> from 1.7.0).
Join faults bend one pair:
  no-secret:A->B            no secret for A in B
  stale-secret:A->B         A's secret in B is from A's previous life: dead address, old CA, old token
  duplicate-cluster-name    cluster-1's secret in cluster-2 claims the name cluster-2
  duplicate-secret:A->B     B holds A's secret twice: ours, and one made without --name (named after
                            A's kube-system UID, as istioctl names a cluster by default)
Shape variants, each healthy (istiod reads only the label and the data keys), must pass:
  secret-unannotated:A->B   A's secret in B carries no annotation (made by Helm, Terraform, by hand)
  secret-renamed:A->B       A's secret in B was made without --name: istio-remote-secret-<A's UID>
  remote-no-secret:C        no primary holds the secret of remote C (--lab-model primary-remote)
  secret-other-address:A->B A's secret in B names A's API server by another address (127.0.0.2, as a
                            private endpoint next to the kubeconfig's public one)
(reader-rbac-missing and api-unreachable-from leave the secrets right; see fault_effects.py.)
"""

from __future__ import annotations

import base64
import secrets
import socket
from typing import Any

import yaml

from ..apiserver.lab_cluster import LabCluster
from ..apiserver.status import AlreadyExistsError
from . import managed_control_plane as managed
from . import revisions as rv
from . import state
from .objects import READER_SA
from .pki import RootCA

Obj = dict[str, Any]
SECRET_PREFIX = "istio-remote-secret-"
CONTEXT_ANNOTATION = "istio.io/clusterContext"  # istioctl 1.6 (options.go clusterContextAnnotationKey)
ANNOTATION_SINCE = (1, 7)  # istioctl 1.7.0 writes networking.istio.io/cluster instead


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


def remote_secret(name: str, config: str, annotations: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET_PREFIX + name,
            "namespace": rv.ISTIO_NS,
            "annotations": {"networking.istio.io/cluster": name} if annotations is None else annotations,
            "labels": {"istio/multiCluster": "true"},
        },
        "stringData": {name: config},
    }


def istioctl_16(a: LabCluster) -> bool:
    """Whether A's release predates istioctl 1.7's networking.istio.io/cluster annotation."""
    names = state.of(a).revision_names
    return bool(names) and not rv.at_least(rv.version(names[0]), ANNOTATION_SINCE)


def made_by_istioctl(a: LabCluster, name: str, server: str, ca: str, token: str) -> Obj:
    """The secret `istioctl x create-remote-secret --context=<A's context> --name NAME` prints."""
    if istioctl_16(a):
        return remote_secret(name, kubeconfig(a.context, server, ca, token), {CONTEXT_ANNOTATION: a.context})
    return remote_secret(name, kubeconfig(name, server, ca, token))


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


def kube_system_uid(a: LabCluster) -> str:
    return str(a.store.get("namespaces", None, "kube-system")["metadata"]["uid"])


def secret_for(lab: Any, a: LabCluster, b: LabCluster) -> Obj | None:
    faults, pair = lab.faults, f"{a.name}->{b.name}"
    if faults.has("no-secret", pair) or faults.touches("remote-no-secret", a.name):
        return None
    token, ca = reader_token(a)
    server = a.server_url
    if faults.has("stale-secret", pair):
        server, ca = dead_server(), RootCA("kube-apiserver CA").pem
        token = (
            f"eyJhbGciOiJSUzI1NiIsImtpZCI6Im9sZCJ9.{secrets.token_urlsafe(96)}.{secrets.token_urlsafe(64)}"
        )
    if faults.has("secret-other-address", pair):
        server = a.alias_url or server
    name = a.name
    if faults.has("duplicate-cluster-name") and a.name == "cluster-1" and b.name == "cluster-2":
        name = b.name
    if faults.has("secret-renamed", pair):
        name = kube_system_uid(a)
    secret = made_by_istioctl(a, name, server, ca, token)
    if faults.has("secret-unannotated", pair):
        del secret["metadata"]["annotations"]
    return secret


def extra_secrets(lab: Any, a: LabCluster, b: LabCluster) -> list[Obj]:
    """duplicate-secret:A->B: a second secret for A in B, as `istioctl x create-remote-secret`
    without --name makes it (the cluster named after kube-system's UID: cluster.go clusterUID)."""
    if not lab.faults.has("duplicate-secret", f"{a.name}->{b.name}"):
        return []
    token, ca = reader_token(a)
    return [made_by_istioctl(a, kube_system_uid(a), a.server_url, ca, token)]


def _declarative(lab: Any, b: LabCluster) -> bool:
    """B discovers by multicluster_mode (TRAFFIC_DIRECTOR): no secret is made there, unless the
    secrets-under-td fault leaves the open-source ones behind."""
    td = state.of(b).control_plane == managed.MANAGED_TD
    return td and not lab.faults.touches("secrets-under-td", b.name)


def join(lab: Any) -> int:
    """Create every cluster's secret in every other cluster that runs an istiod (a remote runs none:
    under primary-remote every primary holds every other cluster's secret, as `istioctl
    create-remote-secret --context=remote | kubectl apply --context=primary` leaves them);
    -> how many were made."""
    made = 0
    for a in lab.clusters.values():
        for b in lab.clusters.values():
            if a is b or _declarative(lab, b) or state.of(b).remote:
                continue
            for secret in [secret_for(lab, a, b), *extra_secrets(lab, a, b)]:
                if secret is None:
                    continue
                try:
                    b.store.create("secrets", secret)
                    made += 1
                except AlreadyExistsError:
                    pass
    return made


def join_outside(lab: Any) -> int:
    """outside-cluster: the clusters not in the kubeconfig are already in the mesh; every cluster
    holds their secrets, and they hold every cluster's (so istiod merges their endpoints)."""
    made = 0
    for a in lab.clusters.values():
        for b in lab.clusters.values():
            if a is b or not (a.outside or b.outside):
                continue
            secret = secret_for(lab, a, b)
            try:
                if secret is not None:
                    b.store.create("secrets", secret)
                    made += 1
            except AlreadyExistsError:
                pass
    return made
