"""Label selectors: kubectl -l filtering of manifests, and webhook LabelSelector evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshconform.kube import selectors
from meshconform.mesh import samples

HELLO = samples.load_manifest(Path("/work/shared/upstream-samples/samples/helloworld/helloworld.yaml"))


def names(objs):
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objs]


def test_select_like_kubectl():
    assert names(selectors.select(HELLO, "service=helloworld")) == ["Service/helloworld"]
    assert names(selectors.select(HELLO, "app=helloworld,version=v2")) == ["Deployment/helloworld-v2"]
    assert names(selectors.select(HELLO, "version in (v1, v2)")) == [
        "Deployment/helloworld-v1",
        "Deployment/helloworld-v2",
    ]
    assert names(selectors.select(HELLO, "app=helloworld,!version")) == ["Service/helloworld"]
    assert names(selectors.select(HELLO, "version!=v1,app")) == [
        "Service/helloworld",
        "Deployment/helloworld-v2",
    ]
    assert len(selectors.select(HELLO, "")) == 3


def test_bad_selector_is_refused():
    with pytest.raises(selectors.SelectorError):
        selectors.parse("a in b c")


# Istio's revisioned injector (manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml)
REV_NS_SELECTOR = {
    "matchExpressions": [
        {"key": "istio.io/rev", "operator": "In", "values": ["asm-173-3"]},
        {"key": "istio-injection", "operator": "DoesNotExist"},
    ]
}
OBJ_SELECTOR = {
    "matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]
}


def test_injector_selector_matches_the_guides_namespace():
    labels = {"istio.io/rev": "asm-173-3", "kubernetes.io/metadata.name": "sample"}
    assert selectors.explain_mismatch(REV_NS_SELECTOR, labels) is None
    assert selectors.explain_mismatch(OBJ_SELECTOR, {"app": "helloworld"}) is None


def test_injector_selector_explains_mismatch():
    assert (
        selectors.explain_mismatch(REV_NS_SELECTOR, {"istio.io/rev": "asm-181-5"}) == "istio.io/rev=asm-173-3"
    )
    both = {"istio.io/rev": "asm-173-3", "istio-injection": "enabled"}
    assert selectors.explain_mismatch(REV_NS_SELECTOR, both) == "!istio-injection"
    assert selectors.explain_mismatch({"matchLabels": {"a": "b"}}, {}) == "a=b"
    assert selectors.explain_mismatch(None, {}) is None
