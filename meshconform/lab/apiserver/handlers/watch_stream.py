"""`?watch=true`: a chunked stream of JSON lines {"type": ..., "object": ...}, as the apiserver sends.

Semantics from k8s.io/apiserver storage/cacher and endpoints/handlers/watch.go: no or "0"
resourceVersion starts with synthetic ADDED events for what exists; a given RV replays what came
after it; an RV older than the kept history yields an ERROR event whose object is a 410 Expired
Status (inside a 200 stream, not as the HTTP status); timeoutSeconds ends the stream cleanly;
allowWatchBookmarks adds BOOKMARK events carrying only the resourceVersion.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from ..lab_cluster import LabCluster
from ..status import GoneError
from ..user import User
from . import tables
from .common import JSON, dumps, flag, int_param
from .crud import present
from .routes import RequestInfo

BOOKMARK_INTERVAL = 2.0  # seconds; the real apiserver uses about a minute
DEFAULT_TIMEOUT = 1800.0  # the apiserver's --min-request-timeout


async def watch(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    fields = request.query.get("fieldSelector", "")
    if info.name:
        fields = ",".join(filter(None, [fields, f"metadata.name={info.name}"]))
    resp = web.StreamResponse(headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"})
    try:
        w = cluster.store.watch(
            info.res.key,
            info.namespace or None,
            request.query.get("labelSelector", ""),
            fields,
            request.query.get("resourceVersion"),
        )
    except GoneError as e:
        await resp.prepare(request)
        await resp.write(dumps({"type": "ERROR", "object": e.to_status()}) + b"\n")
        return resp
    await resp.prepare(request)
    try:
        await _pump(request, resp, w, info)
    except ConnectionResetError:
        # The client went away mid-stream (a watch that got what it waited for closes early):
        # that ends this watch, as it does on an apiserver; it is not a server error.
        pass
    finally:
        w.close()
    return resp


async def _pump(request: web.Request, resp: web.StreamResponse, w: object, info: RequestInfo) -> None:
    from ..watches import Watch

    assert isinstance(w, Watch)
    timeout = int_param(request, "timeoutSeconds")
    deadline = time.monotonic() + (timeout if timeout is not None else DEFAULT_TIMEOUT)
    bookmarks, as_table = flag(request, "allowWatchBookmarks"), tables.wanted(request)
    while (left := deadline - time.monotonic()) > 0:
        ev = await w.next(min(left, BOOKMARK_INTERVAL) if bookmarks else left)
        if ev is None:
            if bookmarks and deadline - time.monotonic() > 0:
                mark = {
                    "kind": info.res.kind,
                    "apiVersion": info.res.api_version(info.version),
                    "metadata": {"resourceVersion": w.resource_version},
                }
                await resp.write(dumps({"type": "BOOKMARK", "object": mark}) + b"\n")
            continue
        kind, obj = ev
        out = dict(obj)
        if as_table:
            out = tables.table(info.res, [obj], request, obj["metadata"].get("resourceVersion", ""))
        else:
            out = present(info, out)
        await resp.write(dumps({"type": kind, "object": out}) + b"\n")
    await asyncio.sleep(0)
