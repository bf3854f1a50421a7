"""meta.k8s.io/v1 Table responses for `kubectl get`: the server prints, kubectl only lays out.

Columns and cell rules follow k8s.io/kubernetes pkg/printers/internalversion/printers.go (1.20):
pods NAME READY STATUS RESTARTS AGE (+ IP, NODE, NOMINATED NODE, READINESS GATES with -o wide),
deployments NAME READY UP-TO-DATE AVAILABLE AGE, ... The status column follows printPod's
precedence (init containers, waiting/terminated reasons, Terminating). Ages use
apimachinery's duration.HumanDuration. Custom resources get Name + their printer columns + Age.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..resources import Resource
from .cells import (
    _binding,
    _deployment,
    _endpoint_slice,
    _endpoints,
    _event,
    _name,
    _node,
    _pod,
    _replicaset,
    _service,
    age,
)

Obj = dict[str, Any]
Cells = Callable[[Obj], list[Any]]


def wanted(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _col(name: str, typ: str = "string", priority: int = 0, fmt: str = "", desc: str = "") -> Obj:
    return {"name": name, "type": typ, "format": fmt, "description": desc or name, "priority": priority}


NAME = _col(
    "Name",
    fmt="name",
    desc="Name must be unique within a namespace. Is required when creating "
    "resources, although some resources may allow a client to request the generation of an appropriate "
    "name automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: http://kubernetes.io/docs/user-guide/identifiers#names",
)
AGE = _col(
    "Age",
    desc="CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate operations. "
    "Clients may not set this value. It is represented in RFC3339 form and is in UTC.",
)


COLUMNS: dict[str, tuple[list[Obj], Cells]] = {
    "pods": (
        [
            NAME,
            _col("Ready"),
            _col("Status"),
            _col("Restarts", "integer"),
            AGE,
            _col("IP", priority=1),
            _col("Node", priority=1),
            _col("Nominated Node", priority=1),
            _col("Readiness Gates", priority=1),
        ],
        _pod,
    ),
    "deployments.apps": (
        [
            NAME,
            _col("Ready"),
            _col("Up-to-date", "integer"),
            _col("Available", "integer"),
            AGE,
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ],
        _deployment,
    ),
    "replicasets.apps": (
        [
            NAME,
            _col("Desired", "integer"),
            _col("Current", "integer"),
            _col("Ready", "integer"),
            AGE,
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ],
        _replicaset,
    ),
    "services": (
        [
            NAME,
            _col("Type"),
            _col("Cluster-IP"),
            _col("External-IP"),
            _col("Port(s)"),
            AGE,
            _col("Selector", priority=1),
        ],
        _service,
    ),
    "endpoints": ([NAME, _col("Endpoints"), AGE], _endpoints),
    "endpointslices.discovery.k8s.io": (
        [NAME, _col("AddressType"), _col("Ports"), _col("Endpoints"), AGE],
        _endpoint_slice,
    ),
    "namespaces": (
        [NAME, _col("Status"), AGE],
        lambda n: [_name(n), n.get("status", {}).get("phase", ""), age(n)],
    ),
    "nodes": (
        [
            NAME,
            _col("Status"),
            _col("Roles"),
            AGE,
            _col("Version"),
            _col("Internal-IP", priority=1),
            _col("External-IP", priority=1),
            _col("OS-Image", priority=1),
            _col("Kernel-Version", priority=1),
            _col("Container-Runtime", priority=1),
        ],
        _node,
    ),
    "secrets": (
        [NAME, _col("Type"), _col("Data", "integer"), AGE],
        lambda s: [_name(s), s.get("type", ""), len(s.get("data") or {}), age(s)],
    ),
    "configmaps": (
        [NAME, _col("Data", "integer"), AGE],
        lambda c: [_name(c), len(c.get("data") or {}) + len(c.get("binaryData") or {}), age(c)],
    ),
    "serviceaccounts": (
        [NAME, _col("Secrets", "integer"), AGE],
        lambda s: [_name(s), len(s.get("secrets") or []), age(s)],
    ),
    "events": (
        [
            _col("Last Seen"),
            _col("Type"),
            _col("Reason"),
            _col("Object"),
            _col("Subobject", priority=1),
            _col("Source", priority=1),
            _col("Message"),
            _col("First Seen", priority=1),
            _col("Count", priority=1),
            _col("Name", priority=1),
        ],
        _event,
    ),
    "rolebindings.rbac.authorization.k8s.io": (
        [
            NAME,
            _col("Role"),
            AGE,
            _col("Users", priority=1),
            _col("Groups", priority=1),
            _col("ServiceAccounts", priority=1),
        ],
        _binding,
    ),
    "clusterrolebindings.rbac.authorization.k8s.io": (
        [
            NAME,
            _col("Role"),
            AGE,
            _col("Users", priority=1),
            _col("Groups", priority=1),
            _col("ServiceAccounts", priority=1),
        ],
        _binding,
    ),
    "roles.rbac.authorization.k8s.io": (
        [NAME, _col("Created At", "date")],
        lambda r: [_name(r), r["metadata"].get("creationTimestamp")],
    ),
    "clusterroles.rbac.authorization.k8s.io": (
        [NAME, _col("Created At", "date")],
        lambda r: [_name(r), r["metadata"].get("creationTimestamp")],
    ),
    "mutatingwebhookconfigurations.admissionregistration.k8s.io": (
        [NAME, _col("Webhooks", "integer"), AGE],
        lambda w: [_name(w), len(w.get("webhooks") or []), age(w)],
    ),
    "validatingwebhookconfigurations.admissionregistration.k8s.io": (
        [NAME, _col("Webhooks", "integer"), AGE],
        lambda w: [_name(w), len(w.get("webhooks") or []), age(w)],
    ),
    "destinationrules.networking.istio.io": (
        [NAME, _col("Host", desc="The name of a service from the service registry"), AGE],
        lambda d: [_name(d), d.get("spec", {}).get("host", ""), age(d)],
    ),
    "virtualservices.networking.istio.io": (
        [NAME, _col("Gateways"), _col("Hosts"), AGE],
        lambda v: [_name(v), v.get("spec", {}).get("gateways"), v.get("spec", {}).get("hosts"), age(v)],
    ),
}
_DEFAULT: tuple[list[Obj], Cells] = ([NAME, AGE], lambda o: [_name(o), age(o)])


def _row_object(obj: Obj, res: Resource, mode: str) -> Obj | None:
    if mode == "None":
        return None
    if mode == "Object":
        return {**obj, "apiVersion": obj.get("apiVersion") or res.api_version(), "kind": res.kind}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(res: Resource, objs: list[Obj], request: web.Request, rv: str) -> Obj:
    cols, cells = COLUMNS.get(res.key, _DEFAULT)
    mode = request.query.get("includeObject", "Metadata")
    rows = []
    for o in objs:
        row: Obj = {"cells": cells(o)}
        ro = _row_object(o, res, mode)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": cols,
        "rows": rows,
    }
