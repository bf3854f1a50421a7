"""Discovery documents: /version, /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>.

Shapes as k8s.io/apimachinery/pkg/apis/meta/v1/types.go (APIVersions, APIGroupList, APIGroup,
APIResourceList); clients (kubectl's RESTMapper, kubernetes.dynamic.DynamicClient) build their
resource maps from these, so verbs/shortNames/categories/namespaced must be right.
"""

from __future__ import annotations

from typing import Any

from ..resources import Resource, groups, in_group_version
from ..status import PathNotFoundError
from .routes import RequestInfo


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:443"}],
    }


def _group(name: str, versions: tuple[str, ...]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": vs, "preferredVersion": vs[0]}


def group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g, vs) for g, vs in groups()]}


def api_group(name: str) -> dict[str, Any]:
    for g, vs in groups():
        if g == name:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(g, vs)}
    raise PathNotFoundError()


def _entries(r: Resource) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        main["shortNames"] = list(r.short_names)
    if r.categories:
        main["categories"] = list(r.categories)
    out = [main]
    for s in r.subresources:
        entry: dict[str, Any] = {
            "name": f"{r.plural}/{s.name}",
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": s.kind or r.kind,
            "verbs": list(s.verbs),
        }
        if s.group is not None:
            entry.update(group=s.group, version=s.version)
        out.append(entry)
    return out


def resource_list(group: str, version: str) -> dict[str, Any]:
    rs = in_group_version(group, version)
    if not rs:
        raise PathNotFoundError()
    doc: dict[str, Any] = {
        "kind": "APIResourceList",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [e for r in rs for e in _entries(r)],
    }
    if group:
        doc["apiVersion"] = "v1"
    return doc


def for_path(info: RequestInfo, version: dict[str, Any]) -> dict[str, Any] | None:
    """The discovery document at this path (`version`: the cluster's /version document), or None
    when it is not a discovery path."""
    p = info.path.rstrip("/")
    if p == "/version":
        return version
    if p == "/api":
        return api_versions()
    if p == "/apis":
        return group_list()
    parts = p.split("/")
    if len(parts) == 3 and parts[1] == "apis":
        return api_group(parts[2])
    if info.prefix and not info.is_resource:
        return resource_list(info.group, info.version)
    return None
