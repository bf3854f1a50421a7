"""Sidecar injection at pod admission: Istio's label precedence, the injected shape, canary revisions,
and the injection faults (webhook-missing, stale-injector, proxy-not-ready, istiod-down)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sim_support import Mesh, start
from support import running_statuses, until

from meshconform.lab.istio.inject import inject_required

REV, CANARY = "asm-1285-9", "asm-1215-34"  # both inject the 1.11+ way; GUIDE (ASM 1.7) the old way
GUIDE = "asm-173-3"
FOLLOW_SECONDS = 5.0  # an event or endpoints update following a pod change, on a loaded machine
TempFactory = pytest.TempPathFactory


@pytest.mark.parametrize(
    ("labels", "annotations", "policy", "want"),
    [
        ({}, {}, "enabled", True),
        ({"sidecar.istio.io/inject": "false"}, {}, "enabled", False),
        ({}, {"sidecar.istio.io/inject": "false"}, "enabled", False),
        ({}, {"sidecar.istio.io/inject": "no"}, "enabled", False),
        (
            {"sidecar.istio.io/inject": "true"},
            {"sidecar.istio.io/inject": "false"},
            "enabled",
            True,
        ),  # label wins
        ({"sidecar.istio.io/inject": "false"}, {"sidecar.istio.io/inject": "true"}, "enabled", False),
        ({}, {}, "disabled", False),
        ({}, {"sidecar.istio.io/inject": "yes"}, "disabled", True),
        ({"sidecar.istio.io/inject": "on"}, {}, "disabled", True),
    ],
)
def test_inject_required_precedence(labels: dict, annotations: dict, policy: str, want: bool) -> None:
    pod = {
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {"containers": [{"name": "a"}]},
    }
    assert inject_required(pod, "sample", {"policy": policy}) is want


def test_system_namespaces_and_host_network_are_never_injected() -> None:
    pod = {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}}, "spec": {"containers": []}}
    assert not inject_required(pod, "kube-system", {"policy": "enabled"})
    assert not inject_required({**pod, "spec": {"hostNetwork": True}}, "sample", {"policy": "enabled"})
    never = {"policy": "enabled", "neverInjectSelector": [{"matchLabels": {"skip": "yes"}}]}
    assert not inject_required({"metadata": {"labels": {"skip": "yes"}}, "spec": {}}, "sample", never)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    m = start(tmp_path_factory, clusters=1, revisions=(REV, CANARY))
    yield m
    m.stop()


def _pod(
    mesh: Mesh,
    ns: str,
    labels: dict[str, str],
    name: str,
    pod_labels: dict | None = None,
    annotations: dict | None = None,
) -> object:
    mesh.core(0).create_namespace({"metadata": {"name": ns, "labels": labels}})
    body = {
        "metadata": {"name": name, "labels": pod_labels or {"app": name}, "annotations": annotations or {}},
        "spec": {
            "containers": [
                {"name": "app", "image": "curlimages/curl:8.16.0", "command": ["/bin/sleep", "infinity"]}
            ]
        },
    }
    return mesh.core(0).create_namespaced_pod(ns, body)


@pytest.mark.parametrize(
    ("ns_labels", "pod_labels", "annotations", "revision"),
    [
        ({"istio.io/rev": REV}, None, None, REV),
        ({"istio.io/rev": CANARY}, None, None, CANARY),
        ({"istio-injection": "enabled"}, None, None, None),  # ASM installs no default-revision webhook
        (
            {"istio-injection": "enabled", "istio.io/rev": REV},
            None,
            None,
            None,
        ),  # istio-injection must be absent
        ({}, None, None, None),
        ({"istio.io/rev": REV}, {"app": "x", "sidecar.istio.io/inject": "false"}, None, None),
        ({"istio.io/rev": REV}, None, {"sidecar.istio.io/inject": "false"}, None),
    ],
    ids=[
        "rev",
        "canary",
        "istio-injection",
        "both-labels",
        "unlabelled",
        "pod-label-false",
        "pod-annotation-false",
    ],
)
def test_namespace_and_pod_labels_pick_the_injector(
    mesh: Mesh, ns_labels: dict, pod_labels: dict | None, annotations: dict | None, revision: str | None
) -> None:
    ns = f"inj-{len(mesh.core(0).list_namespace().items)}"
    pod = _pod(mesh, ns, ns_labels, "p", pod_labels, annotations)
    names = [c.name for c in pod.spec.containers]
    if revision is None:
        assert names == ["app"] and not (pod.metadata.annotations or {}).get("sidecar.istio.io/status")
        return
    status = json.loads(pod.metadata.annotations["sidecar.istio.io/status"])
    assert status["revision"] == revision and "istiod-ca-cert" in status["volumes"]
    if revision == REV:  # Istio 1.28 on 1.33 kubelets: a native sidecar, after istio-init
        assert names == ["app"]
        assert [c.name for c in pod.spec.init_containers] == ["istio-init", "istio-proxy"]
        assert status["initContainers"] == ["istio-init", "istio-proxy"] and status["containers"] is None
        proxy = pod.spec.init_containers[1]
        assert proxy.restart_policy == "Always" and proxy.startup_probe.failure_threshold == 600
        assert proxy.lifecycle.pre_stop._exec.command[-1] == "drain"
    else:  # Istio 1.21 left native sidecars off unless ENABLE_NATIVE_SIDECARS=true
        assert names == ["app", "istio-proxy"]
        assert [c.name for c in pod.spec.init_containers] == ["istio-init"]
        assert status["containers"] == ["istio-proxy"] and status["initContainers"] == ["istio-init"]
        proxy = pod.spec.containers[1]
        assert proxy.restart_policy is None
    tag = "1.28.5-asm.9" if revision == REV else "1.21.5-asm.34"
    assert proxy.image == f"gcr.io/gke-release/asm/proxyv2:{tag}"
    assert (
        proxy.readiness_probe.http_get.path == "/healthz/ready"
        and proxy.readiness_probe.http_get.port == 15021
    )
    assert [p.container_port for p in proxy.ports] == [15090]
    assert any(m.mount_path == "/var/run/secrets/kubernetes.io/serviceaccount" for m in proxy.volume_mounts)
    labels = pod.metadata.labels
    assert labels["security.istio.io/tlsMode"] == "istio" and labels["service.istio.io/canonical-name"] == "p"
    assert labels["service.istio.io/canonical-revision"] == "latest"
    assert pod.metadata.annotations["istio.io/rev"] == revision
    assert pod.metadata.annotations["prometheus.io/port"] == "15020"


def _selectors(mwc: Any) -> dict[str, tuple[set[tuple[str, str, tuple[str, ...]]], dict[str, str]]]:
    """webhook name -> (namespaceSelector expressions, matchLabels)."""
    out = {}
    for hook in mwc.webhooks:
        sel = hook.namespace_selector
        exprs = {(e.key, e.operator, tuple(e.values or ())) for e in sel.match_expressions or []}
        out[hook.name] = (exprs, dict(sel.match_labels or {}))
    return out


def test_webhook_configuration_has_the_revisioned_selectors(mesh: Mesh) -> None:
    """A 1.10+ revision's webhooks as istio-discovery templates/mutatingwebhook.yaml (1.10.0-1.28.5)
    renders them: rev.namespace (istio.io/rev In [REV]) and rev.object (pods labelled with it)."""
    from kubernetes import client

    adm = client.AdmissionregistrationV1Api(mesh.api(0))
    mwc = adm.read_mutating_webhook_configuration(f"istio-sidecar-injector-{REV}")
    assert mwc.metadata.labels["istio.io/rev"] == REV
    assert _selectors(mwc) == {
        "rev.namespace.sidecar-injector.istio.io": (
            {("istio.io/rev", "In", (REV,)), ("istio-injection", "DoesNotExist", ())}, {}
        ),
        "rev.object.sidecar-injector.istio.io": (
            {("istio.io/rev", "DoesNotExist", ()), ("istio-injection", "DoesNotExist", ())}, {}
        ),
    }
    hook = mwc.webhooks[0]
    assert hook.failure_policy == "Fail" and hook.admission_review_versions == ["v1"]
    exprs = {(e.key, e.operator, tuple(e.values or ())) for e in hook.object_selector.match_expressions}
    assert exprs == {("sidecar.istio.io/inject", "NotIn", ("false",))}
    assert hook.client_config.service.name == f"istiod-{REV}" and hook.client_config.service.path == "/inject"


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        # 1.7.3's chart: one webhook; a named revision needs istio.io/rev and no istio-injection
        (GUIDE, {"sidecar-injector.istio.io": (
            {("istio-injection", "DoesNotExist", ()), ("istio.io/rev", "In", (GUIDE,))}, {}
        )}),
        # ... and its default revision selects istio-injection=enabled only (matchLabels)
        ("default@1.7.3", {"sidecar-injector.istio.io": (set(), {"istio-injection": "enabled"})}),
        # 1.10+ default revision: istio.io/rev=default as well as istio-injection=enabled
        ("default@1.28.5", {
            "rev.namespace.sidecar-injector.istio.io": (
                {("istio.io/rev", "In", ("default",)), ("istio-injection", "DoesNotExist", ())}, {}
            ),
            "rev.object.sidecar-injector.istio.io": (
                {("istio.io/rev", "DoesNotExist", ()), ("istio-injection", "DoesNotExist", ())}, {}
            ),
            "namespace.sidecar-injector.istio.io": ({("istio-injection", "In", ("enabled",))}, {}),
            "object.sidecar-injector.istio.io": (
                {("istio-injection", "DoesNotExist", ()), ("istio.io/rev", "DoesNotExist", ())}, {}
            ),
        }),
    ],
)
def test_webhook_selectors_follow_the_version(tmp_path_factory: TempFactory, spec: str, want: dict) -> None:
    """istio-discovery templates/mutatingwebhook.yaml at 1.7.3 (and 1.9.0 with its default
    useLegacySelectors: true) vs 1.10.0-1.28.5: which namespace labels each version selects."""
    from kubernetes import client

    m = start(tmp_path_factory, clusters=1, revisions=(spec,))
    try:
        name = "istio-sidecar-injector" + ("" if spec.startswith("default") else f"-{spec}")
        mwc = client.AdmissionregistrationV1Api(m.api(0)).read_mutating_webhook_configuration(name)
        assert _selectors(mwc) == want
        assert mwc.metadata.labels["istio.io/rev"] == spec.partition("@")[0]
    finally:
        m.stop()


def test_pre_1_10_default_revision_injects_istio_injection_namespaces_only(
    tmp_path_factory: TempFactory,
) -> None:
    """A default-revision install of Istio 1.7: `istio.io/rev=default` selects nothing (the chart
    has no such webhook before 1.10), `istio-injection=enabled` injects, stamping istio.io/rev=default."""
    m = start(tmp_path_factory, clusters=1, revisions=("default@1.7.3",))
    try:
        istiod = m.istiod(0)
        assert istiod.metadata.name.startswith("istiod-")
        assert istiod.metadata.labels["istio.io/rev"] == "default"
        assert istiod.spec.containers[0].image == "docker.io/istio/pilot:1.7.3"
        m.namespace(0, "by-rev", {"istio.io/rev": "default"})
        m.namespace(0, "by-label", {"istio-injection": "enabled"})
        for ns in ("by-rev", "by-label"):
            m.deploy(0, ("v1",), ns=ns, sleep=False)
        injected = m.wait_ready(0, "by-label", count=1)[0]
        assert [c.name for c in injected.spec.containers] == ["helloworld", "istio-proxy"]
        assert injected.metadata.labels["istio.io/rev"] == "default"
        bare = m.wait_ready(0, "by-rev", count=1)[0]
        assert [c.name for c in bare.spec.containers] == ["helloworld"]
    finally:
        m.stop()


def test_injected_deployment_comes_up_2_of_2(mesh: Mesh) -> None:
    """As a 1.33 kubelet reports a native sidecar: istio-init Completed (started false), istio-proxy
    running, started and ready in initContainerStatuses, the app alone in containerStatuses."""
    mesh.namespace(0, "sample")
    mesh.deploy(0, ("v1",))
    pods = mesh.wait_ready(0, count=2)
    assert all(len(p.status.container_statuses) == 1 for p in pods)
    init, proxy = pods[0].status.init_container_statuses
    assert init.name == "istio-init" and init.state.terminated.reason == "Completed"
    assert init.started is False and init.ready is True
    assert proxy.name == "istio-proxy" and proxy.state.running and proxy.started and proxy.ready
    assert {c.type: c.status for c in pods[0].status.conditions}["Ready"] == "True"
    assert mesh.core(0).read_namespaced_config_map("istio-ca-root-cert", "sample").data["root-cert.pem"]


def _faulted(tmp_path_factory: pytest.TempPathFactory, fault: str, containers: int | None = None) -> Mesh:
    m = start(tmp_path_factory, clusters=2, faults=(fault,))
    for i in (0, 1):
        m.namespace(i)
        m.deploy(i, (f"v{i + 1}",))
    return m


def test_webhook_missing_leaves_pods_without_sidecar(tmp_path_factory: pytest.TempPathFactory) -> None:
    m = _faulted(tmp_path_factory, "webhook-missing:cluster-2")
    try:
        from kubernetes import client

        names = [
            w.metadata.name
            for w in client.AdmissionregistrationV1Api(m.api(1)).list_mutating_webhook_configuration().items
        ]
        assert f"istio-sidecar-injector-{REV}" not in names
        assert all(len(running_statuses(p)) == 1 for p in m.wait_ready(1, count=2))
        assert all(len(running_statuses(p)) == 2 for p in m.wait_ready(0, count=2))
    finally:
        m.stop()


def test_stale_injector_stamps_an_older_revision(tmp_path_factory: pytest.TempPathFactory) -> None:
    m = _faulted(tmp_path_factory, "stale-injector:cluster-2")
    try:
        pods = m.wait_ready(0, count=2)
        assert {_status(p)["revision"] for p in pods} == {REV}
        # The stale ConfigMap renders the 1.6.8 template: the revision is the pod's label, as then.
        pods = m.wait_ready(1, count=2)
        assert {p.metadata.labels["istio.io/rev"] for p in pods} == {"asm-168-9"}
        assert all("revision" not in _status(p) for p in pods)
        proxy = next(c for c in m.pods(1)[0].spec.containers if c.name == "istio-proxy")
        assert proxy.image.endswith(":1.6.8-asm.9")
    finally:
        m.stop()


def test_proxy_not_ready_holds_native_sidecar_pods_in_init_with_probe_events(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A native istio-proxy that never gets ready never passes its startup probe (same endpoint),
    so the kubelet never starts the app: Pending, Initialized False, Init:1/2 in kubectl."""
    m = _faulted(tmp_path_factory, "proxy-not-ready:cluster-1")
    try:
        m.wait_ready(1, count=2)
        pods = m.wait_held(0, count=2)
        for p in pods:
            cond = {c.type: c for c in p.status.conditions}
            assert p.status.phase == "Pending" and cond["Initialized"].status == "False"
            assert cond["Ready"].status == "False" and "istio-proxy" in cond["Ready"].message
        events = until(lambda: m.core(0).list_namespaced_event("sample").items,
                       lambda items: any(e.reason == "Unhealthy" for e in items), FOLLOW_SECONDS,
                       "an Unhealthy event in cluster-1/sample", show=lambda items: [e.reason for e in items])
        unhealthy = [e for e in events if e.reason == "Unhealthy"]
        assert "Startup probe failed" in unhealthy[0].message
        assert unhealthy[0].involved_object.field_path == "spec.initContainers{istio-proxy}"
        ep = until(lambda: m.core(0).read_namespaced_endpoints("helloworld", "sample"),
                   lambda ep: bool(ep.subsets and ep.subsets[0].not_ready_addresses), FOLLOW_SECONDS,
                   "helloworld's endpoints in cluster-1 to list the pods as not ready",
                   show=lambda ep: ep.subsets)
        assert not ep.subsets[0].addresses
    finally:
        m.stop()


