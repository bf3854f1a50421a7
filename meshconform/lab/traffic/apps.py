"""What listens in a pod: the helloworld sample (Flask under gunicorn on :5000), or nothing.

samples/helloworld/src/app.py: GET /hello answers `Hello version: <SERVICE_VERSION>, instance:
<HOSTNAME>\\n`, /health answers `Helloworld is healthy`, anything else is Flask's 404 page. The
version comes from the container's SERVICE_VERSION (the image sets it: examples-helloworld-v2 ->
v2), else the pod's `version` label; HOSTNAME is the pod name. hello-errors:C makes helloworld in
C fail a share of requests with a 500 (a 503 would be retried away by Envoy's default policy,
which retries 503 on another host, and the fault would not be seen).

hello-localhost:C makes helloworld in C listen on 127.0.0.1 only, as an app bound to localhost does
(istioctl analyze IST0143). Before Istio 1.10 the sidecar handed inbound calls to the app on
127.0.0.1, so that app was reached; from 1.10 it forwards them to the pod IP, as Kubernetes does
without a mesh, and nothing listens there (istio.io/latest/blog/2021/upcoming-networking-changes).
Which applies is the receiving pod's istio-proxy image tag. The pod stays Ready (the sample has no
readiness probe), its endpoint is published, and calls to it are refused.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from ..istio import revisions as rv

Obj = dict[str, Any]
HELLO_ERROR_SHARE = 0.3
INBOUND_TO_POD_IP_SINCE = (1, 10)  # the sidecar forwards inbound calls to the pod IP, not 127.0.0.1
_IMAGE_VERSION = re.compile(r"helloworld-(v\d+)")
NOT_FOUND = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested "
    "URL was not found on the server. If you entered the URL manually please check your spelling and try "
    "again.</p>\n"
)
SERVER_ERROR = (
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server "
    "Error</h1>\n<p>The server encountered an internal error and was unable to complete your request. "
    "Either the server is overloaded or there is an error in the application.</p>\n"
)
NOT_ALLOWED = (
    "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n"
    "<p>The method is not allowed for the requested URL.</p>\n"
)


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: tuple[tuple[str, str], ...] = field(default=())
    server_ms: float = 0.0


def _helloworld(pod: Obj, port: int) -> Obj | None:
    for c in pod["spec"].get("containers") or []:
        if "helloworld" in str(c.get("image", "")) or c.get("name") == "helloworld":
            ports = [int(p.get("containerPort", 0)) for p in c.get("ports") or []] or [5000]
            if port in ports or port == 5000:
                return dict(c)
    return None


def version(pod: Obj, container: Obj) -> str:
    for e in container.get("env") or []:
        if e.get("name") == "SERVICE_VERSION" and "value" in e:
            return str(e["value"])
    m = _IMAGE_VERSION.search(str(container.get("image", "")))
    if m:
        return m.group(1)
    return str((pod["metadata"].get("labels") or {}).get("version", "v1"))


def listens(pod: Obj, port: int) -> bool:
    return _helloworld(pod, port) is not None


def inbound_on_loopback(pod: Obj) -> bool:
    """Does the pod's sidecar hand inbound calls to the app on 127.0.0.1 (Istio before 1.10)?"""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    proxy = next((c for c in containers if c.get("name") == "istio-proxy"), None)
    tag = str((proxy or {}).get("image", "")).rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    return proxy is not None and bool(tag) and not rv.at_least(tag, INBOUND_TO_POD_IP_SINCE)


def serve(
    pod: Obj,
    port: int,
    method: str,
    path: str,
    errors: bool,
    rng: random.Random,
    localhost_only: bool = False,
    on_loopback: bool = False,
) -> Reply | None:
    """The reply of the app on `port`, or None when nothing listens there (connection refused):
    an app that listens on 127.0.0.1 only answers only a call that arrives on loopback."""
    c = _helloworld(pod, port)
    if c is None or (localhost_only and not on_loopback):
        return None
    route = path.split("?", 1)[0]
    html = (("content-type", "text/html; charset=utf-8"),)
    if route not in ("/hello", "/health"):
        return Reply(404, NOT_FOUND, html, 1.0)
    if method not in ("GET", "HEAD", "OPTIONS"):
        return Reply(405, NOT_ALLOWED, (*html, ("allow", "HEAD, OPTIONS, GET")), 1.0)
    if route == "/health":
        return Reply(200, "Helloworld is healthy", html, 1.0)
    cpu = rng.uniform(6.0, 14.0)  # app.py burns a million square roots per call
    if errors and rng.random() < HELLO_ERROR_SHARE:
        return Reply(500, SERVER_ERROR, html, cpu)
    body = f"Hello version: {version(pod, c)}, instance: {pod['metadata']['name']}\n"
    return Reply(200, body, html, cpu)
