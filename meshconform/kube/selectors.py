"""Label selectors, evaluated locally the way the API server and kubectl do.

Two inputs: the string form (`kubectl -l 'app=helloworld,version in (v1,v2),!canary'`, grammar of
k8s.io/apimachinery/pkg/labels/selector.go) to filter sample manifests as the guide's
`kubectl create -f ... -l app=helloworld -l version=v1` does, and the structured
`metav1.LabelSelector` (matchLabels + matchExpressions) of an injector webhook's
namespaceSelector/objectSelector, which we evaluate against the namespace's labels to explain
why pods were or were not injected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        raise SelectorError(f"unknown operator {self.operator!r}")


_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s,]*)\s*$")
_KEY_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def parse(selector: str) -> tuple[Requirement, ...]:
    """Parse kubectl's -l syntax; an empty string selects everything."""
    return tuple(_parse_term(term) for term in _split_terms(selector) if term.strip())


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside `( ... )`."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return terms


def _parse_term(term: str) -> Requirement:
    if m := _SET_RE.match(term):
        values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
        return Requirement(m.group(1), "In" if m.group(2) == "in" else "NotIn", values)
    if m := _EQ_RE.match(term):
        return Requirement(m.group(1), "NotIn" if m.group(2) == "!=" else "In", (m.group(3),))
    if m := _KEY_RE.match(term):
        return Requirement(m.group(2), "DoesNotExist" if m.group(1) else "Exists")
    raise SelectorError(f"cannot parse label selector term {term.strip()!r}")


def matches(requirements: tuple[Requirement, ...], labels: Mapping[str, str]) -> bool:
    return all(r.matches(labels) for r in requirements)


def select(objects: list[dict[str, Any]], selector: str) -> list[dict[str, Any]]:
    """Objects whose metadata.labels match, like `kubectl create -f FILE -l SELECTOR`."""
    requirements = parse(selector)
    return [o for o in objects if matches(requirements, (o.get("metadata") or {}).get("labels") or {})]


def from_label_selector(selector: Mapping[str, Any] | None) -> tuple[Requirement, ...]:
    """A metav1.LabelSelector dict (camelCase, as the API returns it) -> requirements."""
    if not selector:
        return ()
    reqs = [Requirement(k, "In", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        reqs.append(Requirement(expr["key"], expr["operator"], tuple(expr.get("values") or ())))
    return tuple(reqs)


def explain_mismatch(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> str | None:
    """None when `labels` match; else the first requirement that fails, in kubectl's words."""
    for req in from_label_selector(selector):
        if not req.matches(labels):
            return describe(req)
    return None


def describe(req: Requirement) -> str:
    if req.operator == "Exists":
        return req.key
    if req.operator == "DoesNotExist":
        return f"!{req.key}"
    op = "in" if req.operator == "In" else "notin"
    if len(req.values) == 1:
        return f"{req.key}{'=' if op == 'in' else '!='}{req.values[0]}"
    return f"{req.key} {op} ({','.join(req.values)})"
