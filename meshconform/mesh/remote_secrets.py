"""Remote secrets: build them as istioctl does, apply them safely, find what is there.

`A->B` means B discovers A: B's istiod reads A's API server with the credentials in Secret
`istio-remote-secret-A` in B's istio-system. The shape is exactly what
`istioctl x create-remote-secret --name A` prints (istio/istio
istioctl/pkg/multicluster/remote_secret.go: createRemoteServiceAccountSecret and
createBearerTokenKubeconfig): label `istio/multiCluster: "true"`, annotation
`networking.istio.io/cluster: A`, and one stringData key, A, holding a kubeconfig whose single
cluster/context/user are all named A, with the API server, the cluster CA and the reader service
account's bearer token. istiod's secret controller (pkg/kube/multicluster/secretcontroller.go)
registers each data key as a cluster ID, ignores one equal to its own and any ID already
registered by another secret, which is why duplicate names matter; it reads no annotation. The
secret the suite finds for A is the one that reaches A, whatever its name (identity.py).
Validation is in discovery.py.
"""

from __future__ import annotations

import base64
import hashlib
import logging

import yaml

from meshconform.kube import errors
from meshconform.kube.client import MERGE_PATCH, Cluster, Obj
from meshconform.kube.fanout import Once
from meshconform.kube.yamlload import SAFE_DUMPER

log = logging.getLogger("meshconform.mesh.remote_secrets")

ISTIO_NS = "istio-system"
READER_SA = "istio-reader-service-account"  # remote_secret.go / constants.DefaultServiceAccountName
SECRET_PREFIX = "istio-remote-secret-"
MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
# istiod keeps using the token for as long as the secret exists; a week outlives any test run and
# `--keep` users are told when it expires.
TOKEN_SECONDS = 7 * 24 * 3600
SYNCED = "synced"
# Put by a run on a remote secret another run made and it relies on: the write itself is the point
# (a new resourceVersion makes the maker's preconditioned delete fail; see cleanup.py).
KEPT_BY = "meshconform.io/kept-by"


class JoinFailed(Exception):
    """A remote secret could not be built (istioctl failed); the message is one line."""


def secret_name(cluster_name: str) -> str:
    return SECRET_PREFIX + cluster_name


def fingerprint(value: str | bytes) -> str:
    """Short SHA-256 to name a token or CA in evidence without showing it."""
    data = value.encode() if isinstance(value, str) else value
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def build_kubeconfig(name: str, server: str, ca_data: bytes, token: str) -> str:
    """The kubeconfig createBearerTokenKubeconfig builds, in clientcmd's YAML field names."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "certificate-authority-data": base64.b64encode(ca_data).decode(),
                    "server": server,
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
        "users": [{"name": name, "user": {"token": token}}],
    }
    return str(yaml.dump(doc, Dumper=SAFE_DUMPER, sort_keys=True))


def build_remote_secret(
    name: str, server: str, ca_data: bytes, token: str, labels: dict[str, str] | None = None
) -> Obj:
    """The Secret `istioctl x create-remote-secret --name NAME` emits (plus our ownership labels)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(name),
            "namespace": ISTIO_NS,
            "annotations": {CLUSTER_ANNOTATION: name},
            "labels": {MULTICLUSTER_LABEL: "true", **(labels or {})},
        },
        "stringData": {name: build_kubeconfig(name, server, ca_data, token)},
    }


# -- creating -------------------------------------------------------------------------------------


def reader_token(source: Cluster) -> str:
    """A bound token for istio-reader-service-account via the TokenRequest API."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": TOKEN_SECONDS},
    }
    result = source.write(
        f"CREATE serviceaccounts/token {ISTIO_NS}/{READER_SA}",
        source.core.create_namespaced_service_account_token,
        READER_SA,
        ISTIO_NS,
        body,
        idempotent=True,
    )
    token = (result.get("status") or {}).get("token")
    if not token:
        raise errors.KubeError(
            f"TokenRequest for {ISTIO_NS}/{READER_SA} on {source.name}",
            "NoToken",
            "the API server returned no token",
        )
    return str(token)


def cluster_ca(source: Cluster) -> bytes:
    """The CA that signs the API server's certificate: kube-root-ca.crt, else our kubeconfig's."""
    try:
        cm = source.read(
            f"GET configmap {ISTIO_NS}/kube-root-ca.crt",
            source.core.read_namespaced_config_map,
            "kube-root-ca.crt",
            ISTIO_NS,
        )
        pem = (cm.get("data") or {}).get("ca.crt")
        if pem:
            return str(pem).encode()
    except errors.NotFound:
        pass
    path = source.configuration.ssl_ca_cert
    if not path:
        raise errors.KubeError(f"CA of {source.name}", "NoCA", "the kubeconfig has no certificate-authority")
    with open(path, "rb") as f:
        return f.read()


def native_secret(
    source: Cluster, server: str | None, labels: dict[str, str], once: Once | None = None
) -> Obj:
    """A's secret for one target. A's CA and reader token are A's, whatever the target: with a
    shared `once` they are asked once per source cluster, not once per ordered pair (2 round trips
    instead of 2 x (N-1)), and every target gets the same token, as istioctl's create-remote-secret
    gives every target the one token of the reader account's token Secret (istio/istio
    istioctl/pkg/multicluster/remote_secret.go, getServiceAccountSecret ->
    getOrCreateServiceAccountSecret on Kubernetes 1.24+, istio/istio#38246)."""
    ca, token = (once or Once())(("reader", source.name), lambda: (cluster_ca(source), reader_token(source)))
    return build_remote_secret(source.name, server or source.server, ca, token, labels)


