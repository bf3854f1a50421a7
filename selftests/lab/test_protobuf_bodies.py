"""The lab's protobuf body decoder (meshconform/lab/apiserver/protobuf.py), from bytes built by hand.

The encoder below writes the wire format from the .proto field numbers (k8s.io/api core/v1 and
apps/v1 generated.proto, apimachinery meta/v1 and runtime generated.proto), independently of the
decoder's tables; two bodies are kubectl v1.32.4's own, copied from its `-v=9` request log. The
HTTP cases check what a real apiserver answers: 201 for a good body, 400 for a broken one, 415
for a kind the lab has no table for.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from support import LAB_DIR, LabEnv

from meshconform.lab import Lab
from meshconform.lab.apiserver.protobuf import (
    MAGIC,
    ProtobufError,
    UnknownKind,
    decode_body,
    decode_message,
    fields,
)

PB = "application/vnd.kubernetes.protobuf"


# -- a minimal encoder ------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negatives as 64-bit two's complement, as Go writes int32/int64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def num(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def ld(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(field << 3 | 2) + varint(len(data)) + data


def entry(field: int, key: str, value: bytes | str) -> bytes:
    return ld(field, ld(1, key) + ld(2, value))


def envelope(api_version: str, kind: str, raw: bytes, encoding: str = "") -> bytes:
    unknown = ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw) + ld(3, encoding) + ld(4, "")
    return MAGIC + unknown


def meta(name: str, **labels: str) -> bytes:
    # ObjectMeta as gogo writes it: every plain field, empty or not; Time {} for creationTimestamp
    out = ld(1, name) + ld(2, "") + ld(3, "") + ld(4, "") + ld(5, "") + ld(6, "") + num(7, 0) + ld(8, b"")
    return out + b"".join(entry(11, k, v) for k, v in labels.items())


# kubectl v1.32.4 `create namespace sample` and `create secret generic s1 --from-literal=a=b`
KUBECTL_NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a0276311209 4e616d657370616365121e0a160a0673616d706c6512001a0022002a003200"
    "3800420012001a020a001a002200".replace(" ", "")
)
KUBECTL_SECRET = bytes.fromhex(
    "6b3873000a0c0a02763112065365637265 74121e0a120a02733112001a0022002a0032003800420012060a01"
    "611201621a001a002200".replace(" ", "")
)


# -- the decoder ------------------------------------------------------------------------------------


def test_kubectl_namespace_body():
    assert decode_body(KUBECTL_NAMESPACE) == {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": "sample"},
        "spec": {},
        "status": {},
    }


def test_kubectl_secret_body_data_is_base64():
    got = decode_body(KUBECTL_SECRET)
    assert got["metadata"] == {"name": "s1"} and got["data"] == {"a": base64.b64encode(b"b").decode()}
    assert "type" not in got  # "" is omitted, as kubectl's JSON omits it


def test_deployment_with_template_ports_env_resources_and_strategy():
    port = ld(6, ld(1, "http") + num(2, 0) + num(3, 8080) + ld(4, "TCP") + ld(5, ""))
    env = ld(7, ld(1, "A") + ld(2, "1")) + ld(7, ld(1, "B") + ld(3, ld(4, ld(1, ld(1, "s")) + ld(2, "k"))))
    limits = entry(1, "cpu", ld(1, "500m")) + entry(2, "memory", ld(1, "64Mi"))
    container = ld(1, "app") + ld(2, "img:1") + ld(3, "sh") + ld(3, "-c") + port + env + ld(8, limits)
    container += ld(14, "") + num(16, 0)  # empty imagePullPolicy, stdin false: omitted
    pod = ld(1, meta("", app="d")) + ld(2, ld(2, container) + ld(3, "") + num(4, 30))
    surge = ld(1, num(1, 1) + num(2, 0) + ld(3, "25%"))
    spec = num(1, 0) + ld(2, entry(1, "app", "d")) + ld(3, pod) + ld(4, ld(1, "RollingUpdate") + ld(2, surge))
    got = decode_body(envelope("apps/v1", "Deployment", ld(1, meta("d")) + ld(2, spec) + ld(3, num(2, 0))))
    assert got["spec"]["replicas"] == 0  # a pointer field: an explicit zero is kept
    assert got["spec"]["selector"] == {"matchLabels": {"app": "d"}}
    assert got["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}}
    tmpl = got["spec"]["template"]
    assert (
        tmpl["metadata"] == {"labels": {"app": "d"}} and tmpl["spec"]["terminationGracePeriodSeconds"] == 30
    )
    (c,) = tmpl["spec"]["containers"]
    assert c == {
        "name": "app",
        "image": "img:1",
        "command": ["sh", "-c"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
    }
    assert got["status"] == {}


def test_time_int_or_string_negative_numbers_and_repeated_strings():
    created = ld(8, num(1, 1700000000) + num(2, 5))
    got = decode_message("ObjectMeta", ld(1, "x") + created + num(10, -1))
    assert got == {"name": "x", "creationTimestamp": "2023-11-14T22:13:20Z", "deletionGracePeriodSeconds": -1}
    svc_port = ld(1, "") + num(3, 80) + ld(4, num(1, 0) + num(2, 8080))
    assert decode_message("ServicePort", svc_port) == {"port": 80, "targetPort": 8080}
    named = ld(4, num(1, 1) + ld(3, "http"))
    assert decode_message("ServicePort", named) == {"targetPort": "http"}
    spec = ld(1, "aud-1") + ld(1, "aud-2") + num(4, 1200) + ld(3, ld(1, "Pod") + ld(3, "p"))
    assert decode_message("TokenRequestSpec", spec) == {
        "audiences": ["aud-1", "aud-2"],
        "expirationSeconds": 1200,
        "boundObjectRef": {"kind": "Pod", "name": "p"},
    }


def test_unknown_fields_of_every_wire_type_are_skipped():
    fixed64 = varint(40 << 3 | 1) + (7).to_bytes(8, "little")
    fixed32 = varint(41 << 3 | 5) + (7).to_bytes(4, "little")
    body = ld(1, "n") + num(39, 5) + ld(38, "future field") + fixed64 + fixed32 + ld(2, "gen-")
    assert decode_message("ObjectMeta", body) == {"name": "n", "generateName": "gen-"}
    assert [n for n, _, _ in fields(fixed64 + fixed32)] == [40, 41]


def test_repeated_empty_strings_and_map_entries_without_value_are_kept():
    rule = ld(1, "get") + ld(2, "") + ld(3, "pods")
    assert decode_message("PolicyRule", rule) == {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
    assert decode_message("ConfigMap", ld(2, ld(1, "empty"))) == {"data": {"empty": ""}}


def test_access_review_and_delete_options():
    attrs = ld(1, "default") + ld(2, "list") + ld(3, "") + ld(4, "") + ld(5, "pods") + ld(6, "") + ld(7, "")
    body = ld(1, meta("")) + ld(2, ld(1, attrs)) + ld(3, num(1, 0) + ld(2, ""))
    got = decode_body(envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", body))
    assert got["spec"] == {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}}
    opts = num(1, 0) + ld(2, ld(1, "uid-1")) + ld(4, "Foreground") + ld(5, "All")
    assert decode_body(envelope("v1", "DeleteOptions", opts)) == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "uid-1"},
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"kind": "Namespace"}', "expected prefix [107, 56, 115, 0]"),
        (envelope("v1", "Namespace", b"\x0a\x05ab"), "runs past the end"),
        (MAGIC + ld(2, b""), "Kind' is missing"),
        (MAGIC + b"\x0a", "truncated"),
        (envelope("v1", "Namespace", ld(1, ld(1, b"\xff\xfe"))), "not valid UTF-8"),
        (envelope("v1", "Namespace", num(1, 3)), "expected a length-delimited value"),
        (MAGIC + varint(1 << 3 | 3), "unsupported wire type 3"),
    ],
)
def test_malformed_bodies_raise(body, message):
    with pytest.raises(ProtobufError, match=message.replace("[", r"\[").replace("]", r"\]")):
        decode_body(body)


def test_kinds_without_a_table_and_encoded_bodies_are_unknown():
    with pytest.raises(UnknownKind, match='not "CronJob"'):
        decode_body(envelope("batch/v1", "CronJob", b""))
    with pytest.raises(UnknownKind, match="contentEncoding"):
        decode_body(envelope("v1", "Namespace", b"", encoding="gzip"))


# -- over HTTPS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with LabEnv.start(tmp_path_factory.mktemp(LAB_DIR), clusters=1, ready_delay=0.05) as env:
        yield env.lab


def post(lab: Lab, path: str, body: bytes, ctype: str = PB) -> tuple[int, dict]:
    c = next(iter(lab.clusters.values()))
    ctx = ssl.create_default_context(cadata=c.ca_pem.decode())
    hdrs = {
        "Content-Type": ctype,
        "Accept": f"{PB},application/json",
        "Authorization": f"Bearer {c.admin_token}",
    }
    req = urllib.request.Request(c.server_url + path, data=body, method="POST", headers=hdrs)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("application/json")
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_http_create_from_protobuf(lab):
    code, made = post(lab, "/api/v1/namespaces", envelope("v1", "Namespace", ld(1, meta("pb-ns", a="b"))))
    assert code == 201, made
    assert made["metadata"]["name"] == "pb-ns" and made["metadata"]["labels"] == {"a": "b"}
    cm = ld(1, meta("pb-cm")) + entry(2, "k", "v") + entry(3, "bin", b"\x00\x01")
    code, made = post(lab, "/api/v1/namespaces/pb-ns/configmaps", envelope("v1", "ConfigMap", cm))
    assert code == 201 and made["data"] == {"k": "v"} and made["binaryData"] == {"bin": "AAE="}


def test_http_errors_are_status_objects(lab):
    code, status = post(lab, "/api/v1/namespaces", MAGIC + b"\x0a\x7f")
    assert (code, status["reason"]) == (400, "BadRequest")
    code, status = post(lab, "/api/v1/namespaces", envelope("batch/v1", "CronJob", b""))
    assert (code, status["reason"]) == (415, "UnsupportedMediaType") and "application/json" in status[
        "message"
    ]
    code, status = post(lab, "/api/v1/namespaces", b"x", ctype="application/x-protobuf")
    assert code == 415 and "application/vnd.kubernetes.protobuf" in status["message"]
