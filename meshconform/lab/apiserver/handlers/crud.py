"""CRUD verbs over a cluster's Store: thin handlers that parse the request, call the model, render.

Response shapes and status codes follow k8s.io/apiserver/pkg/endpoints/handlers (create.go: 201,
update.go: 200, delete.go: the object while finalizers hold it, else a Success Status,
patch.go: the four patch content types, 415 for strategic merge on custom resources).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from .. import patch as patches
from ..lab_cluster import LabCluster
from ..resources import Resource
from ..selection import parse_label_selector
from ..status import BadRequestError, NotFoundError, UnsupportedMediaTypeError
from ..user import User
from . import tables
from .common import dry_run, int_param, read_body, respond, success_status
from .routes import RequestInfo

Obj = dict[str, Any]
_CUSTOM_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io")
# Deletion answers with the object: pods and namespaces (graceful or finalized deletion), and the
# registries with ReturnDeletedObject: true (service and serviceaccount storage.go); the official
# client's typed delete_namespaced_service parses the answer as a V1Service and rejects a Status.
_RETURNS_OBJECT = ("pods", "namespaces", "services", "serviceaccounts")


def present(info: RequestInfo, obj: Obj) -> Obj:
    obj["apiVersion"] = info.res.api_version(info.version)
    obj["kind"] = info.res.kind
    return obj


def render(request: web.Request, info: RequestInfo, obj: Obj, status: int = 200) -> web.Response:
    if tables.wanted(request):
        return respond(tables.table(info.res, [obj], request, obj["metadata"].get("resourceVersion", "")))
    return respond(present(info, obj), status)


def _ns(info: RequestInfo) -> str | None:
    return info.namespace or None if info.res.namespaced else None


async def get(request: web.Request, cluster: LabCluster, info: RequestInfo, user: User) -> web.StreamResponse:
    return render(request, info, cluster.store.get(info.res.key, _ns(info), info.name))


def _page(request: web.Request, items: list[Obj], rv: str) -> tuple[list[Obj], Obj]:
    meta: Obj = {"resourceVersion": rv}
    offset = 0
    if request.query.get("continue"):
        try:
            offset = int(json.loads(base64.b64decode(request.query["continue"]))["o"])
        except (ValueError, KeyError, TypeError):
            raise BadRequestError(
                "continue key is not valid: incorrect encoded start resourceVersion"
            ) from None
    limit = int_param(request, "limit") or 0
    if limit and offset + limit < len(items):
        meta["continue"] = base64.b64encode(json.dumps({"o": offset + limit, "rv": rv}).encode()).decode()
        meta["remainingItemCount"] = len(items) - offset - limit
        return items[offset : offset + limit], meta
    return items[offset:], meta


async def list_(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    items, rv = cluster.store.list(
        info.res.key,
        _ns(info),
        request.query.get("labelSelector", ""),
        request.query.get("fieldSelector", ""),
    )
    items, meta = _page(request, items, rv)
    if tables.wanted(request):
        table = tables.table(info.res, items, request, rv)
        table["metadata"].update({k: v for k, v in meta.items() if k != "resourceVersion"})
        return respond(table)
    custom = info.res.group in _CUSTOM_GROUPS
    for o in items:
        if custom:
            present(info, o)
        else:
            o.pop("apiVersion", None)
            o.pop("kind", None)
    return respond(
        {
            "kind": f"{info.res.kind}List",
            "apiVersion": info.res.api_version(info.version),
            "metadata": meta,
            "items": items,
        }
    )


def _body_object(body: Any, info: RequestInfo) -> Obj:
    if not isinstance(body, dict):
        raise BadRequestError("Object 'Kind' is missing in the request body")
    meta = body.setdefault("metadata", {}) or {}
    body["metadata"] = meta
    if info.res.namespaced:
        if meta.get("namespace") and info.namespace and meta["namespace"] != info.namespace:
            raise BadRequestError(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = info.namespace or meta.get("namespace")
    if info.name and meta.get("name") and meta["name"] != info.name:
        raise BadRequestError(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({info.name})"
        )
    if info.name:
        meta["name"] = info.name
    body["apiVersion"] = info.res.api_version()
    return body


async def create(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    if info.name:
        raise BadRequestError("the server does not allow this method on the requested resource")
    body = await read_body(request)
    obj = cluster.store.create(info.res.key, _body_object(body, info), user=user, dry_run=dry_run(request))
    return render(request, info, obj, 201)


async def update(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    body = _body_object(await read_body(request), info)
    if info.subresource == "scale":
        return respond(_set_scale(cluster, info, body, user, dry_run(request)))
    obj = cluster.store.update(
        info.res.key, body, subresource=info.subresource or None, user=user, dry_run=dry_run(request)
    )
    return render(request, info, obj)


def _apply_patch(ctype: str, current: Obj, body: Any, res: Resource) -> Obj:
    if ctype == patches.JSON_PATCH:
        out: Obj = patches.json_patch(current, body)
    elif ctype == patches.MERGE_PATCH:
        out = patches.merge_patch(current, body)
    else:
        out = patches.strategic_merge(current, body, res.kind)
    if not isinstance(out, dict):
        raise BadRequestError("the patch did not produce an object")
    return out


def _patch_type(request: web.Request, res: Resource) -> str:
    ctype = request.content_type
    accepted = [patches.JSON_PATCH, patches.MERGE_PATCH, patches.APPLY]
    if res.group not in _CUSTOM_GROUPS:
        accepted.insert(2, patches.STRATEGIC)
    if ctype not in accepted:
        raise UnsupportedMediaTypeError(
            "the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(accepted)}"
        )
    return ctype


async def patch(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    ctype = _patch_type(request, info.res)
    body = await read_body(request)
    dry = dry_run(request)
    if info.subresource == "scale":
        new_scale = _apply_patch(ctype, _scale(cluster, info), body, info.res)
        return respond(_set_scale(cluster, info, new_scale, user, dry))
    try:
        current = cluster.store.get(info.res.key, _ns(info), info.name)
    except NotFoundError:
        if ctype != patches.APPLY:
            raise
        obj = cluster.store.create(info.res.key, _body_object(body, info), user=user, dry_run=dry)
        return render(request, info, obj, 201)
    new = _apply_patch(ctype, current, body, info.res)
    new.setdefault("metadata", {})
    new["metadata"]["name"], new["metadata"]["namespace"] = info.name, current["metadata"].get("namespace")
    obj = cluster.store.update(
        info.res.key, new, subresource=info.subresource or None, user=user, dry_run=dry
    )
    return render(request, info, obj)


async def _delete_options(request: web.Request) -> Obj:
    body = await read_body(request) if request.can_read_body else None
    opts: Obj = dict(body) if isinstance(body, dict) else {}
    if request.query.get("propagationPolicy"):
        opts["propagationPolicy"] = request.query["propagationPolicy"]
    if opts.get("orphanDependents") is True:
        opts.setdefault("propagationPolicy", "Orphan")
    policy = opts.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise BadRequestError(
            f'propagationPolicy: Unsupported value: "{policy}": supported values: '
            '"Foreground", "Background", "Orphan"'
        )
    opts["dryRun"] = dry_run(request, opts)
    return opts


async def delete(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    opts = await _delete_options(request)
    obj, removed = cluster.store.delete(
        info.res.key,
        _ns(info),
        info.name,
        propagation=opts.get("propagationPolicy"),
        preconditions=opts.get("preconditions"),
        dry_run=opts["dryRun"],
    )
    if not removed or info.res.key in _RETURNS_OBJECT:
        return respond(present(info, obj))
    details: Obj = {"name": info.name, "kind": info.res.plural, "uid": obj["metadata"]["uid"]}
    if info.res.group:
        details["group"] = info.res.group
    return respond(success_status(details))


async def delete_collection(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    parse_label_selector(request.query.get("labelSelector", ""))
    opts = await _delete_options(request)
    items, _ = cluster.store.list(
        info.res.key,
        _ns(info),
        request.query.get("labelSelector", ""),
        request.query.get("fieldSelector", ""),
    )
    deleted = []
    for o in items:
        meta = o["metadata"]
        try:
            obj, _ = cluster.store.delete(
                info.res.key,
                meta.get("namespace"),
                meta["name"],
                propagation=opts.get("propagationPolicy"),
                dry_run=opts["dryRun"],
            )
        except NotFoundError:
            continue  # a cascade removed it first
        deleted.append(obj)
    return respond(
        {
            "kind": f"{info.res.kind}List",
            "apiVersion": info.res.api_version(info.version),
            "metadata": {"resourceVersion": cluster.store.resource_version},
            "items": deleted,
        }
    )


# -- scale subresource (autoscaling/v1 Scale) --------------------------------------------------
def _scale(cluster: LabCluster, info: RequestInfo) -> Obj:
    obj = cluster.store.get(info.res.key, _ns(info), info.name)
    meta = obj["metadata"]
    sel = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sel.items()),
        },
    }


async def get_scale(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    return respond(_scale(cluster, info))


def _set_scale(cluster: LabCluster, info: RequestInfo, scale: Obj, user: User, dry: bool) -> Obj:
    obj = cluster.store.get(info.res.key, _ns(info), info.name)
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        obj["metadata"]["resourceVersion"] = rv
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        from ..status import InvalidError, field_invalid

        raise InvalidError(
            "Scale",
            info.name,
            "autoscaling",
            [field_invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
        )
    obj.setdefault("spec", {})["replicas"] = replicas
    cluster.store.update(info.res.key, obj, user=user, dry_run=dry)
    return _scale(cluster, info) if not dry else {**_scale(cluster, info), "spec": {"replicas": replicas}}


async def evict(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    cluster.store.delete("pods", info.namespace, info.name, dry_run=dry_run(request))
    return respond(success_status(), 201)
