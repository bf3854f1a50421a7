"""The three patch kinds the apiserver accepts, plus server-side apply approximated as a merge.

- application/merge-patch+json: RFC 7386.
- application/json-patch+json: RFC 6902 with RFC 6901 pointers.
- application/strategic-merge-patch+json: k8s.io/apimachinery/pkg/util/strategicpatch, with the
  patchMergeKey / patchStrategy tags of k8s.io/api/core/v1/types.go for the fields kubectl apply
  touches (containers by name, container ports by containerPort, Service ports by port, env,
  volumes, volumeMounts by mountPath, ...), and the directives `$patch` (replace/delete/merge),
  `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>` and `$retainKeys`.
"""

from __future__ import annotations

from typing import Any

from .status import InvalidError

Obj = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"

_NAME_KEYED = {
    "containers",
    "initContainers",
    "ephemeralContainers",
    "volumes",
    "env",
    "imagePullSecrets",
    "secrets",
}
_KEYS = {
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
    "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey",
}
_PRIMITIVE_MERGE = {"finalizers"}


def merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    field = path[-1] if path else ""
    if field == "ports":
        return "port" if kind == "Service" and path == ("spec", "ports") else "containerPort"
    if field in _NAME_KEYED:
        return "name"
    return _KEYS.get(field)


# -- RFC 7386 -----------------------------------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


# -- strategic merge ---------------------------------------------------------------------------
def _strip(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [_strip(x) for x in v if not (isinstance(x, dict) and x.get("$patch") == "delete")]
    return v


def strategic_merge(orig: Any, patch: Any, kind: str, path: tuple[str, ...] = ()) -> Any:
    if not isinstance(patch, dict) or not isinstance(orig, dict):
        return _strip(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return None
    result = dict(orig)
    orders: dict[str, list[Any]] = {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
        elif k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in v]
        elif k.startswith("$"):
            continue
        elif v is None:
            result.pop(k, None)
        elif isinstance(v, list):
            result[k] = _merge_list(result.get(k), v, kind, (*path, k))
        elif isinstance(v, dict) and isinstance(result.get(k), dict):
            merged = strategic_merge(result[k], v, kind, (*path, k))
            if merged is None:
                result.pop(k, None)
            else:
                result[k] = merged
        else:
            result[k] = _strip(v)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(result[field], order, merge_key(kind, (*path, field)))
    if isinstance(patch.get("$retainKeys"), list):
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    return result


def _merge_list(orig: list[Any] | None, patch: list[Any], kind: str, path: tuple[str, ...]) -> list[Any]:
    orig = list(orig or [])
    if path[-1] in _PRIMITIVE_MERGE:
        return orig + [x for x in patch if x not in orig]
    key = merge_key(kind, path)
    if key is None or any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [_strip(x) for x in patch if not (isinstance(x, dict) and x.get("$patch") == "replace")]
    for item in patch:
        if not isinstance(item, dict):
            continue
        idx = next(
            (i for i, o in enumerate(orig) if isinstance(o, dict) and o.get(key) == item.get(key)), None
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del orig[idx]
        elif idx is None:
            orig.append(_strip(item))
        else:
            orig[idx] = strategic_merge(orig[idx], item, kind, path)
    return orig


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x

    rank = {w: i for i, w in enumerate(ident(o) for o in order) if isinstance(w, (str, int))}

    def position(x: Any) -> int:
        w = ident(x)
        return rank.get(w, len(rank)) if isinstance(w, (str, int)) else len(rank)

    return sorted(items, key=position)


# -- RFC 6902 -----------------------------------------------------------------------------------
def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise _invalid(f'invalid JSON pointer "{pointer}"')
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _invalid(msg: str) -> InvalidError:
    err = InvalidError("", "", "", [{"reason": "FieldValueInvalid", "message": msg, "field": ""}])
    err.message = msg
    return err


def _parent(doc: Any, pointer: str) -> tuple[Any, str]:
    toks = _tokens(pointer)
    if not toks:
        raise _invalid("cannot operate on the document root")
    cur = doc
    for t in toks[:-1]:
        cur = cur[int(t)] if isinstance(cur, list) else cur.get(t) if isinstance(cur, dict) else None
        if cur is None:
            raise _invalid(f'doc is missing path: "{pointer}": missing value')
    return cur, toks[-1]


def _get(doc: Any, pointer: str) -> Any:
    cur = doc
    for t in _tokens(pointer):
        if isinstance(cur, list) and t.isdigit() and int(t) < len(cur):
            cur = cur[int(t)]
        elif isinstance(cur, dict) and t in cur:
            cur = cur[t]
        else:
            raise _invalid(f'doc is missing path: "{pointer}": missing value')
    return cur


def _add(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    parent, last = _parent(doc, pointer)
    if isinstance(parent, list):
        idx = len(parent) if last == "-" else int(last)
        if idx > len(parent):
            raise _invalid(f'add operation does not apply: doc is missing path: "{pointer}"')
        parent.insert(idx, value)
    else:
        parent[last] = value
    return doc


def _remove(doc: Any, pointer: str) -> Any:
    _get(doc, pointer)
    parent, last = _parent(doc, pointer)
    if isinstance(parent, list):
        del parent[int(last)]
    else:
        del parent[last]
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    import copy

    if not isinstance(ops, list):
        raise _invalid("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, op.get("value"))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            doc = _add(_remove(doc, path), path, op.get("value")) if path else op.get("value")
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_get(doc, op.get("from", "")))
            if kind == "move":
                doc = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _invalid(f"testing value {path} failed: test failed")
        else:
            raise _invalid(f"Unexpected kind: {kind}")
    return doc
