"""Remote secrets: build them as istioctl does, apply them safely, and validate what is there.

`A->B` means B discovers A: B's istiod reads A's API server with the credentials in Secret
`istio-remote-secret-A` in B's istio-system. The shape is exactly what
`istioctl x create-remote-secret --name A` prints (istio/istio
istioctl/pkg/multicluster/remote_secret.go: createRemoteServiceAccountSecret and
createBearerTokenKubeconfig): label `istio/multiCluster: "true"`, annotation
`networking.istio.io/cluster: A`, and one stringData key, A, holding a kubeconfig whose single
cluster/context/user are all named A, with the API server, the cluster CA and the reader service
account's bearer token. istiod's secret controller (pkg/kube/multicluster/secretcontroller.go)
registers each data key as a cluster ID, ignores one equal to its own and any ID already
registered by another secret, which is why duplicate names matter.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
import ssl
from typing import Any
from urllib.parse import urlparse

import yaml
from kubernetes import client

from meshconform import errors
from meshconform.facts import RemoteSecret
from meshconform.kube import REQUEST_TIMEOUT, Cluster, Obj

log = logging.getLogger("meshconform.join")

ISTIO_NS = "istio-system"
READER_SA = "istio-reader-service-account"  # remote_secret.go / constants.DefaultServiceAccountName
SECRET_PREFIX = "istio-remote-secret-"
MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
# istiod keeps using the token for as long as the secret exists; a week outlives any test run and
# `--keep` users are told when it expires.
TOKEN_SECONDS = 7 * 24 * 3600
# What istiod's reader role must allow on the remote cluster (istio-reader-clusterrole in Istio's
# base chart): informers list and watch these.
READER_NEEDS: tuple[tuple[str, str, str], ...] = (
    ("", "pods", "list"),
    ("", "pods", "watch"),
    ("", "services", "list"),
    ("", "services", "watch"),
    ("", "endpoints", "list"),
    ("", "namespaces", "list"),
    ("discovery.k8s.io", "endpointslices", "list"),
)
SYNCED = "synced"


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
    return str(yaml.safe_dump(doc, sort_keys=True))


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


def native_secret(source: Cluster, server: str | None, labels: dict[str, str]) -> Obj:
    return build_remote_secret(
        source.name, server or source.server, cluster_ca(source), reader_token(source), labels
    )


def istioctl_secret(
    source: Cluster, server: str | None, kubeconfig: str | None, labels: dict[str, str]
) -> Obj:
    from meshconform import istioctl  # only when --join-with istioctl asks for it

    try:
        secret: Obj = istioctl.create_remote_secret(source.context, source.name, kubeconfig, server)
    except RuntimeError as exc:  # IstioctlError: one secret-free line
        raise JoinFailed(str(exc)) from None
    secret.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    secret["metadata"]["namespace"] = ISTIO_NS
    return secret


def apply_secret(target: Cluster, secret: Obj, existing: Obj | None, mode: str, run_id: str) -> str:
    """Create or replace per --join; returns what happened, for the report. Never touches a secret
    meshconform did not create."""
    name = secret["metadata"]["name"]
    if existing is not None:
        if mode != "replace":
            return "kept existing"
        if not owned(existing):
            return "kept existing (not created by meshconform, so --join replace leaves it)"
        target.write(
            f"DELETE secret {ISTIO_NS}/{name}",
            target.core.delete_namespaced_secret,
            name,
            ISTIO_NS,
            idempotent=True,
        )
    try:
        target.write(
            f"CREATE secret {ISTIO_NS}/{name}",
            target.core.create_namespaced_secret,
            ISTIO_NS,
            secret,
            idempotent=True,
        )  # a repeat after a lost reply ends in 409, handled below
    except errors.Conflict:
        return "kept existing (created concurrently)"
    return "replaced" if existing is not None else "created"


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


def shape_problem(secret: Obj, source: str, target: str) -> str | None:
    """Labelled, annotated and keyed as istioctl makes it; None when it is."""
    meta = secret.get("metadata") or {}
    where = f"Secret {ISTIO_NS}/{meta.get('name')} in {target}"
    if (meta.get("labels") or {}).get(MULTICLUSTER_LABEL) != "true":
        return f"{where} lacks label {MULTICLUSTER_LABEL}=true, so istiod ignores it"
    annotation = (meta.get("annotations") or {}).get(CLUSTER_ANNOTATION)
    if annotation != source:
        return f"{where} has annotation {CLUSTER_ANNOTATION}={annotation!r}, expected {source!r}"
    if source not in decode_data(secret):
        keys = ", ".join(sorted(decode_data(secret))) or "none"
        return f"{where} has no data key {source!r} (keys: {keys}); istiod registers each key as a cluster ID"
    return None


def parse_kubeconfig(text: str) -> dict[str, Any]:
    """server, ca (bytes), token of the kubeconfig's current context; raises ValueError."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError("not a kubeconfig document")
    current = doc.get("current-context")
    ctx = next((c["context"] for c in doc.get("contexts") or [] if c.get("name") == current), None)
    if ctx is None:
        raise ValueError(f"current-context {current!r} is not among its contexts")
    cluster = next(
        (c["cluster"] for c in doc.get("clusters") or [] if c.get("name") == ctx.get("cluster")), None
    )
    user: dict[str, Any] = (
        next((u["user"] for u in doc.get("users") or [] if u.get("name") == ctx.get("user")), {}) or {}
    )
    if cluster is None:
        raise ValueError(f"cluster {ctx.get('cluster')!r} of the current context is missing")
    ca = base64.b64decode(cluster.get("certificate-authority-data") or "")
    auth = (
        "token"
        if user.get("token")
        else ("auth-provider" if user.get("auth-provider") else ("exec" if user.get("exec") else "none"))
    )
    return {
        "server": str(cluster.get("server", "")),
        "ca": ca,
        "token": user.get("token"),
        "auth": auth,
        "tls_server_name": cluster.get("tls-server-name"),
    }


