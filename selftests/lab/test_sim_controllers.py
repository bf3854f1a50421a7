"""The lab's controllers as a client sees them: Deployment -> ReplicaSet -> Pods, readiness over
time, Endpoints/EndpointSlices following ready pods, namespace termination, events."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from sim_support import Mesh, start
from support import until

from meshconform.lab.controllers.deployments import template_hash
from meshconform.lab.controllers.kit import ALPHANUMS

DELAY = 0.4
FOLLOW_SECONDS = 3.0  # a controller following a change (deployment status, endpoints, deletion)
HASH = f"[{ALPHANUMS}]{{6,10}}"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    m = start(tmp_path_factory, ready_delay=DELAY)
    yield m
    m.stop()


def test_deployment_makes_a_hashed_replicaset_and_named_pods(mesh: Mesh) -> None:
    mesh.namespace(0, "names", labels={})
    mesh.deploy(0, ("v1",), ns="names", sleep=False)
    pods = mesh.wait_ready(0, "names")
    rs = mesh.apps(0).list_namespaced_replica_set("names").items
    assert len(rs) == 1
    h = rs[0].metadata.labels["pod-template-hash"]
    assert re.fullmatch(HASH, h) and rs[0].metadata.name == f"helloworld-v1-{h}"
    assert rs[0].metadata.owner_references[0].kind == "Deployment"
    assert rs[0].spec.selector.match_labels["pod-template-hash"] == h
    assert rs[0].metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    pod = pods[0]
    assert re.fullmatch(rf"helloworld-v1-{h}-[{ALPHANUMS}]{{5}}", pod.metadata.name)
    assert pod.metadata.owner_references[0].name == rs[0].metadata.name
    d = mesh.apps(0).read_namespaced_deployment("helloworld-v1", "names")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"


def test_template_hash_is_stable_and_changes_with_the_template() -> None:
    t = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    assert template_hash(t) == template_hash(dict(t))
    t2 = {**t, "spec": {"containers": [{"name": "c", "image": "i:2"}]}}
    assert template_hash(t) != template_hash(t2) != template_hash(t, 1)


def test_pods_walk_pending_to_ready_over_the_ready_delay(mesh: Mesh) -> None:
    mesh.namespace(0, "timing", labels={})
    t0 = time.monotonic()
    mesh.deploy(0, ("v2",), ns="timing", sleep=False)
    seen = set()
    # Sampling, not waiting: the pod's states are recorded every 20 ms so that Pending is seen
    # to pass before Ready, and the time to Ready measured.
    while time.monotonic() - t0 < 5:
        for p in mesh.pods(0, "timing"):
            ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            seen.add((p.status.phase, ready))
            if ready:
                break
        else:
            time.sleep(0.02)
            continue
        break
    elapsed = time.monotonic() - t0
    assert ("Pending", False) in seen and ("Running", True) in seen
    assert DELAY * 0.5 <= elapsed < DELAY + 2.0
    pod = mesh.pods(0, "timing")[0]
    st = pod.status
    assert st.pod_ip and st.host_ip and pod.spec.node_name and st.qos_class == "Burstable"
    assert [c.type for c in st.conditions] == ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
    cs = st.container_statuses[0]
    assert cs.ready and cs.started and cs.state.running.started_at and cs.container_id.startswith("containerd://")
    d = until(lambda: mesh.apps(0).read_namespaced_deployment("helloworld-v2", "timing"),
              lambda d: (d.status.available_replicas or 0) >= 1, FOLLOW_SECONDS,
              "deployment timing/helloworld-v2 to count its ready pod available", show=lambda d: d.status)
    s = d.status
    assert (s.replicas, s.ready_replicas, s.available_replicas, s.updated_replicas) == (1, 1, 1, 1)
    assert s.observed_generation == d.metadata.generation
    conds = {c.type: (c.status, c.reason) for c in s.conditions}
    assert conds["Available"] == ("True", "MinimumReplicasAvailable")
    assert conds["Progressing"] == ("True", "NewReplicaSetAvailable")


def test_events_tell_the_pod_story(mesh: Mesh) -> None:
    pod = mesh.pods(0, "timing")[0]
    events = mesh.core(0).list_namespaced_event("timing").items
    mine = {e.reason for e in events if e.involved_object.name == pod.metadata.name}
    assert {"Scheduled", "Pulled", "Created", "Started"} <= mine
    reasons = {e.reason for e in events}
    assert {"SuccessfulCreate", "ScalingReplicaSet"} <= reasons


def test_endpoints_follow_ready_pods_and_scaling(mesh: Mesh) -> None:
    mesh.namespace(0, "eps", labels={})
    mesh.deploy(0, ("v1", "v2"), ns="eps", sleep=False)
    pods = mesh.wait_ready(0, "eps", count=2)
    ips = sorted(p.status.pod_ip for p in pods)
    ep = mesh.core(0).read_namespaced_endpoints("helloworld", "eps")
    assert sorted(a.ip for a in ep.subsets[0].addresses) == ips
    assert ep.subsets[0].ports[0].port == 5000 and ep.subsets[0].addresses[0].target_ref.kind == "Pod"
    slices = client.DiscoveryV1Api(mesh.api(0)).list_namespaced_endpoint_slice("eps").items
    mine = [s for s in slices if s.metadata.labels["kubernetes.io/service-name"] == "helloworld"]
    assert sorted(e.addresses[0] for e in mine[0].endpoints) == ips
    assert all(e.conditions.ready and e.zone == "us-central1-a" for e in mine[0].endpoints)
    mesh.apps(0).patch_namespaced_deployment_scale("helloworld-v2", "eps", {"spec": {"replicas": 3}})
    mesh.wait_ready(0, "eps", count=4)
    until(lambda: _addresses(mesh, "eps"), lambda n: n == 4, FOLLOW_SECONDS,
          "4 ready addresses in eps/helloworld's endpoints after scaling v2 to 3")
    mesh.apps(0).delete_namespaced_deployment("helloworld-v2", "eps")
    until(lambda: len(mesh.pods(0, "eps")), lambda n: n == 1, FOLLOW_SECONDS,
          "v2's pods in eps to go with their deployment")
    until(lambda: _addresses(mesh, "eps"), lambda n: n == 1, FOLLOW_SECONDS,
          "eps/helloworld's endpoints to keep only v1's address")


def _addresses(mesh: Mesh, ns: str) -> int:
    ep = mesh.core(0).read_namespaced_endpoints("helloworld", ns)
    return len(ep.subsets[0].addresses or []) if ep.subsets else 0


def test_namespace_terminates_then_disappears(mesh: Mesh) -> None:
    mesh.namespace(0, "doomed", labels={})
    mesh.deploy(0, ("v1",), ns="doomed")
    mesh.wait_ready(0, "doomed", count=2)
    core = mesh.core(0)
    root_ca = core.read_namespaced_config_map("kube-root-ca.crt", "doomed")
    assert root_ca.data["ca.crt"].startswith("-----BEGIN")
    assert core.read_namespaced_service_account("default", "doomed")
    core.delete_namespace("doomed")
    ns = core.read_namespace("doomed")
    assert ns.status.phase == "Terminating"
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("doomed", {"metadata": {"name": "late"}})
    assert e.value.status == 403
    code = until(lambda: _read_code(lambda: core.read_namespace("doomed")), lambda code: code != 200, 5,
                 "namespace doomed to go away")
    assert code == 404
    assert mesh.pods(0, "doomed") == []


def _read_code(read: Callable[[], object]) -> int:
    """The HTTP status of a read: 200, or the API's error status."""
    try:
        read()
    except ApiException as e:
        return int(e.status)
    return 200