def _crash_looping(pod: Any) -> bool:
    waiting = [c.state.waiting for c in pod.status.container_statuses or [] if c.state.waiting]
    return any(w.reason == "CrashLoopBackOff" for w in waiting)


def test_istiod_down_crash_loops_and_refuses_injection(tmp_path_factory: pytest.TempPathFactory) -> None:
    m = _faulted(tmp_path_factory, "istiod-down:cluster-2")
    try:
        istiod = until(lambda: m.istiod(1), _crash_looping, FOLLOW_SECONDS,
                       "cluster-2's istiod in CrashLoopBackOff",
                       show=lambda pod: [c.state for c in pod.status.container_statuses or []])
        st = istiod.status.container_statuses[0]
        assert not st.ready and st.restart_count >= 1
        assert m.istiod(0).status.container_statuses[0].ready
        events = m.core(1).list_namespaced_event
        failed = until(
            lambda: [e for e in events("sample").items if e.reason == "FailedCreate"],
            bool, FOLLOW_SECONDS, "a FailedCreate event in cluster-2/sample",
            show=len,
        )
        hook = "rev.namespace.sidecar-injector.istio.io"  # the 1.10+ chart's name for the namespace webhook
        assert failed and f'failed calling webhook "{hook}"' in failed[0].message
        assert 'no endpoints available for service "istiod-asm-1285-9"' in failed[0].message
        logs = m.core(1).read_namespaced_pod_log(istiod.metadata.name, "istio-system", container="discovery")
        assert "Error: failed to create discovery service" in logs
    finally:
        m.stop()