def targets_problem(kc: dict[str, Any], where: str, source: Cluster, expected_server: str) -> str | None:
    """The kubeconfig names A's API server, and its CA verifies the certificate A serves."""
    if kc["server"].rstrip("/") != expected_server.rstrip("/"):
        return (
            f"{where} points at {kc['server']}, not {source.name}'s API server {expected_server}; "
            f"recreate it (istioctl x create-remote-secret --name {source.name}) or run --join replace"
        )
    if not kc["ca"]:
        return f"{where} has no certificate-authority-data, so istiod cannot verify {source.name}"
    problem = tls_verify(source.server, kc["ca"], kc.get("tls_server_name"))
    if problem:
        return (
            f"{where}: its CA does not verify {source.name}'s API server {source.server} ({problem}); "
            "the secret is stale: recreate it"
        )
    return None


def tls_verify(
    server: str, ca_pem: bytes, server_name: str | None = None, timeout: float = 5.0
) -> str | None:
    """Handshake with `server` trusting only `ca_pem`; the error text, or None when it verifies."""
    url = urlparse(server)
    host, port = url.hostname or "", url.port or 443
    try:
        context = ssl.create_default_context(cadata=ca_pem.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError) as exc:
        return f"unusable CA data: {exc}"
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=server_name or host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or "certificate verify failed"
    except (OSError, ssl.SSLError) as exc:
        return f"TLS handshake failed: {type(exc).__name__}"


def credentials_problem(kc: dict[str, Any], where: str, source: Cluster) -> str | None:
    """The secret's token authenticates to A and may list/watch what istiod's informers need."""
    if kc["auth"] != "token":
        return None if kc["auth"] != "none" else f"{where} carries no credentials for {source.name}"
    authz = _token_client(source, str(kc["token"]))
    who = f"the token in {where}"
    for group, resource, verb in READER_NEEDS:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"group": group, "resource": resource, "verb": verb}},
        }
        try:
            review = source.write(
                f"CREATE selfsubjectaccessreview ({verb} {resource}) as remote-secret token",
                authz.create_self_subject_access_review,
                body,
                idempotent=True,
            )
        except errors.Unauthorized:
            return (
                f"{who} does not authenticate to {source.name} (401 Unauthorized); the token is "
                f"stale or revoked: recreate the secret"
            )
        if not (review.get("status") or {}).get("allowed"):
            full = f"{resource}.{group}" if group else resource
            return (
                f"{who} may not {verb} {full} in {source.name}: {READER_SA} lacks its ClusterRoleBinding "
                f"(istio-reader-clusterrole); reinstall Istio's base RBAC in {source.name}"
            )
    return None


