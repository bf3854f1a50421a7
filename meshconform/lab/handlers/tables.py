"""meta.k8s.io/v1 Table responses for `kubectl get`: the server prints, kubectl only lays out.

Columns and cell rules follow k8s.io/kubernetes pkg/printers/internalversion/printers.go (1.20):
pods NAME READY STATUS RESTARTS AGE (+ IP, NODE, NOMINATED NODE, READINESS GATES with -o wide),
deployments NAME READY UP-TO-DATE AVAILABLE AGE, ... The status column follows printPod's
precedence (init containers, waiting/terminated reasons, Terminating). Ages use
apimachinery's duration.HumanDuration. Custom resources get Name + their printer columns + Age.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..resources import Resource

Obj = dict[str, Any]
Cells = Callable[[Obj], list[Any]]


def wanted(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 120:
        return f"{max(s, 0)}s"
    m, h = s // 60, s // 3600
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        return f"{h // 8760}y{(h // 24) % 365}d" if (h // 24) % 365 else f"{h // 8760}y"
    return f"{h // 8760}y"


def age(obj: Obj) -> str:
    ts = obj.get("metadata", {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    return human_duration(time.time() - calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")))


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


def pod_status(pod: Obj) -> str:
    """printPod's STATUS column."""
    st = pod.get("status", {})
    reason = st.get("reason") or st.get("phase") or "Unknown"
    inits = st.get("initContainerStatuses") or []
    for i, c in enumerate(inits):
        term, wait = c.get("state", {}).get("terminated"), c.get("state", {}).get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif wait and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(pod.get('spec', {}).get('initContainers') or [])}"
        break
    else:
        has_running = False
        for c in reversed(st.get("containerStatuses") or []):
            state = c.get("state", {})
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
            elif state.get("terminated"):
                t = state["terminated"]
                reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode')}"
            elif c.get("ready") and state.get("running"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod(pod: Obj) -> list[Any]:
    st, spec = pod.get("status", {}), pod.get("spec", {})
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    gates = spec.get("readinessGates") or []
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    gate_text = f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}/{len(gates)}"
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(spec.get('containers') or [])}",
        pod_status(pod),
        sum(c.get("restartCount", 0) for c in statuses),
        age(pod),
        st.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        st.get("nominatedNodeName") or "<none>",
        gate_text if gates else "<none>",
    ]


def _containers(spec: Obj) -> tuple[str, str]:
    cs = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _selector(spec: Obj) -> str:
    sel = spec.get("selector") or {}
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for e in sel.get("matchExpressions") or []:
        parts.append(f"{e['key']} {e['operator'].lower()} ({','.join(e.get('values') or [])})")
    return ",".join(parts) or "<none>"


def _deployment(d: Obj) -> list[Any]:
    spec, st = d.get("spec", {}), d.get("status", {})
    names, images = _containers(spec)
    return [
        d["metadata"]["name"],
        f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0),
        age(d),
        names,
        images,
        _selector(spec),
    ]


def _replicaset(r: Obj) -> list[Any]:
    spec, st = r.get("spec", {}), r.get("status", {})
    names, images = _containers(spec)
    return [
        r["metadata"]["name"],
        spec.get("replicas", 0),
        st.get("replicas", 0),
        st.get("readyReplicas", 0),
        age(r),
        names,
        images,
        _selector(spec),
    ]


def _service(s: Obj) -> list[Any]:
    spec = s.get("spec", {})
    ports = (
        ",".join(
            f"{p['port']}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
            for p in spec.get("ports") or []
        )
        or "<none>"
    )
    ingress = (s.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress) or (
        "<pending>"
        if spec.get("type") == "LoadBalancer"
        else ",".join(spec.get("externalIPs") or []) or "<none>"
    )
    sel = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [
        s["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        external,
        ports,
        age(s),
        sel,
    ]


def _endpoints(e: Obj) -> list[Any]:
    addrs = [
        f"{a.get('ip')}:{p.get('port')}"
        for s in e.get("subsets") or []
        for a in s.get("addresses") or []
        for p in s.get("ports") or [{"port": ""}]
    ]
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [e["metadata"]["name"], text or "<none>", age(e)]


def _node(n: Obj) -> list[Any]:
    st = n.get("status", {})
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    info = st.get("nodeInfo") or {}
    return [
        n["metadata"]["name"],
        "Ready" if ready else "NotReady",
        "<none>",
        age(n),
        info.get("kubeletVersion", ""),
        addrs.get("InternalIP", "<none>"),
        addrs.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


def _binding(b: Obj) -> list[Any]:
    ref, subjects = b.get("roleRef") or {}, b.get("subjects") or []

    def of(kind: str) -> str:
        return ",".join(
            f"{s.get('namespace')}/{s['name']}" if kind == "ServiceAccount" else s["name"]
            for s in subjects
            if s.get("kind") == kind
        )

    return [
        b["metadata"]["name"],
        f"{ref.get('kind')}/{ref.get('name')}",
        age(b),
        of("User"),
        of("Group"),
        of("ServiceAccount"),
    ]


def _event(e: Obj) -> list[Any]:
    obj = e.get("involvedObject") or {}
    last = e.get("lastTimestamp") or e.get("eventTime") or e["metadata"].get("creationTimestamp")
    first = e.get("firstTimestamp") or last

    def since(ts: str | None) -> str:
        return age({"metadata": {"creationTimestamp": ts}}) if ts else "<unknown>"

    return [
        since(last),
        e.get("type", ""),
        e.get("reason", ""),
        f"{obj.get('kind', '').lower()}/{obj.get('name', '')}",
        obj.get("fieldPath", ""),
        (e.get("source") or {}).get("component", ""),
        e.get("message", ""),
        since(first),
        e.get("count", 1),
        e["metadata"]["name"],
    ]


def _name(o: Obj) -> str:
    return str(o["metadata"]["name"])


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
