"""One aiohttp application per cluster: a single entry point, the routes table, and middleware.

Every request passes, in order: the simulated round trip (LabOptions.latency) -> path parsing ->
request count -> cluster faults (api-down, flaky-api) -> bearer authentication -> RBAC -> the
handler from ROUTES. Any StatusError becomes a metav1.Status response. The request log line
carries method, path, verb, status, user name and user agent -- never a header value that could
hold a credential.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..lab_cluster import LabCluster
from ..status import MethodNotAllowedError, StatusError
from ..user import User
from . import auth, crud, discovery, openapi, pods
from .common import CLUSTER, LAB, respond, status_response
from .flaky import Flaky, drop_connection
from .routes import RequestInfo, parse
from .watch_stream import watch

Handler = Callable[[web.Request, LabCluster, RequestInfo, User], Awaitable[web.StreamResponse]]

# (resource key or "*", subresource, verb) -> handler; first match wins.
ROUTES: list[tuple[str, str, str, Handler]] = [
    ("pods", "exec", "*", pods.exec_),
    ("pods", "attach", "*", pods.exec_),
    ("pods", "log", "get", pods.logs),
    ("pods", "eviction", "create", crud.evict),
    ("serviceaccounts", "token", "create", auth.token_request),
    ("*", "scale", "get", crud.get_scale),
    ("selfsubjectaccessreviews.authorization.k8s.io", "", "create", auth.ssar),
    ("selfsubjectrulesreviews.authorization.k8s.io", "", "create", auth.ssrr),
    ("subjectaccessreviews.authorization.k8s.io", "", "create", auth.sar),
    ("localsubjectaccessreviews.authorization.k8s.io", "", "create", auth.sar),
    ("tokenreviews.authentication.k8s.io", "", "create", auth.token_review),
    ("*", "*", "get", crud.get),
    ("*", "", "list", crud.list_),
    ("*", "", "watch", watch),
    ("*", "", "create", crud.create),
    ("*", "*", "update", crud.update),
    ("*", "*", "patch", crud.patch),
    ("*", "", "delete", crud.delete),
    ("*", "", "deletecollection", crud.delete_collection),
]


_PLAIN_SUBS = ("", "status", "finalize", "scale")  # what a "*" subresource in ROUTES stands for


def route(info: RequestInfo) -> Handler:
    """The handler for this request; 405 when the resource does not serve the verb."""
    res, sub = info.res, info.subresource
    spec = res.subresource(sub) if sub else None
    verbs = spec.verbs if spec is not None else res.verbs
    if info.verb not in verbs and sub not in ("exec", "attach"):
        raise MethodNotAllowedError()
    for key, s, verb, handler in ROUTES:
        sub_ok = s == sub or (s == "*" and sub in _PLAIN_SUBS)
        if key in ("*", res.key) and sub_ok and verb in ("*", info.verb):
            return handler
    raise MethodNotAllowedError()


async def _non_resource(request: web.Request, cluster: LabCluster, info: RequestInfo) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowedError()
    path = info.path.rstrip("/")
    if path in ("/healthz", "/livez", "/readyz"):
        return web.Response(text="ok")
    if path.startswith("/openapi/"):
        return openapi.serve(request, path, cluster.release.git_version)
    doc = discovery.for_path(info, cluster.release.version_info())
    if doc is None:
        from ..status import PathNotFoundError

        raise PathNotFoundError()
    return respond(doc)


async def entry(request: web.Request) -> web.StreamResponse:
    cluster: LabCluster = request.app[CLUSTER]
    started, info, user = time.monotonic(), None, None
    status = 0
    if latency := request.app[LAB].lab.options.latency:
        await asyncio.sleep(latency)  # the network round trip loopback lacks (LabOptions.latency)
    try:
        info = parse(request.method, request.path, request.query.get("watch", "").lower() in ("true", "1"))
        cluster.api_requests[info.verb] += 1
        flaky: Flaky | None = request.app.get(FLAKY)
        if cluster.faults.has("api-down", cluster.name):
            from ..status import ServiceUnavailableError

            raise ServiceUnavailableError("the server is currently unable to handle the request")
        if flaky is not None:
            if (failure := flaky.decide(request.method, request.path)) == "drop":
                status = -1
                return await drop_connection(request)
            if isinstance(failure, StatusError):
                raise failure
        user = auth.authenticate(cluster, request)
        auth.authorize(cluster, user, info)
        resp = await (
            _non_resource(request, cluster, info)
            if not info.is_resource
            else route(info)(request, cluster, info, user)
        )
    except StatusError as e:
        if info is None:
            cluster.api_requests[request.method.lower()] += 1
        resp = status_response(e)
    status = status or resp.status
    _log(request, cluster, info, user, status, started)
    return resp


FLAKY: web.AppKey[Flaky] = web.AppKey("flaky", Flaky)


def _log(
    request: web.Request,
    cluster: LabCluster,
    info: RequestInfo | None,
    user: User | None,
    status: int,
    started: float,
) -> None:
    sink = request.app[LAB].request_log
    if sink is None:
        return
    line: dict[str, Any] = {
        "ts": round(time.time(), 3),
        "cluster": cluster.name,
        "method": request.method,
        "path": request.path,
        "verb": info.verb if info else request.method.lower(),
        "status": status,
        "user": user.name if user else None,
        "user_agent": request.headers.get("User-Agent", ""),
        "ms": round((time.monotonic() - started) * 1000, 2),
    }
    sink.write(json.dumps(line) + "\n")
    sink.flush()


def build_app(cluster: LabCluster, lab: Any, flaky: Flaky | None) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[CLUSTER] = cluster
    app[LAB] = lab
    if flaky is not None:
        app[FLAKY] = flaky
    app.router.add_route("*", "/{tail:.*}", entry)
    return app