def _token_client(source: Cluster, token: str) -> client.AuthorizationV1Api:
    """A client for A's server, trusting A's CA as our kubeconfig does, authenticating with `token`."""
    cfg = client.Configuration()
    cfg.host = source.server
    cfg.ssl_ca_cert = source.configuration.ssl_ca_cert
    cfg.verify_ssl = source.configuration.verify_ssl
    cfg.tls_server_name = source.configuration.tls_server_name
    cfg.api_key = {"authorization": "Bearer " + token}
    cfg.retries = False
    return client.AuthorizationV1Api(client.ApiClient(cfg))


def inspect(secret: Obj | None, source: Cluster, target: Cluster, expected_server: str) -> RemoteSecret:
    """Every fact about A's secret in B that the join checks need; no token leaves this function."""
    fact = RemoteSecret(name=secret_name(source.name))
    if secret is None:
        return fact
    fact.present, fact.ours = True, owned(secret)
    fact.cluster_ids = sorted(decode_data(secret))
    fact.shape_problem = shape_problem(secret, source.name, target.name)
    if fact.shape_problem:
        return fact
    where = f"Secret {ISTIO_NS}/{fact.name} in {target.name}"
    try:
        kc = parse_kubeconfig(decode_data(secret)[source.name])
    except (ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        fact.targets_problem = f"{where} holds no usable kubeconfig under key {source.name!r}: {exc}"
        return fact
    fact.server, fact.ca_fingerprint = kc["server"], fingerprint(kc["ca"]) if kc["ca"] else None
    fact.token_fingerprint = fingerprint(kc["token"]) if kc["token"] else None
    fact.targets_problem = targets_problem(kc, where, source, expected_server)
    if not fact.targets_problem:
        fact.credentials_problem = credentials_problem(kc, where, source)
    return fact


# -- istiod's own view ----------------------------------------------------------------------------


def clusterz(target: Cluster, istiod_pod: str) -> list[dict[str, Any]]:
    """`pilot-discovery request GET /debug/clusterz` in B's istiod: [{id, secretName, syncStatus}]
    (pilot/pkg/xds/debug.go clusterz -> ListRemoteClusters; pkg/cluster/debug.go DebugInfo)."""
    result = target.exec_with_retry(
        istiod_pod,
        ISTIO_NS,
        "discovery",
        ["pilot-discovery", "request", "GET", "/debug/clusterz"],
        timeout=REQUEST_TIMEOUT[1],
    )
    if result.exit_code not in (0, None):
        raise errors.ExecFailed(
            f"clusterz in {ISTIO_NS}/{istiod_pod} on {target.name}",
            "ExitCode",
            f"exit {result.exit_code}: {result.stderr.strip()[:200]}",
        )
    text = result.stdout.strip()
    entries = json.loads(text) if text else []
    return [e for e in entries or [] if isinstance(e, dict)]


def sync_problem(
    entries: list[dict[str, Any]], source: str, target: str, pod: str
) -> tuple[str | None, str | None]:
    """(status, problem) for A as B's istiod lists it."""
    entry = next((e for e in entries if e.get("id") == source), None)
    if entry is None:
        listed = ", ".join(f"{e.get('id')}={e.get('syncStatus')}" for e in entries) or "none"
        return None, (
            f"istiod {pod} in {target} does not list cluster {source} in /debug/clusterz "
            f"(lists: {listed}); it has not loaded {secret_name(source)}"
        )
    status = str(entry.get("syncStatus", ""))
    if status != SYNCED:
        return status, (
            f"istiod {pod} in {target} reports {source} as {status!r}, not synced: it cannot "
            f"read {source}'s API server from inside {target}; check the server address in "
            f"{secret_name(source)} (--api-server) and the network path"
        )
    return status, None