def test_an_injector_before_1_11_stamps_the_revision_as_a_label(tmp_path_factory: TempFactory) -> None:
    """Istio 1.7-1.10 (the guide's ASM 1.7): sidecar.istio.io/status has a template `version` hash and
    no `revision`, the revision is the pod's istio.io/rev label, and no istio.io/rev annotation;
    from 1.11 the status carries `revision`, the annotation too, and the label is left alone
    (istio/istio#33447)."""
    m = start(tmp_path_factory, clusters=1, revisions=(GUIDE, REV))
    try:
        old = _pod(m, "guide", {"istio.io/rev": GUIDE}, "p", None, None)
        status = _status(old)
        assert next(iter(status)) == "version" and len(status["version"]) == 64 and "revision" not in status
        assert old.metadata.labels["istio.io/rev"] == GUIDE and "istio.io/rev" not in old.metadata.annotations
        new = _pod(m, "current", {"istio.io/rev": REV}, "p", None, None)
        status = _status(new)
        assert list(status)[-1] == "revision" and status["revision"] == REV and "version" not in status
        assert new.metadata.annotations["istio.io/rev"] == REV
        assert "istio.io/rev" not in (new.metadata.labels or {})
    finally:
        m.stop()


def _status(pod: Any) -> dict[str, Any]:
    return dict(json.loads(pod.metadata.annotations["sidecar.istio.io/status"]))