def istioctl_secret(
    source: Cluster, server: str | None, kubeconfig: str | None, labels: dict[str, str]
) -> Obj:
    from meshconform.mesh import istioctl  # only when --join-with istioctl asks for it

    try:
        secret: Obj = istioctl.create_remote_secret(source.context, source.name, kubeconfig, server)
    except RuntimeError as exc:  # IstioctlError: one secret-free line
        raise JoinFailed(str(exc)) from None
    secret.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    secret["metadata"]["namespace"] = ISTIO_NS
    return secret


def apply_secret(
    target: Cluster, secret: Obj, existing: Obj | None, mode: str, run_id: str
) -> tuple[str, Obj | None]:
    """Create or replace per --join: what happened, for the report, and the secret as the API server
    stored it when this call created it. Never touches a secret meshconform did not create."""
    name = secret["metadata"]["name"]
    if existing is not None:
        if mode != "replace":
            return "kept existing", None
        if not owned(existing):
            return "kept existing (not created by meshconform, so --join replace leaves it)", None
        target.write(
            f"DELETE secret {ISTIO_NS}/{name}",
            target.core.delete_namespaced_secret,
            name,
            ISTIO_NS,
            idempotent=True,
        )
    try:
        stored: Obj = target.write(
            f"CREATE secret {ISTIO_NS}/{name}",
            target.core.create_namespaced_secret,
            ISTIO_NS,
            secret,
            idempotent=True,
        )  # a repeat after a lost reply ends in 409, handled below
    except errors.Conflict:
        return "kept existing (created concurrently)", None
    return ("replaced" if existing is not None else "created"), stored


def mark_kept(target: Cluster, secret: Obj, run_id: str) -> Obj | None:
    """Note on a secret another meshconform run made that this run relies on it, so that the maker's
    clean-up hands it over rather than deleting it; None when it is gone (deleted meanwhile)."""
    name = secret["metadata"]["name"]
    try:
        stored: Obj = target.write(
            f"PATCH secret {ISTIO_NS}/{name} ({KEPT_BY}={run_id})",
            target.core.patch_namespaced_secret,
            name,
            ISTIO_NS,
            {"metadata": {"annotations": {KEPT_BY: run_id}}},
            _content_type=MERGE_PATCH,
            idempotent=True,
        )
        return stored
    except errors.NotFound:
        return None
    except errors.KubeError as exc:  # the secret itself is fine: the join goes on, unprotected
        log.warning(
            "%s: could not mark it as relied on by this run (%s); if run %s ends first, "
            "its clean-up may remove it",
            name,
            exc,
            (secret["metadata"].get("labels") or {}).get("meshconform.io/run-id"),
        )
        return secret


def owned(obj: Obj, run_id: str | None = None) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    if labels.get("app.kubernetes.io/managed-by") != "meshconform" or "meshconform.io/run-id" not in labels:
        return False
    return run_id is None or labels.get("meshconform.io/run-id") == run_id


# -- inspecting and validating --------------------------------------------------------------------


def remote_secrets(target: Cluster) -> dict[str, Obj]:
    """Every secret B's istiod would read: labelled istio/multiCluster=true in istio-system."""
    listing = target.read(
        f"LIST secrets {ISTIO_NS} -l {MULTICLUSTER_LABEL}=true",
        target.core.list_namespaced_secret,
        ISTIO_NS,
        label_selector=f"{MULTICLUSTER_LABEL}=true",
    )
    return {s["metadata"]["name"]: s for s in listing.get("items") or []}


def get_secret(target: Cluster, name: str) -> Obj | None:
    try:
        secret: Obj = target.read(
            f"GET secret {ISTIO_NS}/{name}", target.core.read_namespaced_secret, name, ISTIO_NS
        )
        return secret
    except errors.NotFound:
        return None


def decode_data(secret: Obj) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data
