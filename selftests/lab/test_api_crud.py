"""CRUD, selectors, patches and Status errors through the official Python client (typed + dynamic)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient
from labapi_support import Running, lab_fixture

env = lab_fixture(clusters=1)


@pytest.fixture(scope="module")
def core(env: Running) -> client.CoreV1Api:
    return client.CoreV1Api(env.api())


@pytest.fixture(scope="module")
def ns(core: client.CoreV1Api) -> str:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="crud")))
    return "crud"


def _status(e: ApiException) -> dict:
    return json.loads(e.body)


def _cm(name: str, labels: dict | None = None, data: dict | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data or {"k": "v"})


def test_create_get_list_replace_delete(core, ns):
    made = core.create_namespaced_config_map(ns, _cm("one"))
    assert made.metadata.uid and made.metadata.resource_version and made.metadata.creation_timestamp
    got = core.read_namespaced_config_map("one", ns)
    assert got.data == {"k": "v"} and got.metadata.namespace == ns
    got.data = {"k": "w"}
    replaced = core.replace_namespaced_config_map("one", ns, got)
    assert int(replaced.metadata.resource_version) > int(made.metadata.resource_version)
    listed = core.list_namespaced_config_map(ns)
    assert "one" in [c.metadata.name for c in listed.items] and listed.metadata.resource_version
    status = core.delete_namespaced_config_map("one", ns)  # this client returns deletes as plain dicts
    assert status["status"] == "Success" and status["details"]["name"] == "one"
    assert status["details"]["kind"] == "configmaps"


def test_not_found_has_the_apiservers_message(core, ns):
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod("nope", ns)
    assert e.value.status == 404 and e.value.reason == "Not Found"
    body = _status(e.value)
    assert (body["reason"], body["message"]) == ("NotFound", 'pods "nope" not found')
    assert body["details"] == {"name": "nope", "kind": "pods"}


def test_already_exists(core, ns):
    core.create_namespaced_config_map(ns, _cm("dup"))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, _cm("dup"))
    assert e.value.status == 409
    assert _status(e.value)["reason"] == "AlreadyExists"
    assert _status(e.value)["message"] == 'configmaps "dup" already exists'


def test_stale_resource_version_conflicts(core, ns):
    first = core.create_namespaced_config_map(ns, _cm("conf"))
    first.data = {"k": "1"}
    core.replace_namespaced_config_map("conf", ns, first)
    first.data = {"k": "2"}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("conf", ns, first)  # still carries the old RV
    assert e.value.status == 409 and _status(e.value)["reason"] == "Conflict"
    assert _status(e.value)["message"] == (
        'Operation cannot be fulfilled on configmaps "conf": the object has been modified; please apply your '
        "changes to the latest version and try again"
    )


def test_invalid_name_is_422_with_the_validation_text(core, ns):
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, _cm("Bad_Name"))
    body = _status(e.value)
    assert e.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
        "a lowercase RFC 1123 subdomain must consist of"
    )
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_missing_namespace_and_required_fields(core):
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("ghost", _cm("x"))
    assert e.value.status == 404 and _status(e.value)["message"] == 'namespaces "ghost" not found'
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(
            "default",
            client.V1Pod(metadata=client.V1ObjectMeta(name="p"), spec=client.V1PodSpec(containers=[])),
        )
    assert e.value.status == 422 and "spec.containers: Required value" in _status(e.value)["message"]


def test_generate_name_and_dry_run(core, ns):
    made = core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"))
    )
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == 9
    dry = core.create_namespaced_config_map(ns, _cm("dry"), dry_run="All")
    assert dry.metadata.name == "dry"
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("dry", ns)


def test_label_selectors(core, ns):
    for name, labels in [("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}), ("c", {"tier": "db"})]:
        core.create_namespaced_config_map(ns, _cm(f"sel-{name}", labels))

    def names(sel: str) -> list[str]:
        return sorted(
            c.metadata.name
            for c in core.list_namespaced_config_map(ns, label_selector=sel).items
            if c.metadata.name.startswith("sel-")
        )

    assert names("app=x") == ["sel-a"]
    assert names("app in (x,y)") == ["sel-a", "sel-b"]
    assert names("app notin (x)") == ["sel-b", "sel-c"]
    assert names("app!=x") == ["sel-b", "sel-c"]
    assert names("tier") == ["sel-a", "sel-c"]
    assert names("!tier") == ["sel-b"]
    assert names("app,tier=web") == ["sel-a"]


def test_field_selectors(core, ns):
    core.create_namespaced_config_map(ns, _cm("field-a"))
    got = core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.name=field-a,metadata.namespace={ns}"
    )
    assert [c.metadata.name for c in got.items] == ["field-a"]
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map(ns, field_selector="data.k=v")
    assert e.value.status == 400 and _status(e.value)["message"] == "field label not supported: data.k"


def test_delete_collection_by_label(core, ns):
    for i in range(3):
        core.create_namespaced_config_map(ns, _cm(f"coll-{i}", {"batch": "yes" if i < 2 else "no"}))
    core.delete_collection_namespaced_config_map(ns, label_selector="batch=yes")
    left = [
        c.metadata.name
        for c in core.list_namespaced_config_map(ns).items
        if c.metadata.name.startswith("coll-")
    ]
    assert left == ["coll-2"]


def test_merge_patch(core, ns):
    core.create_namespaced_config_map(ns, _cm("mp", data={"a": "1", "b": "2"}))
    out = core.patch_namespaced_config_map(
        "mp", ns, {"data": {"a": None, "c": "3"}}, _content_type="application/merge-patch+json"
    )
    assert out.data == {"b": "2", "c": "3"}


def test_json_patch(core, ns):
    core.create_namespaced_config_map(ns, _cm("jp", {"keep": "1"}, {"a": "1"}))
    ops = [
        {"op": "add", "path": "/metadata/labels/new~1key", "value": "v"},
        {"op": "replace", "path": "/data/a", "value": "2"},
        {"op": "test", "path": "/data/a", "value": "2"},
    ]
    out = core.patch_namespaced_config_map("jp", ns, ops)
    assert out.metadata.labels == {"keep": "1", "new/key": "v"} and out.data == {"a": "2"}


def test_strategic_merge_patch_merges_containers_by_name(env, core, ns):
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="smp"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(name="a", image="busybox:1", env=[client.V1EnvVar(name="X", value="1")]),
                client.V1Container(name="b", image="busybox:1"),
            ]
        ),
    )
    core.create_namespaced_pod(ns, pod)
    patch = {
        "metadata": {"labels": {"p": "1"}},
        "spec": {
            "containers": [{"name": "b", "image": "busybox:2"}],
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        },
    }
    out = core.patch_namespaced_pod("smp", ns, patch)  # the typed client sends strategic merge
    assert [(c.name, c.image) for c in out.spec.containers] == [("a", "busybox:1"), ("b", "busybox:2")]
    assert out.spec.containers[0].env[0].value == "1" and out.metadata.labels == {"p": "1"}
    code, body = env.json(
        "PATCH",
        f"/apis/networking.istio.io/v1beta1/namespaces/{ns}/destinationrules/x",
        body={},
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert code == 415 and body["reason"] == "UnsupportedMediaType"


def test_owner_references_cascade_and_orphan(env, core, ns):
    apps = client.AppsV1Api(env.api())
    owner = core.create_namespaced_config_map(ns, _cm("owner"))
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dependent", owner_references=[ref]))
    )
    core.delete_namespaced_config_map("owner", ns)
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("dependent", ns)
    owner = core.create_namespaced_config_map(ns, _cm("owner2"))
    ref.uid, ref.name = owner.metadata.uid, "owner2"
    core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="orphan", owner_references=[ref]))
    )
    core.delete_namespaced_config_map("owner2", ns, propagation_policy="Orphan")
    assert core.read_namespaced_config_map("orphan", ns).metadata.owner_references is None
    assert apps is not None


def test_status_subresource_is_separate(env, ns):
    base = f"/apis/networking.istio.io/v1beta1/namespaces/{ns}/destinationrules"
    dr = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "st"},
        "spec": {"host": "a"},
    }
    code, made = env.json("POST", base, body=dr)
    assert code == 201
    made["status"], made["spec"]["host"] = {"note": "via main"}, "b"
    code, out = env.json("PUT", f"{base}/st", body=made)
    assert (
        code == 200
        and "status" not in out
        and out["spec"]["host"] == "b"
        and out["metadata"]["generation"] == 2
    )
    code, out = env.json(
        "PATCH",
        f"{base}/st/status",
        body={"status": {"note": "via status"}, "spec": {"host": "c"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert code == 200 and out["status"] == {"note": "via status"} and out["spec"]["host"] == "b"
    assert out["metadata"]["generation"] == 2


def test_dynamic_client_discovers_and_serves_every_version(env, ns):
    dyn = DynamicClient(env.api())
    drs = dyn.resources.get(api_version="networking.istio.io/v1beta1", kind="DestinationRule")
    body = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "hello"},
        "spec": {"host": "helloworld.sample.svc.cluster.local"},
    }
    made = drs.create(body=body, namespace=ns)
    assert made.metadata.generation == 1
    old = dyn.resources.get(api_version="networking.istio.io/v1alpha3", kind="DestinationRule")
    got = old.get(name="hello", namespace=ns)
    assert got.apiVersion == "networking.istio.io/v1alpha3" and got.spec.host.startswith("helloworld")
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    assert pods.namespaced and "po" in pods.short_names
    deploys = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert [d.metadata.name for d in deploys.get(namespace=ns).items] == []


def test_deployment_scale_subresource(env, ns):
    apps = client.AppsV1Api(env.api())
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="sc"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "sc"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "sc"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="x:1")]),
            ),
        ),
    )
    made = apps.create_namespaced_deployment(ns, dep)
    assert made.spec.strategy.type == "RollingUpdate" and made.spec.revision_history_limit == 10
    scale = apps.patch_namespaced_deployment_scale("sc", ns, {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3 and scale.status.selector == "app=sc"
    again = apps.read_namespaced_deployment("sc", ns)
    assert again.spec.replicas == 3 and again.metadata.generation == 2


def test_unknown_paths_and_methods(env):
    code, body = env.json("GET", "/api/v1/widgets")
    assert code == 404 and body["reason"] == "NotFound"
    code, body = env.json("DELETE", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/x")
    assert code == 405 and body["reason"] == "MethodNotAllowed"


def test_server_side_apply_creates_then_merges(env, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps/ssa?fieldManager=test"
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    code, made = env.json("PATCH", path, body=body, headers=headers)
    assert code == 201 and made["data"] == {"a": "1"}
    code, again = env.json("PATCH", path, body=body.replace(b"a: '1'", b"b: '2'"), headers=headers)
    assert code == 200 and again["data"] == {"a": "1", "b": "2"}


def test_dry_run_delete_keeps_the_object(core, ns):
    core.create_namespaced_config_map(ns, _cm("keep"))
    core.delete_namespaced_config_map("keep", ns, dry_run="All")
    assert core.read_namespaced_config_map("keep", ns).metadata.name == "keep"
