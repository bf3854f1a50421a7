"""Pod status as the kubelet reports it at each lifecycle step: pure functions of (pod, step).

Shapes follow k8s.io/api core/v1 PodStatus and what pkg/kubelet/kubelet_pods.go
(convertStatusToAPIStatus, getPhase) and pkg/kubelet/status/generate.go (GeneratePodReadyCondition,
GenerateContainersReadyCondition, GeneratePodInitializedCondition) write: condition reasons
ContainersNotReady / ContainersNotInitialized with "containers with unready status: [a b]",
container states waiting(ContainerCreating | PodInitializing | CrashLoopBackOff) / running /
terminated(Completed), and the QoS class of pkg/apis/core/helper/qos.

Restartable init containers (`restartPolicy: Always`, native sidecars, KEP-753, stable in 1.33) as a
1.33 kubelet runs them (pkg/kubelet/kuberuntime computeInitContainerActions, prober_manager.go
UpdatePodStatus, status/generate.go): one starts after the init containers before it completed and
keeps running; the ones after it, and the app containers, wait (PodInitializing) until its startup
probe passed (`started`); it counts as initialized once started, and its readiness joins the
containers' in ContainersReady/Ready (listed first in "containers with unready status"). From 1.28
the kubelet reports `started` on init containers too (false once a plain one has terminated).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

# Lifecycle steps in order; `at` is the share of the pod's ready delay after which a step applies.
SCHEDULED, INITIALIZED, RUNNING, READY = "scheduled", "initialized", "running", "ready"


@dataclass(frozen=True)
class StartupStep:
    name: str
    at: float


STEPS = (
    StartupStep(SCHEDULED, 0.0),
    StartupStep(INITIALIZED, 0.35),
    StartupStep(RUNNING, 0.65),
    StartupStep(READY, 1.0),
)

# What a container does once started (decided by behaviour hooks, e.g. Istio fault effects).
OK, NEVER_READY, CRASHLOOP = "ok", "never-ready", "crashloop"


def _sha(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{_sha(image)}"


def qos_class(pod: Obj) -> str:
    """Guaranteed / Burstable / BestEffort from requests and limits (core/helper/qos.GetPodQOS)."""
    containers = (pod["spec"].get("initContainers") or []) + pod["spec"].get("containers", [])
    any_set, guaranteed = False, True
    for c in containers:
        req = (c.get("resources") or {}).get("requests") or {}
        lim = (c.get("resources") or {}).get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim[r]) != lim[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _condition(ctype: str, ok: bool, stamp: str, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"type": ctype, "status": "True" if ok else "False", "lastProbeTime": None,
              "lastTransitionTime": stamp}
    if not ok and reason:
        c["reason"], c["message"] = reason, message
    return c


def _has_probe(c: Obj) -> bool:
    return bool(c.get("readinessProbe"))


@dataclass
class Run:
    """What the kubelet knows about one pod between steps."""

    step: str
    behaviours: dict[str, str]           # container name -> OK / NEVER_READY / CRASHLOOP
    since: dict[str, str]                # step name -> when it happened (RFC 3339)
    restarts: int = 0
    kubelet_minor: int = 33              # the node's kubelet release (1.<minor>)


def restartable(c: Obj) -> bool:
    """A native sidecar: an init container that keeps running (podutil.IsRestartableInitContainer)."""
    return c.get("restartPolicy") == "Always"


def _crashloop(pod: Obj, c: Obj, t: str) -> tuple[Obj, bool, bool, Obj]:
    last = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": t, "finishedAt": t,
                           "containerID": f"containerd://{_sha(pod['metadata']['uid'], c['name'], 'x')}"}}
    msg = f"back-off 10s restarting failed container={c['name']} pod={pod['metadata']['name']}_" \
          f"{pod['metadata']['namespace']}({pod['metadata']['uid']})"
    return {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}, False, False, last


def _sidecar_state(pod: Obj, c: Obj, run: Run) -> tuple[Obj, bool, bool, Obj]:
    """A restartable init container: running from the init step; started once its startup probe
    passes (at once without one), which a NEVER_READY container's never does."""
    order = [s.name for s in STEPS]
    at = order.index(run.step)
    if at < order.index(INITIALIZED):
        return {"waiting": {"reason": "PodInitializing"}}, False, False, {}
    behaviour = run.behaviours.get(c["name"], OK)
    if behaviour == CRASHLOOP:
        return _crashloop(pod, c, run.since[INITIALIZED])
    running = {"running": {"startedAt": run.since[INITIALIZED]}}
    if behaviour == NEVER_READY:
        return running, not c.get("startupProbe"), False, {}
    return running, True, not _has_probe(c) or at >= order.index(READY), {}


