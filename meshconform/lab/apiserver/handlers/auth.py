"""Authentication and authorization endpoints: bearer tokens, RBAC checks, reviews, TokenRequest.

- authenticate(): `Authorization: Bearer <token>`; missing or invalid -> 401 Unauthorized.
- authorize(): cluster-admin via system:masters, RBAC for everyone else (rbac.py), 403 with
  responsewriters/errors.go's text.
- SelfSubjectAccessReview / SelfSubjectRulesReview / SubjectAccessReview / TokenReview shapes from
  k8s.io/api/authorization/v1 and authentication/v1; TokenRequest (serviceaccounts/<sa>/token) as
  pkg/registry/core/serviceaccount/storage/token.go answers it.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .. import rbac
from ..lab_cluster import LabCluster
from ..status import BadRequestError, UnauthorizedError
from ..store import now_rfc3339
from ..user import User
from .common import dry_run, read_body, respond
from .routes import RequestInfo

Obj = dict[str, Any]


def authenticate(cluster: LabCluster, request: web.Request) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = cluster.authenticate(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if user is None:
        raise UnauthorizedError()
    return user


def attributes(info: RequestInfo) -> rbac.Attributes:
    if not info.is_resource:
        return rbac.Attributes(info.verb, path=info.path)
    verb = info.verb
    if info.subresource in ("exec", "attach", "portforward") and verb == "get":
        verb = "create"  # websocket upgrades arrive as GET; RBAC checks create (1.30+)
    return rbac.Attributes(verb, info.group, info.res.plural, info.subresource, info.name, info.namespace)


def authorize(cluster: LabCluster, user: User, info: RequestInfo) -> None:
    rbac.check(cluster.store, user, attributes(info))


def _review(kind: str, group: str, spec: Obj, status: Obj) -> Obj:
    return {
        "kind": kind,
        "apiVersion": f"{group}/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }


def _access(cluster: LabCluster, user: User, spec: Obj) -> Obj:
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if ra:
        attrs = rbac.Attributes(
            ra.get("verb", ""),
            ra.get("group", ""),
            ra.get("resource", ""),
            ra.get("subresource", ""),
            ra.get("name", ""),
            ra.get("namespace", ""),
        )
    elif nra:
        attrs = rbac.Attributes(nra.get("verb", ""), path=nra.get("path", ""))
    else:
        raise BadRequestError(
            "spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or "
            "resourceAttributes must be specified"
        )
    allowed, reason = rbac.authorize(cluster.store, user, attrs)
    status: Obj = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return status


async def ssar(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    body = await read_body(request) or {}
    spec = body.get("spec") or {}
    return respond(
        _review("SelfSubjectAccessReview", "authorization.k8s.io", spec, _access(cluster, user, spec)), 201
    )


def _user_from_spec(spec: Obj) -> User:
    name = spec.get("user", "")
    groups = tuple(spec.get("groups") or ())
    parts = name.split(":")
    if name.startswith("system:serviceaccount:") and len(parts) == 4:
        return User(name, groups, spec.get("uid", ""), parts[2], parts[3])
    return User(name, groups, spec.get("uid", ""))


async def sar(request: web.Request, cluster: LabCluster, info: RequestInfo, user: User) -> web.StreamResponse:
    body = await read_body(request) or {}
    spec = body.get("spec") or {}
    if info.namespace:
        spec.setdefault("resourceAttributes", {})["namespace"] = info.namespace
    kind = "LocalSubjectAccessReview" if info.namespace else "SubjectAccessReview"
    out = _review(kind, "authorization.k8s.io", spec, _access(cluster, _user_from_spec(spec), spec))
    if info.namespace:
        out["metadata"]["namespace"] = info.namespace
    return respond(out, 201)


async def ssrr(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    body = await read_body(request) or {}
    spec = body.get("spec") or {}
    status = rbac.rules_review(cluster.store, user, spec.get("namespace", ""))
    return respond(_review("SelfSubjectRulesReview", "authorization.k8s.io", spec, status), 201)


async def token_review(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    body = await read_body(request) or {}
    spec = body.get("spec") or {}
    who = cluster.authenticate(spec.get("token", ""))
    status: Obj = {"authenticated": who is not None}
    if who is not None:
        status["user"] = {"username": who.name, "uid": who.uid, "groups": list(who.groups)}
        status["audiences"] = spec.get("audiences") or [cluster.issuer]
    else:
        status["error"] = "[invalid bearer token, token lookup failed]"
    spec_out = {k: v for k, v in spec.items() if k != "token"}
    spec_out["token"] = ""  # never echo a credential
    return respond(_review("TokenReview", "authentication.k8s.io", spec_out, status), 201)


async def token_request(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    body = await read_body(request) or {}
    spec = dict(body.get("spec") or {})
    ttl = int(spec.get("expirationSeconds") or 3600)
    if ttl < 600:
        from ..status import InvalidError, field_invalid

        raise InvalidError(
            "TokenRequest",
            info.name,
            "authentication.k8s.io",
            [field_invalid("spec.expirationSeconds", ttl, "may not specify a duration less than 10 minutes")],
        )
    spec["expirationSeconds"] = ttl
    audiences = spec.get("audiences") or None
    token = "" if dry_run(request) else cluster.issue_token(info.namespace, info.name, ttl, audiences)
    if dry_run(request):
        cluster.store.get("serviceaccounts", info.namespace, info.name)
    spec["audiences"] = audiences or [cluster.issuer]
    status = {"token": token, "expirationTimestamp": now_rfc3339(time.time() + ttl)}
    out = {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": info.name, "namespace": info.namespace, "creationTimestamp": now_rfc3339()},
        "spec": spec,
        "status": status,
    }
    return respond(out, 201)
