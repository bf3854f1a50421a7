"""Observing remote secrets and istiod's view of them: the join checks' evidence.

Given A's secret as found in B (cluster_identity.py finds it by what it reaches), this module
records what is seen of it, for checks/join.py to judge: its label and data keys (what istiod
reads; the annotation is reported, never judged); what its kubeconfig reaches (kube-system's UID
read through its own server, CA and token); where that cannot be read, the server it names and a
real TLS handshake with it trusting only its CA; what its token may do in A (the list and watch
rights istiod's informers need, asked with that token); and what B's istiod lists as synced
(`pilot-discovery request GET /debug/clusterz`, pilot/pkg/xds/debug.go -> ListRemoteClusters, whose
entries are pkg/cluster/debug.go DebugInfo {id, secretName, syncStatus}). It asks no further than
the first thing seen that makes the next question moot (a secret istiod ignores is not dialled).
No token leaves this module: the facts get fingerprints.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import yaml
from kubernetes import client

from meshconform.kube import errors
from meshconform.kube.client import REQUEST_TIMEOUT, Cluster, Obj
from meshconform.kube.fanout import Once
from meshconform.kube.yamlload import SAFE_LOADER
from meshconform.mesh.facts import RemoteSecret
from meshconform.mesh.remote_secrets import (
    CLUSTER_ANNOTATION,
    ISTIO_NS,
    MULTICLUSTER_LABEL,
    decode_data,
    fingerprint,
    owned,
    secret_name,
)
from meshconform.mesh.secret_server import secret_server

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


# The cluster annotations the tools that make remote secrets write. istiod reads none of them (its
# informer selects on the label, then registers each data key: pkg/kube/multicluster/
# secretcontroller.go at 1.28.5, pkg/kube/secretcontroller/secretcontroller.go at 1.6.8 and 1.7.3),
# so they are reported, never judged: istioctl 1.7 and later write networking.istio.io/cluster: NAME
# (istioctl/pkg/multicluster/options.go `clusterNameAnnotationKey` at 1.7.3 and 1.28.5), istioctl
# 1.6 wrote istio.io/clusterContext: CONTEXT, the kubeconfig context it was run with (options.go
# `clusterContextAnnotationKey` and remote_secret.go createRemoteServiceAccountSecret at 1.6.8),
# and secrets made by Helm, Terraform or by hand often carry none.
ANNOTATIONS = (CLUSTER_ANNOTATION, "istio.io/clusterContext")


def labelled(secret: Obj) -> bool:
    """It carries the label istiod's informer selects on (istio/multiCluster=true)."""
    return ((secret.get("metadata") or {}).get("labels") or {}).get(MULTICLUSTER_LABEL) == "true"


def annotation(secret: Obj) -> str:
    """The cluster annotation the secret carries, as `key: value`, or "none": information only."""
    found = (secret.get("metadata") or {}).get("annotations") or {}
    return ", ".join(f"{key}: {found[key]}" for key in ANNOTATIONS if key in found) or "none"


@dataclass(frozen=True)
class Reached:
    """What a secret's kubeconfig reached (identity.py): kube-system's UID read through its own
    server, CA and token, or why that could not be read; and A's UID through the user's context."""

    uid: str | None = None
    unknown: str | None = None
    expected: str | None = None
    other: str | None = None  # the run's cluster with `uid`, when that is not A

    @property
    def confirmed(self) -> bool:
        return bool(self.uid) and self.uid == self.expected


def parse_kubeconfig(text: str) -> dict[str, Any]:
    """server, ca (bytes), token of the kubeconfig's current context; raises ValueError."""
    doc = yaml.load(text, Loader=SAFE_LOADER)
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


def check_ca(kc: dict[str, Any], once: Once | None = None) -> str | None:
    """The TLS error of a handshake with the server the kubeconfig names trusting only its CA, or
    None when the CA verifies it (one handshake per distinct server and CA with a shared `once`: A's
    N-1 secrets carry the same). Raises NotReachableFromHere when that server does not answer.
    The CA is checked against the server the secret names, which istiod dials: the user's
    kubeconfig may name an authenticating proxy (GKE Connect gateway, Rancher, Teleport) with its
    own CA."""
    server, server_name = kc["server"], kc.get("tls_server_name")
    question = ("tls", server, kc["ca"], server_name)
    return (once or Once())(question, lambda: tls_verify(server, kc["ca"], server_name))


