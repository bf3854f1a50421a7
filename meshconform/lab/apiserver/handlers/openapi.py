"""/openapi/v2 as JSON or in gnostic's protobuf encoding, which kubectl 1.20 downloads.

kubectl create/apply fetch the document (Accept: application/com.github.proto-openapi.spec.v2@v1.0
+protobuf) for client-side validation and for apply's patch metadata, and fail outright on 404.
The document is minimal but valid: meta ObjectMeta and the Istio CRDs' structural schemas, each
CRD with x-kubernetes-group-version-kind as the apiextensions server publishes it. Built-in kinds
are deliberately absent: kubectl then skips client-side validation for them and takes strategic
merge metadata from its compiled-in types (LookupResource == nil in kubectl's apply patcher),
which are exactly the real patchMergeKeys. Message field numbers come from google/gnostic
openapiv2/OpenAPIv2.proto (Document, Info, Paths, Definitions, NamedSchema, Schema, TypeItem,
Properties, ItemsItem, AdditionalPropertiesItem, NamedAny, Any).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from aiohttp import web

from ..resources import RESOURCES
from ..status import PathNotFoundError
from .common import respond

PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
Obj = dict[str, Any]
_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _obj(props: Obj | None = None, **extra: Any) -> Obj:
    out: Obj = {"type": "object", **extra}
    if props is not None:
        out["properties"] = props
    return out


def _str_map() -> Obj:
    return _obj(additionalProperties={"type": "string"})


def _object_meta() -> Obj:
    s = {"type": "string"}
    return _obj(
        {
            "annotations": _str_map(),
            "clusterName": s,
            "creationTimestamp": {"type": "string", "format": "date-time"},
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
            "deletionTimestamp": {"type": "string", "format": "date-time"},
            "finalizers": {"type": "array", "items": s},
            "generateName": s,
            "generation": {"type": "integer", "format": "int64"},
            "labels": _str_map(),
            "managedFields": {"type": "array", "items": _obj()},
            "name": s,
            "namespace": s,
            "ownerReferences": {"type": "array", "items": _obj()},
            "resourceVersion": s,
            "selfLink": s,
            "uid": s,
        },
        description="ObjectMeta is metadata that all persisted resources must have, which includes all "
        "objects users must create.",
    )


def document(version: str) -> Obj:
    """The document of a server at gitVersion `version` (its info.version)."""
    defs: Obj = {_META: _object_meta()}
    for r in RESOURCES:
        if r.group.endswith(".istio.io"):
            for v in r.versions:
                name = f"io.istio.{r.group.split('.')[0]}.{v}.{r.kind}"
                defs[name] = _obj(
                    {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"$ref": f"#/definitions/{_META}"},
                        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                    **{"x-kubernetes-group-version-kind": [{"group": r.group, "kind": r.kind, "version": v}]},
                )
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths(),
        "definitions": defs,
    }


def paths() -> Obj:
    """One PATCH operation per kind and version, carrying its GVK and the dryRun parameter: what
    kubectl's dry-run verifier (k8s.io/kubectl/pkg/util/openapi/dryrun.go) looks for."""
    out: Obj = {}
    for r in RESOURCES:
        if not r.stored or "patch" not in r.verbs:
            continue
        for v in r.versions:
            base = f"/apis/{r.group}/{v}" if r.group else f"/api/{v}"
            scope = "/namespaces/{namespace}" if r.namespaced else ""
            out[f"{base}{scope}/{r.plural}/{{name}}"] = {
                "patch": {
                    "parameters": [{"name": "dryRun", "in": "query", "type": "string", "uniqueItems": True}],
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": r.group, "kind": r.kind, "version": v},
                }
            }
    return out


# -- protobuf wire encoding ---------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _string(num: int, text: str) -> bytes:
    return _field(num, text.encode())


def _bool(num: int, value: bool) -> bytes:
    return _varint(num << 3) + _varint(1 if value else 0)


def _named(num: int, name: str, value: bytes) -> bytes:
    return _field(num, _string(1, name) + _field(2, value))


def encode_schema(s: Obj) -> bytes:
    out = b""
    if "$ref" in s:
        out += _string(1, s["$ref"])
    if "format" in s:
        out += _string(2, s["format"])
    if "description" in s:
        out += _string(4, s["description"])
    for req in s.get("required", []):
        out += _string(19, req)
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        out += _field(21, _field(1, encode_schema(ap)))
    elif isinstance(ap, bool):
        out += _field(21, _bool(2, ap))
    if "type" in s:
        out += _field(
            22, b"".join(_string(1, t) for t in ([s["type"]] if isinstance(s["type"], str) else s["type"]))
        )
    if "items" in s:
        out += _field(23, _field(1, encode_schema(s["items"])))
    if "properties" in s:
        out += _field(25, b"".join(_named(1, k, encode_schema(v)) for k, v in s["properties"].items()))
    for k, v in s.items():
        if k.startswith("x-"):
            out += _named(31, k, _string(2, yaml.safe_dump(v, default_flow_style=False)))
    return out


def _operation(op: Obj) -> bytes:
    out = b""
    for p in op.get("parameters", []):
        query = _bool(1, False) + _string(2, p["in"]) + _string(4, p["name"]) + _string(6, p["type"])
        query += _bool(20, p.get("uniqueItems", False))
        out += _field(8, _field(1, _field(2, _field(3, query))))  # ParametersItem.Parameter.NonBody.Query
    for k, v in op.items():
        if k.startswith("x-"):
            out += _named(13, k, _string(2, yaml.safe_dump(v, default_flow_style=False)))
    return out


def _paths(doc: Obj) -> bytes:
    return b"".join(
        _named(2, path, _field(8, _operation(item["patch"]))) for path, item in doc["paths"].items()
    )


@cache
def encoded(version: str) -> bytes:
    doc = document(version)
    info = _string(1, doc["info"]["title"]) + _string(2, doc["info"]["version"])
    defs = b"".join(_named(1, k, encode_schema(v)) for k, v in doc["definitions"].items())
    return _string(1, doc["swagger"]) + _field(2, info) + _field(8, _paths(doc)) + _field(9, defs)


def serve(request: web.Request, path: str, version: str) -> web.StreamResponse:
    if path != "/openapi/v2":
        raise PathNotFoundError()
    if "protobuf" in request.headers.get("Accept", ""):
        return web.Response(
            body=encoded(version), content_type="application/octet-stream"
        )  # as kube-openapi serves it
    return respond(document(version))
