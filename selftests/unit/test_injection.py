"""The namespace's injection label follows what the revision's webhook selects.

Data: the namespaceSelector/objectSelector of each webhook as istio-discovery
templates/mutatingwebhook.yaml renders it (istio/istio at the tag named), with the chart's default
values (objectSelector.enabled: false before 1.10, so the apiserver stores `{}`; 1.9.x keeps
useLegacySelectors: true).
"""

from __future__ import annotations

import pytest

from meshconform.mesh import injection
from meshconform.mesh.facts import Injector, Webhook

NOT_OFF = {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}


def _legacy(rev: str) -> list[Webhook]:
    """1.7.3 / 1.8.0 / 1.9.0: one webhook, `sidecar-injector.istio.io`."""
    if rev == "default":
        return [Webhook("sidecar-injector.istio.io", {"matchLabels": {"istio-injection": "enabled"}}, {})]
    ns = {
        "matchExpressions": [
            {"key": "istio-injection", "operator": "DoesNotExist"},
            {"key": "istio.io/rev", "operator": "In", "values": [rev]},
        ]
    }
    return [Webhook("sidecar-injector.istio.io", ns, {})]


def _current(rev: str) -> list[Webhook]:
    """1.10.0 ... 1.28.5: rev.namespace and rev.object; the default revision adds namespace, object."""
    no_labels = [
        {"key": "istio.io/rev", "operator": "DoesNotExist"},
        {"key": "istio-injection", "operator": "DoesNotExist"},
    ]
    hooks = [
        Webhook(
            "rev.namespace.sidecar-injector.istio.io",
            {
                "matchExpressions": [
                    {"key": "istio.io/rev", "operator": "In", "values": [rev]},
                    {"key": "istio-injection", "operator": "DoesNotExist"},
                ]
            },
            {"matchExpressions": [NOT_OFF]},
        ),
        Webhook(
            "rev.object.sidecar-injector.istio.io",
            {"matchExpressions": no_labels},
            {"matchExpressions": [NOT_OFF, {"key": "istio.io/rev", "operator": "In", "values": [rev]}]},
        ),
    ]
    if rev == "default":
        hooks += [
            Webhook(
                "namespace.sidecar-injector.istio.io",
                {"matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]},
                {"matchExpressions": [NOT_OFF]},
            ),
            Webhook(
                "object.sidecar-injector.istio.io",
                {"matchExpressions": no_labels},
                {
                    "matchExpressions": [
                        {"key": "sidecar.istio.io/inject", "operator": "In", "values": ["true"]},
                        {"key": "istio.io/rev", "operator": "DoesNotExist"},
                    ]
                },
            ),
        ]
    return hooks


def _config(rev: str, hooks: list[Webhook]) -> Injector:
    name = "istio-sidecar-injector" + ("" if rev == "default" else f"-{rev}")
    return Injector(name, rev, hooks)


@pytest.mark.parametrize(
    ("rev", "hooks", "want"),
    [
        ("default", _legacy("default"), {"istio-injection": "enabled"}),  # 1.7.3 ... 1.9.x
        ("asm-173-3", _legacy("asm-173-3"), {"istio.io/rev": "asm-173-3"}),
        ("default", _current("default"), {"istio.io/rev": "default"}),  # 1.10.0 ... 1.28.5
        ("asm-1285-9", _current("asm-1285-9"), {"istio.io/rev": "asm-1285-9"}),
    ],
)
def test_the_label_is_what_the_revisions_webhook_selects(rev, hooks, want):
    chosen = injection.choose([_config(rev, hooks)], rev, "sample")
    assert chosen.labels == want
    assert ("the guide's label" in chosen.why) == ("istio.io/rev" in want), chosen.why


def test_a_pre_1_10_default_revision_says_why_the_guides_label_is_not_used():
    chosen = injection.choose([_config("default", _legacy("default"))], "default", "sample")
    start = "istio-injection=enabled: revision default's webhook istio-sidecar-injector/"
    assert chosen.why.startswith(start)
    assert "before Istio 1.10" in chosen.why and "istio.io/rev=default would not inject" in chosen.why


def test_another_revisions_webhook_does_not_decide():
    """A pre-1.10 default revision beside the canary under test: the canary's label, not the default's."""
    both = [_config("default", _legacy("default")), _config("asm-181-5", _legacy("asm-181-5"))]
    assert injection.choose(both, "asm-181-5", "sample").labels == {"istio.io/rev": "asm-181-5"}
    assert injection.choose(both, "default", "sample").labels == {"istio-injection": "enabled"}


def test_without_a_selecting_webhook_the_guides_label_stays_and_says_so():
    chosen = injection.choose([], "asm-1285-9", "sample")
    assert chosen.labels == {"istio.io/rev": "asm-1285-9"} and "has no injector" in chosen.why
    off = [Webhook("sidecar-injector.istio.io", {"matchLabels": {"team": "mesh"}}, {})]
    chosen = injection.choose([_config("default", off)], "default", "sample")
    assert chosen.labels == {"istio.io/rev": "default"} and "selects either label" in chosen.why
