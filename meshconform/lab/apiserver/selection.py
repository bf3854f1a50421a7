"""Label and field selectors, parsed and matched as k8s.io/apimachinery/pkg/labels and /fields do.

Three shapes reach the lab: the `labelSelector=` string grammar (`a=b,c!=d,e in (f,g),!h`), the
`fieldSelector=` string (`metadata.name=x,status.phase!=Running`), and metav1.LabelSelector objects
(`matchLabels` / `matchExpressions`, used by Deployments, Services' selectors and webhook
namespaceSelector/objectSelector). Parse errors are 400 BadRequest with the apiserver's wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .status import BadRequestError

Labels = Mapping[str, str]


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Labels) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # "!=", "notin"


_TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or not m.group(1):
            break
        out.append(m.group(1))
        pos = m.end()
    if text[pos:].strip():
        raise BadRequestError(f"unable to parse requirement: found '{text[pos:]}', expected: identifier")
    return out


def parse_label_selector(text: str) -> tuple[LabelRequirement, ...]:
    """`a=b,c in (d,e),!f` -> requirements; '' selects everything."""
    toks, reqs, i = _tokens(text or ""), [], 0
    while i < len(toks):
        req, i = _requirement(toks, i)
        reqs.append(req)
        if i < len(toks):
            if toks[i] != ",":
                raise BadRequestError(f"unable to parse requirement: found '{toks[i]}', expected: ','")
            i += 1
    return tuple(reqs)


def _requirement(toks: list[str], i: int) -> tuple[LabelRequirement, int]:
    if toks[i] == "!":
        return LabelRequirement(_key(toks, i + 1), "!"), i + 2
    key = _key(toks, i)
    if i + 1 >= len(toks) or toks[i + 1] == ",":
        return LabelRequirement(key, "exists"), i + 1
    op = toks[i + 1]
    if op in ("=", "==", "!="):
        value = toks[i + 2] if i + 2 < len(toks) and toks[i + 2] not in (",", ")") else ""
        step = 3 if value else 2
        return LabelRequirement(key, "!=" if op == "!=" else "=", (value,)), i + step
    if op in ("in", "notin"):
        values, j = _value_set(toks, i + 2)
        return LabelRequirement(key, op, values), j
    expected = "in, notin, =, ==, !=, gt, lt"
    raise BadRequestError(f"unable to parse requirement: found '{op}', expected: {expected}")


def _key(toks: list[str], i: int) -> str:
    if i >= len(toks) or toks[i] in ("!", ",", "(", ")", "=", "==", "!="):
        raise BadRequestError("unable to parse requirement: found '', expected: identifier")
    return toks[i]


def _value_set(toks: list[str], i: int) -> tuple[tuple[str, ...], int]:
    if i >= len(toks) or toks[i] != "(":
        raise BadRequestError("unable to parse requirement: found '', expected: '('")
    values: list[str] = []
    i += 1
    while i < len(toks) and toks[i] != ")":
        if toks[i] != ",":
            values.append(toks[i])
        i += 1
    if i >= len(toks):
        raise BadRequestError("unable to parse requirement: found '', expected: ')'")
    return tuple(values), i + 1


def label_matcher(text: str) -> Callable[[Labels], bool]:
    reqs = parse_label_selector(text)
    return lambda labels: all(r.matches(labels) for r in reqs)


def matches_label_selector(selector: Mapping[str, Any] | None, labels: Labels) -> bool:
    """metav1.LabelSelector semantics: None selects nothing, {} selects everything."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}.get(
            expr.get("operator", "")
        )
        if op is None:
            raise BadRequestError(f"{expr.get('operator')!r} is not a valid pod selector operator")
        if not LabelRequirement(expr["key"], op, tuple(expr.get("values") or ())).matches(labels):
            return False
    return True


def matches_map_selector(selector: Mapping[str, str] | None, labels: Labels) -> bool:
    """A Service/ReplicationController map selector: every pair must match; empty matches nothing."""
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


# Field selectors: fields each registry strategy's GetAttrs exposes (pkg/registry/*/strategy.go).
_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELDS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
        "spec.hostNetwork",
    ),
    "namespaces": ("status.phase",),
    "secrets": ("type",),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "nodes": ("spec.unschedulable",),
    "replicasets.apps": ("status.replicas",),
}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    op: str  # "=" or "!="
    value: str


def parse_field_selector(text: str, res: str) -> tuple[FieldRequirement, ...]:
    allowed = _COMMON_FIELDS + FIELDS.get(res, ())
    out = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        m = re.fullmatch(r"([^=!]+?)\s*(==|!=|=)\s*(.*)", part)
        if m is None:
            raise BadRequestError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.group(1), m.group(2), m.group(3)
        if field not in allowed:
            raise BadRequestError(f"field label not supported: {field}")
        out.append(FieldRequirement(field, "!=" if op == "!=" else "=", value))
    return tuple(out)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, Mapping) else None
    if path == "source" and isinstance(cur, Mapping):  # events: source = source.component
        cur = cur.get("component")
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def field_matcher(text: str, res: str) -> Callable[[Mapping[str, Any]], bool]:
    reqs = parse_field_selector(text, res)

    def match(obj: Mapping[str, Any]) -> bool:
        for r in reqs:
            equal = field_value(obj, r.field) == r.value
            if equal != (r.op == "="):
                return False
        return True

    return match
