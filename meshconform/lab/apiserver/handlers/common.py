"""Small request/response helpers shared by the handlers (rendering, body decoding, query flags)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from ..lab_cluster import LabCluster
from ..protobuf import ProtobufError, UnknownKind, decode_body
from ..status import BadRequestError, StatusError, UnsupportedMediaTypeError

CLUSTER: web.AppKey[LabCluster] = web.AppKey("cluster", LabCluster)
LAB: web.AppKey[Any] = web.AppKey("lab", object)
JSON = "application/json"
# a body the apiserver cannot decode (its serializer's wording)
REJECTED = "the server rejected our request due to an error in our request: {}"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def respond(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type=JSON, headers=headers)


def status_response(err: StatusError) -> web.Response:
    return respond(err.to_status(), err.code, err.headers or None)


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        out["details"] = details
    return out


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequestError(f'invalid value for {name}: "{raw}"') from None


def dry_run(request: web.Request, body: dict[str, Any] | None = None) -> bool:
    values = request.query.getall("dryRun", []) + list((body or {}).get("dryRun") or [])
    for v in values:
        if v != "All":
            raise BadRequestError(f'Invalid dry run value: "{v}": supported values: "All"')
    return bool(values)


async def read_body(request: web.Request) -> Any:
    raw = await request.read()
    ctype = request.content_type or JSON
    if not raw:
        return None
    if ctype == "application/vnd.kubernetes.protobuf":
        return _protobuf(raw)
    if "protobuf" in ctype:
        raise UnsupportedMediaTypeError(
            "the body of the request was in an unknown format - accepted media types "
            "include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
        )
    try:
        if "yaml" in ctype:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except ValueError as e:
        raise BadRequestError(REJECTED.format(e)) from None


def _protobuf(raw: bytes) -> Any:
    """kubectl's typed clients' bodies (protobuf.py), as the JSON object they stand for."""
    try:
        return decode_body(raw)
    except UnknownKind as e:
        raise UnsupportedMediaTypeError(str(e)) from None
    except ProtobufError as e:
        raise BadRequestError(REJECTED.format(e)) from None
