"""Cell values for the lab's Table rows, as pkg/printers/internalversion/printers.go computes them.

The READY and STATUS columns follow printPod's precedence at 1.33 (init containers, native sidecars
counted with the containers, waiting/terminated reasons, NotReady, Terminating); ages use
apimachinery's duration.HumanDuration.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

Obj = dict[str, Any]


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


def _pod_ready_and_status(pod: Obj) -> tuple[int, int, str, int]:
    """printPod's READY (ready/total), STATUS and RESTARTS as 1.33 computes them: restartable init
    containers (native sidecars) count in the total, and in ready once started and ready; while init
    containers are not done it shows Init:... and counts no app container."""
    st, spec = pod.get("status", {}), pod.get("spec", {})
    reason = st.get("reason") or st.get("phase") or "Unknown"
    sidecars = {c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"}
    total, ready = len(spec.get("containers") or []) + len(sidecars), 0
    initializing, restarts, sidecar_restarts = False, 0, 0
    for i, c in enumerate(st.get("initContainerStatuses") or []):
        restarts += c.get("restartCount", 0)
        sidecar_restarts += c.get("restartCount", 0) if c.get("name") in sidecars else 0
        term, wait = c.get("state", {}).get("terminated"), c.get("state", {}).get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if c.get("name") in sidecars and c.get("started"):
            ready += 1 if c.get("ready") else 0
            continue
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif wait and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    if not initializing or conds.get("Initialized") == "True":
        has_running, restarts = False, sidecar_restarts
        for c in reversed(st.get("containerStatuses") or []):
            restarts += c.get("restartCount", 0)
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
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if conds.get("Ready") == "True" else "NotReady"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return ready, total, str(reason), restarts


def pod_status(pod: Obj) -> str:
    """printPod's STATUS column."""
    return _pod_ready_and_status(pod)[2]


def _pod(pod: Obj) -> list[Any]:
    st, spec = pod.get("status", {}), pod.get("spec", {})
    ready, total, status, restarts = _pod_ready_and_status(pod)
    gates = spec.get("readinessGates") or []
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    gate_text = f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}/{len(gates)}"
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        status,
        restarts,
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


def _listed(items: list[str]) -> str:
    """printers.go listWithMoreString, at most three shown."""
    text = ",".join(items[:3]) + (f" + {len(items) - 3} more..." if len(items) > 3 else "")
    return text or "<unset>"


def _endpoint_slice(e: Obj) -> list[Any]:
    """printers.go printEndpointSlice: formatDiscoveryPorts (a port's number, else its name, else *)
    and formatDiscoveryEndpoints (every address of every endpoint)."""
    ports = [str(p.get("port") or p.get("name") or "*") for p in e.get("ports") or []]
    addresses = [str(a) for ep in e.get("endpoints") or [] for a in ep.get("addresses") or []]
    return [e["metadata"]["name"], e.get("addressType", ""), _listed(ports), _listed(addresses), age(e)]


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
