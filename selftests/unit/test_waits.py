"""The pod judge: done when enough pods are Ready; stops early on terminal container states."""

from __future__ import annotations

from meshconform.kube import waits


def pod(name, dep, ready, waiting=None):
    status = {
        "name": "app",
        "ready": ready,
        "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}},
    }
    return {
        "metadata": {"name": name, "labels": {"dep": dep}},
        "spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [status, {"name": "istio-proxy", "ready": ready, "state": {"running": {}}}],
        },
    }


def judge():
    return waits.pods_ready({"a": 1, "b": 1}, lambda p: p["metadata"]["labels"]["dep"])


def test_done_when_every_group_is_ready():
    assert judge()([pod("a-1", "a", True), pod("b-1", "b", True)]).done
    j = judge()([pod("a-1", "a", True), pod("b-1", "b", False)])
    assert not j.done and "b-1 0/2 Running (app not ready, istio-proxy not ready)" in j.state


def test_terminal_states_stop_the_wait():
    j = judge()([pod("a-1", "a", False, waiting="ImagePullBackOff")])
    assert j.terminal and "ImagePullBackOff" in j.terminal
    assert not judge()([pod("a-1", "a", False, waiting="ContainerCreating")]).terminal


def test_pod_state_reads_like_kubectl():
    assert waits.pod_state(pod("x", "a", True)) == "x 2/2 Running"


def test_stable_names_drop_generated_suffixes():
    assert waits.stable_name("helloworld-v2-758dd55874-6x4t8") == "helloworld-v2"
    assert waits.stable_name("istiod-asm-173-3-79bb4dbcc9-7jdpt") == "istiod-asm-173-3"
    assert waits.stable_name("helloworld-v2-758dd55874") == "helloworld-v2"  # the ReplicaSet
    assert waits.stable_name("sleep") == "sleep" and waits.stable_name("cluster-2") == "cluster-2"


def test_a_crash_looping_init_container_stops_the_wait():
    """istio-init without NET_ADMIN: the kubelet reports the back-off in initContainerStatuses, the
    pod Pending and its containers waiting PodInitializing (kubectl: Init:CrashLoopBackOff)."""
    p = pod("a-1", "a", False, waiting="PodInitializing")
    p["status"]["phase"] = "Pending"
    p["status"]["containerStatuses"][1]["state"] = {"waiting": {"reason": "PodInitializing"}}
    p["status"]["initContainerStatuses"] = [
        {"name": "istio-init", "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    ]
    j = judge()([p])
    assert j.terminal and "init istio-init CrashLoopBackOff" in j.terminal
    p["status"]["initContainerStatuses"][0]["state"] = {"waiting": {"reason": "PodInitializing"}}
    assert not judge()([p]).terminal
    assert "init istio-init" not in waits.pod_state(p)


def _native_sidecar_pod(proxy_ready: bool, started: bool = True) -> dict:
    """Istio's own injected pod for native sidecars (pkg/kube/inject/testdata/inject/
    native-sidecar.yaml.injected at 1.28.5: istio-init, then istio-proxy and other-sidecar as init
    containers with restartPolicy: Always, one app container), with the status a kubelet 1.33 gives
    it once running: istio-init Completed, the sidecars started."""
    from pathlib import Path

    import yaml

    data = Path(__file__).parent / "data" / "native-sidecar.yaml.injected"
    pod = next(d for d in yaml.safe_load_all(data.read_text()) if d)  # the file ends with `---`
    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    pod["metadata"]["name"] = "hello-7c9d8b6f5d-x2x7q"
    pod["status"] = {
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True" if proxy_ready else "False"},
        ],
        "initContainerStatuses": [
            {"name": "istio-init", "ready": False, "started": False,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "istio-proxy", "ready": proxy_ready, "started": started, "state": running},
            {"name": "other-sidecar", "ready": True, "started": True, "state": running},
        ],
        "containerStatuses": [{"name": "hello", "ready": True, "started": True, "state": running}],
    }  # fmt: skip
    return pod


def test_native_sidecars_count_as_kubectl_counts_them():
    """kubectl's READY (printers.go printPod) counts restartable init containers: 3/3 here, where
    counting spec.containers alone printed 1/1."""
    assert waits.pod_state(_native_sidecar_pod(True)) == "hello 3/3 Running"
    assert waits.ready_count(_native_sidecar_pod(False)) == (2, 3)
    assert waits.ready_count(_native_sidecar_pod(True, started=False)) == (1, 3)  # not started yet


def test_a_native_sidecar_that_is_not_started_or_not_ready_is_named():
    """A native istio-proxy whose startup probe never passes holds the app back (kubectl: Init:1/2);
    the state names the sidecar, not only the app container waiting behind it."""
    held = _native_sidecar_pod(False, started=False)
    waiting = {"waiting": {"reason": "PodInitializing"}}
    held["status"]["containerStatuses"][0] = {"name": "hello", "ready": False, "started": False,
                                              "state": waiting}
    held["status"]["initContainerStatuses"][2] = {"name": "other-sidecar", "ready": False, "started": False,
                                                  "state": waiting}
    held["status"]["phase"] = "Pending"
    held["status"]["conditions"][0]["status"] = "False"
    assert waits.pod_state(held) == "hello 0/3 Pending (istio-proxy not started, hello PodInitializing)"
    assert waits.pod_state(_native_sidecar_pod(False)) == "hello 2/3 Running (istio-proxy not ready)"


def test_a_plain_init_container_still_running_holds_the_containers_back():
    pod = _native_sidecar_pod(True)
    pod["status"]["conditions"][0]["status"] = "False"
    pod["status"]["initContainerStatuses"][0]["state"] = {"running": {}}
    assert waits.ready_count(pod) == (0, 3)
