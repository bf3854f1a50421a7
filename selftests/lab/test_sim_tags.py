"""Revision tags and per-cluster revisions in the lab, read through the official client.

A tag is what `istioctl tag set TAG --revision REV` applies (istio/istio istioctl/pkg/tag/
generate.go: the istio-discovery chart's revision-tags template): MutatingWebhookConfiguration
`istio-revision-tag-TAG`, labelled istio.io/tag=TAG and istio.io/rev=REV, selecting namespaces
labelled istio.io/rev=TAG and calling istiod-REV. A pod in such a namespace is injected by REV. A
fleet mid-upgrade runs another revision in each cluster (`cluster_revisions`), and the tag names a
different revision in the cluster it was moved in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from support import LabEnv, eventually

from meshconform.lab import Lab, LabConfigError, LabOptions
from meshconform.lab.__main__ import _revisions

OLD, NEW, TAG = "asm-1285-9", "asm-1295-1", "prod-stable"
TAG_SELECTOR = f"istio.io/tag={TAG}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    """cluster-1 upgraded (NEW beside OLD, the tag moved to NEW), cluster-2 still on OLD."""
    options = {
        "cluster_revisions": (("cluster-1", (NEW, OLD)), ("cluster-2", (OLD,))),
        "tags": ((TAG, OLD, None), (TAG, NEW, "cluster-1")),
    }
    with LabEnv.start(tmp_path_factory.mktemp("tags"), **options) as lab_env:
        yield lab_env


def _admission(env: LabEnv, i: int) -> client.AdmissionregistrationV1Api:
    return client.AdmissionregistrationV1Api(env.api(i))


def test_each_cluster_runs_its_own_revisions(env: LabEnv) -> None:
    for i, want in enumerate(({NEW, OLD}, {OLD})):
        deps = env.apps(i).list_namespaced_deployment("istio-system", label_selector="app=istiod").items
        assert {d.metadata.labels["istio.io/rev"] for d in deps} == want


def test_the_tag_webhook_is_shaped_as_istioctl_tag_set_makes_it(env: LabEnv) -> None:
    for i, rev in enumerate((NEW, OLD)):
        (hook,) = _admission(env, i).list_mutating_webhook_configuration(label_selector=TAG_SELECTOR).items
        assert hook.metadata.name == f"istio-revision-tag-{TAG}"
        labels = hook.metadata.labels
        assert labels["istio.io/rev"] == rev and labels["app"] == "sidecar-injector"
        names = [w.name for w in hook.webhooks]
        assert names == ["rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io"]
        ns = hook.webhooks[0].namespace_selector.match_expressions[0]
        assert (ns.key, ns.operator, ns.values) == ("istio.io/rev", "In", [TAG])
        assert hook.webhooks[0].client_config.service.name == f"istiod-{rev}"
    # the revision's own webhook is the one without the tag label (util.go GetWebhooksWithRevision)
    own = _admission(env, 0).list_mutating_webhook_configuration(
        label_selector=f"istio.io/rev={NEW},!istio.io/tag"
    ).items
    assert [h.metadata.name for h in own] == [f"istio-sidecar-injector-{NEW}"]


def test_a_pod_in_a_namespace_labelled_with_the_tag_is_injected_by_its_revision(env: LabEnv) -> None:
    for i, rev in enumerate((NEW, OLD)):
        core = env.core(i)
        core.create_namespace({"metadata": {"name": "tagged", "labels": {"istio.io/rev": TAG}}})
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}}
        made = core.create_namespaced_pod("tagged", pod)
        status = yaml.safe_load(made.metadata.annotations["sidecar.istio.io/status"])
        assert status["revision"] == rev, status
        eventually(lambda core=core: core.read_namespaced_pod("p", "tagged").status.phase == "Running", 10,
                   f"pod tagged/p never ran in cluster {i + 1}")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"tags": ((TAG, "asm-999", None),)}, "no cluster there runs revision asm-999"),
        ({"tags": ((OLD, OLD, None),)}, "a revision has that name"),
        ({"revisions": ("asm-173-3",), "tags": ((TAG, "asm-173-3", None),)}, "came with Istio 1.10"),
        ({"revisions": (OLD, NEW), "tags": ((TAG, OLD, None), (TAG, NEW, None))}, "one tag names two"),
        ({"cluster_revisions": (("cluster-9", (NEW,)),)}, "no such cluster"),
        ({"tags": ((TAG, NEW, "cluster-2"),)}, "no cluster there runs revision"),
        ({"tags": ((TAG, OLD, None),), "faults": ("tag-relabelled:cluster-2",)}, "needs two revisions"),
    ],
)
def test_lab_refuses_tags_istioctl_would_refuse(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(LabConfigError, match=fragment):
        Lab(LabOptions(**options))  # type: ignore[arg-type]


def test_serve_takes_per_cluster_revisions_beside_the_all_clusters_form(tmp_path: Path) -> None:
    every, own = _revisions([f"{OLD}", f"cluster-1={NEW},{OLD}"])
    assert every == (OLD,) and own == (("cluster-1", (NEW, OLD)),)
    assert _revisions([]) == (("asm-1285-9",), ())
    with pytest.raises(LabConfigError, match="CLUSTER=REV"):
        _revisions([f"={NEW}"])


def test_a_running_cluster_takes_a_revision_and_a_moved_tag(tmp_path: Path) -> None:
    """Lab.install_revision and Lab.set_tag do what istioctl install --set revision and istioctl tag
    set --overwrite do: a new istiod beside the old one, the tag's webhook calling it, pods created
    afterwards in the tag's namespace injected by it; what istioctl refuses is refused."""
    with LabEnv.start(tmp_path, clusters=1, tags=((TAG, OLD, None),)) as one:
        one.lab.install_revision("cluster-1", NEW)
        core = one.core()

        def serving() -> bool:  # the webhook calls istiod through its Service's ready endpoints
            try:
                subsets = core.read_namespaced_endpoints(f"istiod-{NEW}", "istio-system").subsets or []
            except client.ApiException as exc:
                if exc.status == 404:  # the endpoints controller has not made it yet
                    return False
                raise
            return any(sub.addresses for sub in subsets)

        eventually(serving, 20, f"istiod-{NEW} has no ready endpoint")
        one.lab.set_tag("cluster-1", TAG, NEW)
        (hook,) = _admission(one, 0).list_mutating_webhook_configuration(label_selector=TAG_SELECTOR).items
        assert hook.metadata.labels["istio.io/rev"] == NEW
        assert hook.webhooks[0].client_config.service.name == f"istiod-{NEW}"
        one.core().create_namespace({"metadata": {"name": "tagged", "labels": {"istio.io/rev": TAG}}})
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}}
        made = one.core().create_namespaced_pod("tagged", pod)
        assert yaml.safe_load(made.metadata.annotations["sidecar.istio.io/status"])["revision"] == NEW
        with pytest.raises(LabConfigError, match="already runs revision"):
            one.lab.install_revision("cluster-1", NEW)
        with pytest.raises(LabConfigError, match="cannot find MutatingWebhookConfiguration with revision"):
            one.lab.set_tag("cluster-1", TAG, "asm-999")
