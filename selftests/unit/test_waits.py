"""The pod judge: done when enough pods are Ready; stops early on terminal container states."""

from __future__ import annotations

from meshconform import waits


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