class NotReachableFromHere(Exception):
    """The server a secret names does not answer this machine (a private endpoint that only the
    clusters' network reaches): its CA cannot be checked from here, which is no verdict on it."""


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
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise NotReachableFromHere(f"{type(exc).__name__} connecting to {host}:{port}") from None
    try:
        with sock, context.wrap_socket(sock, server_hostname=server_name or host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or "certificate verify failed"
    except (OSError, ssl.SSLError) as exc:
        return f"TLS handshake failed: {type(exc).__name__}"


UNAUTHENTICATED = "401"
# A SelfSubjectAccessReview answered 403: an API server lets every authenticated user create one
# (the system:basic-user ClusterRole bound to system:authenticated, kubernetes plugin/pkg/auth/
# authorizer/rbac/bootstrappolicy/policy.go), so something in front of it refused the token.
NOT_LET_THROUGH = "403"
REFUSED = (UNAUTHENTICATED, NOT_LET_THROUGH)


def reader_denied(
    kc: dict[str, Any], source: Cluster, namespace: str, once: Once | None = None
) -> str | None:
    """What of READER_NEEDS the secret's token may not do in A (see _reader_denied), asked through
    the user's context first: the runner reaches it, where the server a private endpoint secret
    names may not answer. When the user's server refuses the token and the secret names another
    address, the user's may be an authenticating proxy that takes only credentials it issued
    (GKE's Connect gateway answers a service-account token 401 or 403), which says nothing of the
    token: it is asked again at the server the secret names, as istiod uses it. Raises
    NotReachableFromHere when that server does not answer this machine.

    Asked once per distinct server and token with a shared `once`: A's N-1 secrets carry one token
    (join.py), and the same question to the same server with the same token has the same answer."""
    token, asked = str(kc["token"]), once or Once()
    question = ("credentials", source.server, fingerprint(token.encode()), namespace)
    denied: str | None = asked(question, lambda: _reader_denied(source, token, namespace))
    if denied not in REFUSED or kc["server"].rstrip("/") == source.server.rstrip("/"):
        return denied
    question = ("credentials", kc["server"], fingerprint(token.encode()), namespace)
    answer: str | None = asked(question, lambda: _denied_where_the_secret_points(kc, namespace))
    return answer


def _denied_where_the_secret_points(kc: dict[str, Any], namespace: str) -> str | None:
    with secret_server(kc) as reach:
        try:
            return _reader_denied(reach, str(kc["token"]), namespace)
        except errors.Unreachable as exc:
            raise NotReachableFromHere(exc.reason or type(exc).__name__) from None


def _reader_denied(source: Cluster, token: str, namespace: str) -> str | None:
    """None when `token` may do all of READER_NEEDS on A; else a REFUSED code or "VERB RESOURCE".

    One SelfSubjectRulesReview first: "because authorization rules are additive, if a rule appears
    in a list it's safe to assume the subject has that permission, even if that list is incomplete"
    (authorization/v1 SubjectRulesReviewStatus). It is asked for `namespace`, the run's own, where
    no RoleBinding grants anything, so the rules listed are the cluster-wide ones the informers
    need. Whatever no rule shows is then asked one SelfSubjectAccessReview at a time, the
    authoritative answer and the one a denial is reported from: 1 request per token when healthy
    instead of 7, on a real cluster 6 round trips saved on each of N x (N-1) pairs."""
    authz = _token_client(source, token)
    try:
        granted = rules_granted(source, authz, namespace)
    except errors.Unauthorized:
        return UNAUTHENTICATED
    except errors.KubeError:
        granted = set()  # rules review refused or unsupported: every need gets its own review
    for group, resource, verb in READER_NEEDS:
        if (group, resource, verb) in granted:
            continue
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
            return UNAUTHENTICATED
        except errors.Forbidden:
            return NOT_LET_THROUGH
        if not (review.get("status") or {}).get("allowed"):
            return f"{verb} {resource}.{group}" if group else f"{verb} {resource}"
    return None


def rules_granted(
    source: Cluster, authz: client.AuthorizationV1Api, namespace: str
) -> set[tuple[str, str, str]]:
    """Which of READER_NEEDS a rule of the token's SelfSubjectRulesReview grants outright."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace},
    }
    review = source.write(
        "CREATE selfsubjectrulesreview as remote-secret token",
        authz.create_self_subject_rules_review,
        body,
        idempotent=True,
    )
    rules = (review.get("status") or {}).get("resourceRules") or []
    return {need for need in READER_NEEDS if any(_rule_grants(rule, *need) for rule in rules)}


def _rule_grants(rule: dict[str, Any], group: str, resource: str, verb: str) -> bool:
    """A ResourceRule grants `verb` on every `resource` of `group` (a rule naming objects does not)."""
    return (
        not rule.get("resourceNames")
        and bool({verb, "*"} & set(rule.get("verbs") or []))
        and bool({group, "*"} & set(rule.get("apiGroups") or []))
        and bool({resource, "*"} & set(rule.get("resources") or []))
    )


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


def inspect(
    secret: Obj | None,
    key: str | None,
    reached: Reached,
    source: Cluster,
    expected_server: str,
    namespace: str,
    once: Once | None = None,
) -> RemoteSecret:
    """What is seen of A's secret in B; no token leaves this function. `key` is the data key that
    is A's, `reached` what it reaches; `namespace` is the run's own (see _reader_denied); `once`,
    shared by one join stage's pairs, asks each network question once however many secrets pose it."""
    fact = RemoteSecret(name=secret_name(source.name))
    if secret is None:
        return fact
    fact.name, fact.present, fact.ours = str(secret["metadata"]["name"]), True, owned(secret)
    data = decode_data(secret)
    fact.cluster_ids, fact.annotation, fact.labelled = sorted(data), annotation(secret), labelled(secret)
    if not fact.labelled or not data:  # istiod reads nothing of it: nothing more to ask
        return fact
    fact.cluster_id = key if key in data else (source.name if source.name in data else sorted(data)[0])
    fact.reached_uid, fact.reached_unknown = reached.uid, reached.unknown
    fact.expected_uid, fact.reached_other = reached.expected, reached.other
    fact.expected_server = expected_server
    try:
        kc = parse_kubeconfig(data[fact.cluster_id])
    except (ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        fact.kubeconfig_error = str(exc)
        return fact
    fact.server, fact.ca_fingerprint = kc["server"], fingerprint(kc["ca"]) if kc["ca"] else None
    fact.token_fingerprint = fingerprint(kc["token"]) if kc["token"] else None
    fact.auth = kc["auth"]
    if _leads_to(fact, reached, kc, once) and kc["auth"] == "token":
        try:
            fact.reader_denied = reader_denied(kc, source, namespace, once)
        except NotReachableFromHere as exc:  # refused by the user's server, unanswered at the secret's
            fact.reader_unreachable = str(exc)
    return fact


def _leads_to(fact: RemoteSecret, reached: Reached, kc: dict[str, Any], once: Once | None) -> bool:
    """Whether the kubeconfig may lead to A, so that its token is worth asking A about: its UID is
    A's; or, where no UID could be read, it names A's server and its CA verifies what that serves
    (the handshake is made here, and only here), or that server does not answer this machine."""
    if reached.confirmed:
        return True
    if reached.uid and reached.expected:  # it reaches another cluster
        return False
    expected = fact.expected_server or ""
    if kc["server"].rstrip("/") != expected.rstrip("/") or not kc["ca"]:
        return False
    try:
        fact.ca_error = check_ca(kc, once)
    except NotReachableFromHere as exc:
        fact.server_unreachable = str(exc)
        return True
    fact.ca_verified = fact.ca_error is None
    return fact.ca_verified


# -- istiod's own view ----------------------------------------------------------------------------

# What `pilot-discovery request GET /debug/clusterz` prints when istiod has no such handler. Its
# Do (pilot/pkg/request/command.go, the same from 1.6.8 to 1.28) returns an error only for
# `StatusCode > 399 && StatusCode != 404`: a 404 is printed like a 200, body and a newline
# (fmt.Println), exit 0. The body is Go's http.NotFound on istiod's ServeMux: "404 page not found".
# An istiod answers that when it predates the endpoint (it came with Istio 1.11, istio/istio#33799,
# #34086: "it can be hard to tell which clusters are connected"; the guide's ASM 1.6.8-1.10), or,
# from 1.10 on, when ENABLE_DEBUG_ON_HTTP=false leaves every debug handler unregistered
# (pilot/pkg/xds/debug.go AddDebugHandlers). Any other status above 399 still exits 1 with
# "Error: received unsuccessful status code N: BODY".
NOT_FOUND_BODY = "404 page not found"


class ClusterzMissing(errors.ExecFailed):
    """istiod answered /debug/clusterz with 404: it has no such endpoint (too old for it, or its
    debug endpoints are off: checks/join.py tells which by its version)."""


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
    what = f"clusterz in {ISTIO_NS}/{istiod_pod} on {target.name}"
    if result.exit_code not in (0, None):
        said = result.stderr.strip()[:200]
        raise errors.ExecFailed(what, "ExitCode", f"exit {result.exit_code}: {said}")
    text = result.stdout.strip()
    if text == NOT_FOUND_BODY:  # a 404, printed with exit 0 (see NOT_FOUND_BODY)
        raise ClusterzMissing(what, "NotFound", f"exit 0, printed {text!r}")
    entries = json.loads(text) if text else []
    return [e for e in entries or [] if isinstance(e, dict)]
