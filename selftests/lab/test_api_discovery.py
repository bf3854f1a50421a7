"""Discovery documents, Table output for kubectl get, and /openapi/v2 (JSON and protobuf)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from labapi_support import Running, lab_fixture

TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
    "application/json"
)


env = lab_fixture(clusters=1)


def test_version(env):
    code, body = env.json("GET", "/version")
    assert code == 200 and body["major"] == "1" and body["gitVersion"].startswith("v1.")
    assert client.VersionApi(env.api()).get_code().platform == "linux/amd64"


def test_core_and_group_discovery(env):
    assert env.json("GET", "/api")[1]["versions"] == ["v1"]
    groups = {g["name"]: g for g in env.json("GET", "/apis")[1]["groups"]}
    assert {
        "apps",
        "rbac.authorization.k8s.io",
        "admissionregistration.k8s.io",
        "authorization.k8s.io",
        "authentication.k8s.io",
        "discovery.k8s.io",
        "networking.istio.io",
    } <= set(groups)
    assert groups["networking.istio.io"]["preferredVersion"]["version"] == "v1beta1"
    assert [v["version"] for v in groups["networking.istio.io"]["versions"]] == ["v1beta1", "v1alpha3"]
    assert env.json("GET", "/apis/apps")[1]["kind"] == "APIGroup"
    assert env.json("GET", "/apis/nope")[0] == 404


def test_resource_lists_have_real_shapes(env):
    core = {r["name"]: r for r in env.json("GET", "/api/v1")[1]["resources"]}
    assert core["pods"] == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["po"],
        "categories": ["all"],
    }
    assert core["pods/exec"]["kind"] == "PodExecOptions" and core["pods/exec"]["verbs"] == ["create", "get"]
    assert core["serviceaccounts/token"] == {
        "name": "serviceaccounts/token",
        "singularName": "",
        "namespaced": True,
        "kind": "TokenRequest",
        "verbs": ["create"],
        "group": "authentication.k8s.io",
        "version": "v1",
    }
    assert core["namespaces"]["namespaced"] is False and "deletecollection" not in core["namespaces"]["verbs"]
    apps = env.json("GET", "/apis/apps/v1")[1]
    assert apps["groupVersion"] == "apps/v1" and apps["kind"] == "APIResourceList"
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")


def _table(env: Running, path: str) -> dict:
    code, body = env.json("GET", path, headers={"Accept": TABLE})
    assert code == 200 and body["kind"] == "Table" and body["apiVersion"] == "meta.k8s.io/v1"
    return body


def test_pod_table(env):
    core = client.CoreV1Api(env.api())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="tbl")))
    core.create_namespaced_pod(
        "tbl",
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="p", labels={"a": "b"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="x:1")]),
        ),
    )
    table = _table(env, "/api/v1/namespaces/tbl/pods")
    cols = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert cols == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    row = table["rows"][0]
    assert row["cells"][0] == "p" and row["cells"][1] in ("0/1", "1/1") and len(row["cells"]) == 9
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["object"]["metadata"]["labels"] == {
        "a": "b"
    }
    full = _table(env, "/api/v1/namespaces/tbl/pods?includeObject=Object")["rows"][0]["object"]
    assert full["kind"] == "Pod" and full["spec"]["containers"][0]["name"] == "c"
    assert "object" not in _table(env, "/api/v1/namespaces/tbl/pods?includeObject=None")["rows"][0]
    one = _table(env, "/api/v1/namespaces/tbl/pods/p")
    assert len(one["rows"]) == 1


@pytest.mark.parametrize(
    ("path", "columns"),
    [
        (
            "/apis/apps/v1/deployments",
            ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"],
        ),
        ("/api/v1/services", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]),
        ("/api/v1/namespaces", ["Name", "Status", "Age"]),
        ("/api/v1/secrets", ["Name", "Type", "Data", "Age"]),
        ("/apis/networking.istio.io/v1beta1/destinationrules", ["Name", "Host", "Age"]),
    ],
)
def test_table_columns(env, path, columns):
    assert [c["name"] for c in _table(env, path)["columnDefinitions"]] == columns


def test_namespace_rows(env):
    rows = {r["cells"][0]: r["cells"] for r in _table(env, "/api/v1/namespaces")["rows"]}
    assert rows["default"][1] == "Active" and rows["default"][2].endswith(("s", "m"))


def test_openapi_json_and_protobuf(env):
    code, doc = env.json("GET", "/openapi/v2")
    assert code == 200 and doc["swagger"] == "2.0"
    dr = doc["definitions"]["io.istio.networking.v1beta1.DestinationRule"]
    assert dr["x-kubernetes-group-version-kind"] == [
        {"group": "networking.istio.io", "kind": "DestinationRule", "version": "v1beta1"}
    ]
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["parameters"][0]["name"] == "dryRun"
    code, headers, raw = env.raw(
        "GET", "/openapi/v2", headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}
    )
    assert code == 200 and headers["Content-Type"] == "application/octet-stream"
    fields = dict(_fields(raw))
    assert fields[1] == b"2.0"
    assert b"io.istio.networking.v1beta1.DestinationRule" in fields[9]
    assert json.dumps(doc)  # serialisable as served


def _fields(raw: bytes):
    """Top-level length-delimited protobuf fields: (number, payload)."""
    i = 0
    while i < len(raw):
        key, i = _varint(raw, i)
        assert key & 7 == 2
        size, i = _varint(raw, i)
        yield key >> 3, raw[i : i + size]
        i += size


def _varint(raw: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = raw[i]
        n |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return n, i
        shift += 7