def _state(pod: Obj, c: Obj, run: Run, init: bool) -> tuple[Obj, bool, bool, Obj]:
    """-> (state, started, ready, lastState) of one container at the pod's current step."""
    order = [s.name for s in STEPS]
    at = order.index(run.step)
    if init and restartable(c):
        return _sidecar_state(pod, c, run)
    if init:
        if at >= order.index(INITIALIZED):
            t = run.since[INITIALIZED]
            cid = f"containerd://{_sha(pod['metadata']['uid'], c['name'])}"
            return ({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": t, "finishedAt": t,
                                    "containerID": cid}}, False, True, {})
        return {"waiting": {"reason": "PodInitializing"}}, False, False, {}
    if at < order.index(RUNNING):
        has_init = bool(pod["spec"].get("initContainers"))
        reason = "PodInitializing" if has_init and at < order.index(INITIALIZED) else "ContainerCreating"
        return {"waiting": {"reason": reason}}, False, False, {}
    behaviour = run.behaviours.get(c["name"], OK)
    if behaviour == CRASHLOOP:
        return _crashloop(pod, c, run.since[RUNNING])
    ready = behaviour == OK and (not _has_probe(c) or at >= order.index(READY))
    return {"running": {"startedAt": run.since[RUNNING]}}, True, ready, {}


WAITING: tuple[Obj, bool, bool, Obj] = ({"waiting": {"reason": "PodInitializing"}}, False, False, {})


def _statuses(pod: Obj, run: Run, init: bool, blocked: bool = False) -> list[Obj]:
    """Statuses of the init containers or the containers; `blocked`: a native sidecar before them
    has not started, so they have not been started either."""
    out = []
    key = "initContainers" if init else "containers"
    for c in pod["spec"].get(key) or []:
        state, started, ready, last = WAITING if blocked else _state(pod, c, run, init)
        s: Obj = {"name": c["name"], "state": state, "lastState": last, "ready": ready,
                  "restartCount": run.restarts if run.behaviours.get(c["name"]) == CRASHLOOP else 0,
                  "image": c.get("image", ""), "imageID": ""}
        if "running" in state or "terminated" in state or last:
            s["imageID"] = image_id(c.get("image", ""))
            cid = _sha(pod["metadata"]["uid"], c["name"], str(s["restartCount"]))
            s["containerID"] = f"containerd://{cid}"
        if not init or run.kubelet_minor >= 28:
            s["started"] = started
        out.append(s)
        blocked = blocked or (init and restartable(c) and not started)
    return out


def _initialized(pod: Obj, inits: list[Obj]) -> list[str]:
    """The init containers that keep the pod from Initialized: a plain one not completed, a
    restartable one not started (GeneratePodInitializedCondition)."""
    kinds = {c["name"]: restartable(c) for c in pod["spec"].get("initContainers") or []}
    return [s["name"] for s in inits if not (s.get("started") if kinds.get(s["name"]) else s["ready"])]


def status(pod: Obj, run: Run, host_ip: str, pod_ip: str) -> Obj:
    """The full status for the pod's current step."""
    order = [s.name for s in STEPS]
    at = order.index(run.step)
    stamp = run.since[run.step]
    inits = _statuses(pod, run, init=True)
    pending_init = _initialized(pod, inits)
    initialized = not pending_init
    conts = _statuses(pod, run, init=False, blocked=not initialized)
    sidecars = {c["name"] for c in pod["spec"].get("initContainers") or [] if restartable(c)}
    unready = [s["name"] for s in inits if s["name"] in sidecars and not s["ready"]]
    unready += [s["name"] for s in conts if not s["ready"]]
    t_init = run.since.get(INITIALIZED, stamp) if initialized else stamp
    conditions = [
        _condition(
            "Initialized",
            initialized,
            t_init if inits else run.since[SCHEDULED],
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(pending_init)}]",
        ),
        _condition(
            "Ready",
            not unready,
            stamp,
            "ContainersNotReady",
            f"containers with unready status: [{' '.join(unready)}]",
        ),
        _condition(
            "ContainersReady",
            not unready,
            stamp,
            "ContainersNotReady",
            f"containers with unready status: [{' '.join(unready)}]",
        ),
        _condition("PodScheduled", True, run.since[SCHEDULED]),
    ]
    st: Obj = {
        "phase": "Running" if at >= order.index(RUNNING) and initialized else "Pending",
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": run.since[SCHEDULED],
        "containerStatuses": conts,
        "qosClass": qos_class(pod),
    }
    if inits:
        st["initContainerStatuses"] = inits
    if at >= order.index(INITIALIZED) and not pod["spec"].get("hostNetwork"):
        st["podIP"], st["podIPs"] = pod_ip, [{"ip": pod_ip}]
    elif pod["spec"].get("hostNetwork"):
        st["podIP"], st["podIPs"] = host_ip, [{"ip": host_ip}]
    return st
