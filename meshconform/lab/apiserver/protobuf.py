"""Decode application/vnd.kubernetes.protobuf request bodies into the JSON dicts the lab handles.

kubectl's typed clients (create namespace/secret/configmap/deployment/..., create token, auth
can-i) send protobuf, not JSON, and a real apiserver accepts both. The body is the 4-byte magic
"k8s\\0" then a runtime.Unknown {1: typeMeta {1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding,
4: contentType} (k8s.io/apimachinery pkg/runtime/generated.proto; the framing is
pkg/runtime/serializer/protobuf/protobuf.go); raw is the object's own message, read here with the
field tables of protoschema.py and turned into what the same object looks like as JSON: Time as
RFC 3339, Quantity and IntOrString as their JSON scalars, bytes base64, zero-valued plain fields
left out as Go's omitempty leaves them out. Unknown field numbers are skipped.

The wire walker is ours (~40 lines) rather than the `protobuf` package: its schema-less reader is
either private (google.protobuf.internal.decoder) or a detour (parse into Empty, read
UnknownFieldSet), and either way the field tables and the JSON mapping, the real work, stay ours.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any

from .protoschema import KINDS, Field, message

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
Obj = dict[str, Any]
Raw = int | bytes  # a varint / fixed value, or a length-delimited payload


class ProtobufError(ValueError):
    """The body is not well-formed protobuf (the HTTP layer answers 400)."""


class UnknownKind(ProtobufError):
    """Well-formed, but of a kind the lab has no field table for (the HTTP layer answers 415)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ProtobufError("truncated or overlong varint")
        b = buf[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return value, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, Raw]]:
    """(field number, wire type, value) for each field of one message, in wire order."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise ProtobufError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield num, wire, value
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(buf):
                raise ProtobufError("truncated fixed-width field")
            yield num, wire, int.from_bytes(buf[pos : pos + size], "little")
            pos += size
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtobufError(f"field {num}: length {size} runs past the end of the message")
            yield num, wire, buf[pos : pos + size]
            pos += size
        else:
            raise ProtobufError(f"field {num}: unsupported wire type {wire}")


def _signed(value: int) -> int:
    # int32/int64 are plain varints; negatives arrive as 64-bit two's complement
    return value - (1 << 64) if value >= 1 << 63 else value


def _numbers(payload: bytes) -> dict[int, int]:
    return {num: _signed(value) for num, _, value in fields(payload) if isinstance(value, int)}


def _rfc3339(payload: bytes) -> str | None:
    # metav1.Time {1: seconds, 2: nanos}; JSON carries whole seconds (RFC 3339, UTC)
    seconds = _numbers(payload).get(1, 0)
    if seconds == 0:
        return None  # the zero Time is JSON null, which omitempty drops
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(payload: bytes) -> int | str:
    # intstr.IntOrString {1: type (0 Int, 1 String), 2: intVal, 3: strVal}
    if _numbers(payload).get(1, 0) == 1:
        return next((_text(v) for n, _, v in fields(payload) if n == 3 and isinstance(v, bytes)), "")
    return _numbers(payload).get(2, 0)


def _text(payload: bytes) -> str:
    try:
        return payload.decode()
    except UnicodeDecodeError:
        raise ProtobufError("a string field is not valid UTF-8") from None


def _scalar(kind: str, wire: int, value: Raw, where: str) -> Any:
    if kind in ("int", "bool"):
        if not isinstance(value, int):
            raise ProtobufError(f"{where}: expected a varint, got wire type {wire}")
        return bool(value) if kind == "bool" else _signed(value)
    if not isinstance(value, bytes):
        raise ProtobufError(f"{where}: expected a length-delimited value, got wire type {wire}")
    if kind == "string":
        return _text(value)
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "Time":
        return _rfc3339(value)
    if kind == "Quantity":
        # resource.Quantity {1: string}
        return next((_text(v) for n, _, v in fields(value) if n == 1 and isinstance(v, bytes)), "0")
    if kind == "IntOrString":
        return _int_or_string(value)
    return decode_message(kind, value)


_ZERO: dict[str, Any] = {"string": "", "bytes": "", "Quantity": "0", "int": 0, "bool": False}


def _map_entry(f: Field, payload: bytes, where: str) -> tuple[str, Any]:
    key, val = "", None
    for num, wire, value in fields(payload):
        if num == 1:
            key = _scalar("string", wire, value, where)
        elif num == 2:
            val = _scalar(f.type, wire, value, where)
    if val is None:  # an entry without a value carries the value type's zero
        val = _ZERO.get(f.type, {})
    return key, val


def decode_message(name: str, payload: bytes) -> Obj:
    """One message as its JSON object; fields are looked up in protoschema's table for `name`."""
    table = message(name)
    out: Obj = {}
    for num, wire, value in fields(payload):
        f = table.get(num)
        if f is None:
            continue  # a field this table does not list: skipped, as an older server would
        where = f"{name}.{f.name}"
        if f.map:
            if not isinstance(value, bytes):
                raise ProtobufError(f"{where}: a map entry must be length-delimited")
            k, v = _map_entry(f, value, where)
            out.setdefault(f.name, {})[k] = v
        elif f.repeated:
            out.setdefault(f.name, []).append(_scalar(f.type, wire, value, where))
        elif f.name == "*":
            out.update(_scalar(f.type, wire, value, where))
        else:
            out[f.name] = _scalar(f.type, wire, value, where)
    return _omit_empty(table, out)


def _omit_empty(table: dict[int, Field], out: Obj) -> Obj:
    """Drop what JSON's omitempty would drop: zero plain scalars, zero Times (never pointers)."""
    for f in table.values():
        if f.name not in out:
            continue
        value = out[f.name]
        plain = not (f.map or f.repeated or f.pointer) and f.type in ("string", "bytes", "int", "bool")
        if value is None or (plain and not value):
            del out[f.name]
    return out


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw object bytes) from a k8s protobuf body."""
    if not body.startswith(MAGIC):
        raise ProtobufError(
            f"provided data does not appear to be a protobuf message, expected prefix {list(MAGIC)}"
        )
    api_version = kind = encoding = ""
    raw = b""
    for num, wire, value in fields(body[len(MAGIC) :]):
        if num == 1 and isinstance(value, bytes):
            meta = decode_typemeta(value)
            api_version, kind = meta.get("apiVersion", ""), meta.get("kind", "")
        elif num == 2 and isinstance(value, bytes):
            raw = value
        elif num == 3 and isinstance(value, bytes):
            encoding = _text(value)
        elif wire != 2:
            raise ProtobufError(f"runtime.Unknown field {num}: unexpected wire type {wire}")
    if encoding:
        raise UnknownKind(f'unsupported contentEncoding "{encoding}" in a protobuf body')
    return api_version, kind, raw


def decode_typemeta(payload: bytes) -> dict[str, str]:
    names = {1: "apiVersion", 2: "kind"}
    return {names[n]: _text(v) for n, _, v in fields(payload) if n in names and isinstance(v, bytes)}


def decode_body(body: bytes) -> Obj:
    """A protobuf request body as the JSON object a client would have sent instead."""
    api_version, kind, raw = unwrap(body)
    if not kind:
        raise ProtobufError("Object 'Kind' is missing in the protobuf body's runtime.Unknown")
    if kind not in KINDS:
        raise UnknownKind(
            f'the lab decodes protobuf bodies of {", ".join(sorted(KINDS))} only, not "{kind}" '
            "- send it as application/json"
        )
    obj = decode_message(kind, raw)
    return {"kind": kind, "apiVersion": api_version, **obj}
