"""The one wait primitive: watch a set of objects until a judge says done, stuck, or out of time.

Shaped like the Kubernetes e2e framework's `WaitForPodCondition` (test/e2e/framework/pod/wait.go)
and Istio's `retry.UntilSuccess`: it states its intent once, keeps the last state it saw, lets the
judge stop early on a terminal condition (a webhook refusing pods, an image that never pulls, a
crash loop) and on timeout raises with that last state plus the namespace's recent Warning events.
It lists, then watches from the list's resourceVersion in short chunks, re-listing between
chunks; so a dropped watch costs one chunk, never the whole wait.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshconform.kube import errors
from meshconform.kube.client import Cluster, Obj

log = logging.getLogger("meshconform.kube.waits")

# Between re-lists; also how often a stop request (Ctrl-C) and new Warning events are noticed.
WATCH_CHUNK_SECONDS = 5.0
# A long wait says what it is still waiting for this often (live progress, fixtures/progress.py).
PROGRESS_SECONDS = 10.0
# First pause of `poll`; it doubles per attempt up to the caller's interval.
POLL_FIRST_SECONDS = 0.05
# Pod states that will not fix themselves within a test run.
TERMINAL_WAITING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
TERMINAL_EVENT_REASONS = frozenset({"FailedCreate"})


@dataclass
class Judgement:
    done: bool
    state: str  # the last state, one line, for progress and timeout messages
    terminal: str | None = None  # set when waiting longer cannot help


class WaitFailed(Exception):
    """Timed out or hit a terminal condition; the message is ready for a failure line."""


Judge = Callable[[list[Obj]], Judgement]


def wait_for(
    cluster: Cluster,
    what: str,
    namespace: str,
    label_selector: str,
    judge: Judge,
    timeout: float,
    stop: threading.Event | None = None,
) -> list[Obj]:
    """Watch pods matching `label_selector` in `namespace` until `judge` says done."""
    log.info("waiting up to %gs for %s on %s", timeout, what, cluster.name)
    started = time.monotonic()
    deadline, note_at = started + timeout, started + PROGRESS_SECONDS
    last = Judgement(False, "nothing seen yet")
    while True:
        if note_at <= time.monotonic() < deadline:
            note_at += PROGRESS_SECONDS
            waited = time.monotonic() - started
            log.info(
                "still waiting (%.0fs of %gs) for %s on %s; last seen: %s",
                waited,
                timeout,
                what,
                cluster.name,
                last.state,
            )
        objs, version = _list(cluster, namespace, label_selector)
        last = judge(objs)
        if last.done:
            return objs
        last = _terminal_from_events(cluster, namespace, last)
        if last.terminal:
            raise WaitFailed(f"{what} on {cluster.name}: {last.terminal}")
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (stop is not None and stop.is_set()):
            break
        objs_by_name = {o["metadata"]["name"]: o for o in objs}
        last = _watch_chunk(
            cluster,
            namespace,
            label_selector,
            version,
            objs_by_name,
            judge,
            min(WATCH_CHUNK_SECONDS, remaining),
        )
        if last.done:
            return list(objs_by_name.values())
    events = recent_events(cluster, namespace)
    raise WaitFailed(
        f"timed out after {timeout:g}s waiting for {what} on {cluster.name}; "
        f"last seen: {last.state}" + (f"; events: {events}" if events else "")
    )


def _list(cluster: Cluster, namespace: str, selector: str) -> tuple[list[Obj], str]:
    listing = cluster.read(
        f"LIST pods {namespace} -l {selector}",
        cluster.core.list_namespaced_pod,
        namespace,
        label_selector=selector,
    )
    return list(listing.get("items") or []), str(listing.get("metadata", {}).get("resourceVersion", ""))


def _watch_chunk(
    cluster: Cluster,
    namespace: str,
    selector: str,
    version: str,
    objs: dict[str, Obj],
    judge: Judge,
    seconds: float,
) -> Judgement:
    last = judge(list(objs.values()))
    try:
        for event in cluster.watch(
            f"pods {namespace}",
            cluster.core.list_namespaced_pod,
            seconds,
            namespace=namespace,
            label_selector=selector,
            resource_version=version or None,
        ):
            obj = event["object"]
            name = obj.get("metadata", {}).get("name", "")
            if event["type"] == "DELETED":
                objs.pop(name, None)
            elif event["type"] in ("ADDED", "MODIFIED"):
                objs[name] = obj
            else:
                break  # ERROR (e.g. 410 Gone): re-list
            last = judge(list(objs.values()))
            if last.done or last.terminal:
                break
    except errors.KubeError as exc:
        log.info("watch on %s ended early (%s); re-listing", cluster.name, exc.reason or exc)
    return last


def _terminal_from_events(cluster: Cluster, namespace: str, last: Judgement) -> Judgement:
    """A webhook that refuses pods leaves FailedCreate events on the ReplicaSet, not on a pod."""
    if last.terminal:
        return last
    for event in _warning_events(cluster, namespace):
        if event.get("reason") in TERMINAL_EVENT_REASONS:
            kind = event.get("involvedObject", {}).get("kind", "")
            name = stable_name(str(event.get("involvedObject", {}).get("name", "")))
            message = _one_line(str(event.get("message", "")))
            return Judgement(False, last.state, f"{kind} {namespace}/{name}: FailedCreate: {message}")
    return last


def _warning_events(cluster: Cluster, namespace: str) -> list[Obj]:
    try:
        listing = cluster.read(
            f"LIST events {namespace}",
            cluster.core.list_namespaced_event,
            namespace,
            field_selector="type=Warning",
        )
    except errors.KubeError:
        return []
    items: list[Obj] = listing.get("items") or []
    return sorted(items, key=_event_time)


def recent_events(cluster: Cluster, namespace: str, limit: int = 5) -> str:
    """The last few Warning events, oldest first, one line: evidence for a timeout message."""
    events = _warning_events(cluster, namespace)[-limit:]
    return " | ".join(
        f"{stable_name(str(e.get('involvedObject', {}).get('name', '?')))}: {e.get('reason', '')}: "
        f"{_one_line(str(e.get('message', '')), 120)}"
        for e in events
    )


def _event_time(event: Obj) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("metadata", {}).get("creationTimestamp")
        or ""
    )


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- pod judges -----------------------------------------------------------------------------------


_GENERATED = "[bcdfghjklmnpqrstvwxz2456789]"  # the alphabet of ReplicaSet hashes and pod suffixes
_GENERATED_SUFFIX = re.compile(rf"-{_GENERATED}{{6,10}}(-{_GENERATED}{{5}})?$")


def stable_name(name: str) -> str:
    """`helloworld-v2-758dd55874-6x4t8` -> `helloworld-v2`: failure lines then read the same in every
    run, so nightly failures group (pod names carry a ReplicaSet hash and a random suffix)."""
    return _GENERATED_SUFFIX.sub("", name)


def ready_count(pod: Obj) -> tuple[int, int]:
    """(ready, total) as kubectl's READY column counts them (kubernetes
    pkg/printers/internalversion/printers.go printPod, with sidecar containers, KEP-753): the total
    is the containers plus the restartable init containers (`restartPolicy: Always`: native
    sidecars, which Istio injects from 1.27 where the kubelet is 1.33 or newer, pkg/kube/inject
    DetectNativeSidecar); a restartable init container counts when started and ready, a container
    when ready and running, and the containers not at all while a plain init container is still
    running, failing or waiting (unless the pod is Initialized)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    inits = spec.get("initContainers") or []
    restartable = {c.get("name") for c in inits if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + len(restartable)
    ready, initializing = 0, False
    for s in status.get("initContainerStatuses") or []:
        state = s.get("state") or {}
        if (state.get("terminated") or {}).get("exitCode", -1) == 0 and "terminated" in state:
            continue
        if s.get("name") in restartable and s.get("started"):
            ready += bool(s.get("ready"))
            continue
        initializing = True
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    if not initializing or initialized:
        containers = status.get("containerStatuses") or []
        ready += sum(1 for c in containers if c.get("ready") and "running" in (c.get("state") or {}))
    return ready, total


def _sidecars_not_ready(pod: Obj) -> list[str]:
    """A running native sidecar that has not started (its startup probe has not passed, so the
    kubelet holds the app containers back: kubectl's Init:1/2) or is not ready."""
    inits = pod.get("spec", {}).get("initContainers") or []
    restartable = {c.get("name") for c in inits if c.get("restartPolicy") == "Always"}
    out = []
    for s in pod.get("status", {}).get("initContainerStatuses") or []:
        if s.get("name") in restartable and "running" in (s.get("state") or {}):
            if not s.get("started"):
                out.append(f"{s.get('name')} not started")
            elif not s.get("ready"):
                out.append(f"{s.get('name')} not ready")
    return out


def pod_state(pod: Obj) -> str:
    """`name 1/2 Running (istio-proxy not ready)`, as kubectl get pods would put it."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    ready, total = ready_count(pod)
    phase = pod.get("status", {}).get("phase", "Pending")
    waiting = [
        f"{s.get('name')} {s['state']['waiting'].get('reason', 'waiting')}"
        for s in statuses
        if (s.get("state") or {}).get("waiting")
    ]
    unready = [
        str(s.get("name")) for s in statuses if not s.get("ready") and "running" in (s.get("state") or {})
    ]
    sidecars = _sidecars_not_ready(pod)
    stuck = [  # kubectl: Init:CrashLoopBackOff (istio-init without NET_ADMIN, a crashing native sidecar)
        f"init {s.get('name')} {s['state']['waiting'].get('reason')}"
        for s in pod.get("status", {}).get("initContainerStatuses") or []
        if ((s.get("state") or {}).get("waiting") or {}).get("reason") not in (None, "PodInitializing")
    ]
    detail = ", ".join(stuck + sidecars + waiting + [f"{n} not ready" for n in unready])
    name = stable_name(str(pod.get("metadata", {}).get("name", "?")))
    return f"{name} {ready}/{total} {phase}" + (f" ({detail})" if detail else "")


def pod_ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pods_ready(expected: dict[str, int], key: Callable[[Obj], str | None]) -> Judge:
    """Done when, for every group in `expected` (e.g. deployment -> replicas), that many pods are Ready."""

    def judge(pods: list[Obj]) -> Judgement:
        live = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
        states = "; ".join(pod_state(p) for p in live) or "no pods yet"
        for pod in live:
            st = pod.get("status", {})
            # an init container's back-off shows in initContainerStatuses only (kubelet_pods.go
            # convertToAPIContainerStatuses), with the pod Pending and every container waiting
            for status in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
                reason = ((status.get("state") or {}).get("waiting") or {}).get("reason")
                if reason in TERMINAL_WAITING_REASONS:
                    return Judgement(False, states, f"pod {pod_state(pod)}: {reason}")
        ready_counts: dict[str, int] = {}
        for pod in live:
            group = key(pod)
            if group is not None and pod_ready(pod):
                ready_counts[group] = ready_counts.get(group, 0) + 1
        done = all(ready_counts.get(g, 0) >= n for g, n in expected.items())
        return Judgement(done, states)

    return judge


def poll(
    what: str,
    attempt: Callable[[], Any],
    finished: Callable[[Any], bool],
    timeout: float,
    interval: float = 1.0,
    stop: threading.Event | None = None,
) -> Any:
    """For state that cannot be watched (istiod's debug endpoints): poll with a deadline.

    The pause starts at POLL_FIRST_SECONDS and doubles up to `interval` (like
    k8s.io/apimachinery wait.Backoff): istiod usually reports a new remote secret synced within
    a fraction of a second, and a flat one-second pause cost every run a second for nothing.
    Returns the last result whether or not it finished; the caller judges it.
    """
    log.info("waiting up to %gs for %s", timeout, what)
    deadline = time.monotonic() + timeout
    pause = min(POLL_FIRST_SECONDS, interval)
    while True:
        result = attempt()
        if finished(result) or time.monotonic() + pause > deadline or (stop and stop.is_set()):
            return result
        if stop is not None:
            stop.wait(pause)
        else:
            time.sleep(pause)
        pause = min(interval, pause * 2)
