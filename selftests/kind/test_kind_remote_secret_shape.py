"""istioctl's documented remote secret has the layout the suite checks, and our native one matches it.

``data/istioctl-remote-secret.yaml`` is copied from istio/istio's own test of
``istioctl create-remote-secret`` (see ``data/README.md``). Whatever ``--join-with istioctl`` gets
back must pass the suite's shape check, and ``--join-with native`` must build the same object:
label ``istio/multiCluster: "true"``, annotation ``networking.istio.io/cluster: NAME``, one
``stringData`` key NAME holding a kubeconfig whose cluster, context and user are all NAME.
"""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from meshconform.checks import join
from meshconform.mesh import remote_secrets, secret_inspection

DATA = Path(__file__).parent / "data" / "istioctl-remote-secret.yaml"
NAME = "primary"


def shape_problem(secret: dict[str, Any]) -> str | None:
    """The suite's shape verdict on `secret` as cluster-2's istio-system would hold it: what the
    inspection saw, judged (no network: the server it names is not the one expected)."""
    source = SimpleNamespace(name="cluster-1", server="https://not-asked")
    reached = secret_inspection.Reached()
    seen = secret_inspection.inspect(secret, None, reached, source, "https://not-asked", "sample")  # type: ignore[arg-type]
    return join.shape_problem(seen, "cluster-2")


@pytest.fixture
def documented():
    docs = [d for d in yaml.safe_load_all(DATA.read_text()) if d is not None]
    assert len(docs) == 1
    return docs[0]


def test_documented_secret_layout(documented):
    meta = documented["metadata"]
    assert (documented["apiVersion"], documented["kind"]) == ("v1", "Secret")
    assert meta["name"] == f"istio-remote-secret-{NAME}"
    assert meta["labels"] == {"istio/multiCluster": "true"}  # the string "true", as the selector wants
    assert meta["annotations"] == {"networking.istio.io/cluster": NAME}
    assert list(documented["stringData"]) == [NAME] and "data" not in documented


def test_documented_kubeconfig_layout(documented):
    kubeconfig = yaml.safe_load(documented["stringData"][NAME])
    assert kubeconfig["kind"] == "Config" and kubeconfig["current-context"] == NAME
    assert [c["name"] for c in kubeconfig["clusters"]] == [NAME]
    assert kubeconfig["contexts"] == [{"name": NAME, "context": {"cluster": NAME, "user": NAME}}]
    assert kubeconfig["users"] == [{"name": NAME, "user": {"token": "token"}}]
    cluster = kubeconfig["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"caData"
    assert cluster["server"] == "server"


def test_the_suite_accepts_the_documented_secret(documented):
    assert shape_problem(documented) is None
    assert secret_inspection.annotation(documented) == f"networking.istio.io/cluster: {NAME}"
    parsed = secret_inspection.parse_kubeconfig(documented["stringData"][NAME])
    assert (parsed["server"], parsed["ca"], parsed["token"], parsed["auth"]) == (
        "server",
        b"caData",
        "token",
        "token",
    )


def test_the_suite_rejects_a_secret_istiod_would_ignore(documented):
    unlabelled = {**documented, "metadata": {**documented["metadata"], "labels": {}}}
    assert "lacks label istio/multiCluster=true" in shape_problem(unlabelled)
    empty = {**documented, "stringData": {}}
    assert "has no data key" in shape_problem(empty)


def test_the_suite_accepts_what_istioctl_1_6_8_printed():
    """istioctl 1.6 annotated istio.io/clusterContext (the context), not networking.istio.io/cluster,
    and without --name named the cluster after kube-system's UID: istiod reads neither, nor do we."""
    text = (DATA.parent / "istioctl-1.6.8-remote-secret.yaml").read_text()
    (old,) = [d for d in yaml.safe_load_all(text) if d is not None]
    uid = "54643f96-eca0-11e9-bb97-42010a80000a"
    assert old["metadata"]["annotations"] == {"istio.io/clusterContext": "test-context"}
    assert old["metadata"]["name"] == f"istio-remote-secret-{uid}" and list(old["stringData"]) == [uid]
    assert shape_problem(old) is None
    assert secret_inspection.annotation(old) == "istio.io/clusterContext: test-context"
    parsed = secret_inspection.parse_kubeconfig(old["stringData"][uid])
    assert (parsed["server"], parsed["ca"], parsed["token"]) == ("server", b"caData", "token")


def test_native_secret_has_the_documented_shape(documented):
    native = remote_secrets.build_remote_secret(NAME, "server", b"caData", "token")
    assert native["apiVersion"] == documented["apiVersion"] and native["kind"] == documented["kind"]
    for key in ("name", "annotations", "labels"):
        assert native["metadata"][key] == documented["metadata"][key], key
    assert list(native["stringData"]) == list(documented["stringData"])
    ours, theirs = (yaml.safe_load(s["stringData"][NAME]) for s in (native, documented))
    # istioctl releases differ only in `preferences: {}` (printed by older client-go, e.g. the
    # 1.4-era test of the same function); it carries no data.
    ours.pop("preferences", None)
    theirs.pop("preferences", None)
    assert ours == theirs
