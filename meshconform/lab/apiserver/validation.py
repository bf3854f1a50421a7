"""Validation with the apiserver's 422 texts (k8s.io/apimachinery/pkg/util/validation).

Only what clients and our fault tests meet: object names per kind (DNS-1123 subdomain, label, or
DNS-1035 label for Services), required fields, and label keys/values.
"""

from __future__ import annotations

import re
from typing import Any

from .resources import resource
from .status import InvalidError, field_invalid, field_required

Obj = dict[str, Any]

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(_LABEL)
DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_MSG_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_MSG_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_MSG_1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
# kinds whose names are labels, not subdomains (their names become DNS labels or path segments)
_LABEL_NAMED = {"namespaces": (DNS1123_LABEL, _MSG_LABEL, 63), "services": (DNS1035_LABEL, _MSG_1035, 63)}


def _name_causes(res: str, meta: Obj) -> list[dict[str, str]]:
    name = meta.get("name")
    if not name:
        return [field_required("metadata.name", "name or generateName is required")]
    if res.endswith(".rbac.authorization.k8s.io"):  # ValidatePathSegmentName
        bad = [f"may not contain '{c}'" for c in ("/", "%") if c in name]
        bad += [f"may not be '{name}'"] if name in (".", "..") else []
        return [field_invalid("metadata.name", name, b) for b in bad]
    pattern, msg, limit = _LABEL_NAMED.get(res, (DNS1123_SUBDOMAIN, _MSG_SUBDOMAIN, 253))
    causes = []
    if len(name) > limit:
        causes.append(field_invalid("metadata.name", name, f"must be no more than {limit} characters"))
    if not pattern.fullmatch(name):
        causes.append(field_invalid("metadata.name", name, msg))
    return causes


_QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',"
    "  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def _label_causes(meta: Obj) -> list[dict[str, str]]:
    causes = []
    for v in (meta.get("labels") or {}).values():
        if not isinstance(v, str) or (v and (len(v) > 63 or not _QUALIFIED.fullmatch(v))):
            causes.append(field_invalid("metadata.labels", v, _LABEL_VALUE_MSG))
    return causes


def _required(res: str, obj: Obj) -> list[dict[str, str]]:
    spec = obj.get("spec") or {}
    if res == "pods" and not spec.get("containers"):
        return [field_required("spec.containers")]
    if res in ("deployments.apps", "replicasets.apps"):
        sel = spec.get("selector")
        if not sel:
            return [field_required("spec.selector")]
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in (sel.get("matchLabels") or {}).items()):
            return [
                field_invalid(
                    "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
                )
            ]
        if not ((spec.get("template") or {}).get("spec") or {}).get("containers"):
            return [field_required("spec.template.spec.containers")]
    return []


def _raise(res: str, obj: Obj, causes: list[dict[str, str]]) -> None:
    if causes:
        r = resource(res)
        raise InvalidError(r.kind, obj.get("metadata", {}).get("name", ""), r.group, causes)


def validate_create(res: str, obj: Obj) -> None:
    meta = obj.get("metadata") or {}
    _raise(res, obj, _name_causes(res, meta) + _label_causes(meta) + _required(res, obj))


def validate_update(res: str, new: Obj, old: Obj) -> None:
    _raise(res, new, _label_causes(new.get("metadata") or {}) + _required(res, new))
