"""URL -> RequestInfo, as k8s.io/apiserver/pkg/endpoints/request/requestinfo.go parses paths.

One parser for every path keeps RBAC attributes, routing and the request log consistent: the verb
(get/list/watch/create/update/patch/delete/deletecollection), API group and version, resource,
subresource, namespace and name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..resources import Resource, lookup
from ..status import PathNotFoundError

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class RequestInfo:
    path: str
    verb: str  # RBAC verb; for non-resource requests the lower-cased method
    is_resource: bool = False
    group: str = ""
    version: str = ""
    resource: Resource | None = None
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    prefix: str = ""  # "api" / "apis" for discovery paths, else ""

    @property
    def res(self) -> Resource:
        assert self.resource is not None
        return self.resource


def _verb(method: str, name: str, watch: bool) -> str:
    if method in ("GET", "HEAD"):
        return "watch" if watch else ("get" if name else "list")
    if method == "DELETE" and not name:
        return "deletecollection"
    return _VERBS.get(method, method.lower())


def parse(method: str, path: str, watch: bool) -> RequestInfo:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(path, method.lower() if method != "HEAD" else "get")
    if not rest:
        return RequestInfo(path, "get", group=group, version=version, prefix=parts[0])
    return _resource_info(method, path, group, version, rest, watch)


def _resource_info(
    method: str, path: str, group: str, version: str, rest: list[str], watch: bool
) -> RequestInfo:
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    res = lookup(group, version, rest[0])
    name = rest[1] if len(rest) > 1 else ""
    if res is None or len(rest) > 3 or (namespace and not res.namespaced):
        raise PathNotFoundError()
    if res.namespaced and name and not namespace:
        raise PathNotFoundError()
    if res.plural == "namespaces":
        namespace = name
    sub = rest[2] if len(rest) > 2 else ""
    if sub and res.subresource(sub) is None:
        raise PathNotFoundError()
    return RequestInfo(path, _verb(method, name, watch), True, group, version, res, namespace, name, sub)
