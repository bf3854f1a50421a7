"""Each cluster's revision: named (a revision or a revision tag, for all clusters or one), else the
one it runs; a tag resolves through its webhook's istio.io/rev label, cluster by cluster.

The tag webhooks are shaped as `istioctl tag set TAG --revision REV` makes them (istio/istio
istioctl/pkg/tag/generate.go and util.go; labels istio.io/tag=TAG, istio.io/rev=REV).
"""

from __future__ import annotations

import pytest

from meshconform.checks import judge
from meshconform.checks.cluster import revision_installed
from meshconform.checks.support import control_planes_close
from meshconform.mesh import injection
from meshconform.mesh import revision_choice as rc
from meshconform.mesh.facts import ClusterFacts, ControlPlane, Injector, IstiodPod, MeshFacts, Webhook
from meshconform.run import config as mc

OLD, NEW = "asm-1285-9", "asm-1295-1"
TAG = "prod-stable"


def _selects(value: str) -> list[Webhook]:
    ns = {"matchExpressions": [
        {"key": "istio.io/rev", "operator": "In", "values": [value]},
        {"key": "istio-injection", "operator": "DoesNotExist"},
    ]}
    return [Webhook("rev.namespace.sidecar-injector.istio.io", ns, {})]


def _hooks(tags: dict[str, str], *revs: str) -> list[Injector]:
    canonical = [Injector(f"istio-sidecar-injector-{r}", r, _selects(r)) for r in revs]
    tagged = [Injector(f"istio-revision-tag-{t}", r, _selects(t), tag=t) for t, r in tags.items()]
    return canonical + tagged


def test_a_tag_resolves_to_its_webhooks_revision() -> None:
    tags = rc.tags_of(_hooks({TAG: NEW}, OLD, NEW))
    assert tags == {TAG: [NEW]}
    assert rc.choose("c1", "ctx1", TAG, [OLD, NEW], tags) == rc.Choice(NEW, TAG)


def test_a_revision_of_that_name_wins_over_a_tag() -> None:
    tags = {"default": [NEW]}
    assert rc.choose("c1", "ctx1", "default", ["default", NEW], tags) == rc.Choice("default")


def test_a_name_that_is_neither_is_kept_for_the_check_to_refuse() -> None:
    assert rc.choose("c1", "ctx1", "asm-999", [OLD], {}) == rc.Choice("asm-999")


def test_a_tag_with_webhooks_for_two_revisions_is_a_problem_that_names_them() -> None:
    tags = rc.tags_of([*_hooks({TAG: OLD}, OLD), Injector("extra", NEW, _selects(TAG), tag=TAG)])
    choice = rc.choose("c1", "ctx1", TAG, [OLD, NEW], tags)
    assert choice.revision is None and choice.problem is not None
    assert f"{OLD}, {NEW}" in choice.problem and "istio.io/tag=prod-stable" in choice.problem


def test_discovered_per_cluster_and_ambiguous_only_where_several_run() -> None:
    assert rc.choose("c1", "ctx1", None, [NEW], {}) == rc.Choice(NEW)
    several = rc.choose("c1", "ctx1", None, [OLD, NEW], {})
    assert several.revision is None and several.problem is not None
    assert f"{OLD}, {NEW}" in several.problem and "--revision ctx1=REV" in several.problem


def _mesh(*per_cluster: tuple[str, str | None, str]) -> MeshFacts:
    """Clusters as (revision judged, tag, istiod version)."""
    facts = MeshFacts(run_id="r1", namespace="sample")
    for i, (rev, tag, version) in enumerate(per_cluster, 1):
        pod = IstiodPod(f"istiod-{rev}-x", rev, True, "Running", f"pilot:{version}", version)
        hooks = _hooks({tag: rev} if tag else {}, rev)
        control = ControlPlane(istiod=[pod], revisions=[rev], injectors=hooks)
        name = f"cluster-{i}"
        facts.clusters[name] = ClusterFacts(
            name, f"ctx{i}", "https://x", control=control, revision=rev, tag=tag
        )
    facts.revision = rc.common(facts)
    return facts


def test_a_tag_moved_in_one_cluster_is_named_as_a_rollout() -> None:
    facts = _mesh((NEW, TAG, "1.29.5-asm.1"), (OLD, TAG, "1.28.5-asm.9"))
    assert facts.revision is None
    assert rc.split_tags(facts) == {TAG: {"cluster-1": NEW, "cluster-2": OLD}}
    line = rc.described(facts)
    assert f"cluster-1: {TAG} -> {NEW}, cluster-2: {TAG} -> {OLD}" in line
    assert "a rollout in progress" in line
    same = _mesh((OLD, TAG, "1.28.5-asm.9"), (OLD, TAG, "1.28.5-asm.9"))
    assert rc.described(same) == f"{TAG} -> {OLD}" and not rc.split_tags(same)


def test_each_cluster_is_judged_against_its_own_revision_one_minor_apart() -> None:
    facts = _mesh((NEW, None, "1.29.5-asm.1"), (OLD, None, "1.28.5-asm.9"))
    assert judge(facts, revision_installed, "cluster-2").status == "passed"


def test_control_planes_more_than_one_minor_apart_fail_the_skew_check_not_the_revision_one() -> None:
    facts = _mesh((NEW, None, "1.29.5-asm.1"), ("asm-1275-3", None, "1.27.5-asm.3"))
    assert judge(facts, revision_installed, "cluster-2").status == "passed"
    outcome = judge(facts, control_planes_close, "cluster-2")
    assert outcome.status == "failed"
    assert "cluster-2's control plane (istiod 1.27.5-asm.3, revision asm-1275-3)" in outcome.message
    assert "cluster-1 (istiod 1.29.5-asm.1)" in outcome.message and "--revision ctx2=REV" in outcome.message


def test_a_tag_pointing_at_a_revision_without_istiod_says_how_to_move_it() -> None:
    facts = _mesh((OLD, TAG, "1.28.5-asm.9"), (OLD, TAG, "1.28.5-asm.9"))
    control = facts.clusters["cluster-2"].control
    assert control is not None
    control.revisions, control.istiod = ["asm-1275-3"], []
    message = judge(facts, revision_installed, "cluster-2").message
    assert f"revision tag {TAG} in cluster-2 points at revision {OLD}, which has no istiod" in message
    assert f"istioctl tag set {TAG} --revision REV --overwrite --context ctx2" in message


def test_the_namespace_is_labelled_with_the_tag_its_webhook_selects() -> None:
    chosen = injection.choose(_hooks({TAG: NEW}, OLD, NEW), NEW, "sample", TAG)
    assert chosen.labels == {"istio.io/rev": TAG}
    assert "istio-revision-tag-prod-stable/" in chosen.why


@pytest.mark.parametrize(
    ("given", "single", "own"),
    [
        ([OLD], OLD, {}),
        ([("ctx2", NEW)], None, {"ctx2": NEW}),
        ([OLD, ("cluster-1", NEW)], OLD, {"cluster-1": NEW}),
    ],
)
def test_revision_options_single_and_per_cluster(
    given: list[str | tuple[str, str]], single: str | None, own: dict[str, str]
) -> None:
    assert mc.resolve_revisions(given, ["ctx1", "ctx2"], ["cluster-1", "cluster-2"]) == (single, own)


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ([OLD, NEW], "--revision is given twice"),
        ([("ctx9", NEW)], "'ctx9' is neither a context nor a cluster name"),
        ([("ctx1", NEW), ("cluster-1", OLD)], "for cluster-1 twice"),
    ],
)
def test_revision_options_refused_in_one_line(given: list[str | tuple[str, str]], fragment: str) -> None:
    with pytest.raises(mc.ConfigError, match=fragment):
        mc.resolve_revisions(given, ["ctx1", "ctx2"], ["cluster-1", "cluster-2"])


def test_revision_values_parse_as_revision_or_context_assignment() -> None:
    assert mc.parse_revision("--revision", TAG) == TAG
    assert mc.parse_revision("--revision", f"gke_p_z_c1={NEW}") == ("gke_p_z_c1", NEW)
    with pytest.raises(mc.ConfigError, match="is not a revision name"):
        mc.parse_revision("--revision", "ctx=Bad_Rev")
    with pytest.raises(mc.ConfigError, match="REV or CONTEXT=REV"):
        mc.parse_revision("--revision", f"={NEW}")
    names = ("cluster-1", "cluster-2")
    cfg = mc.RunConfig(("ctx1", "ctx2"), names, revision=OLD, cluster_revisions={"ctx2": NEW})
    assert [cfg.revision_for(n) for n in cfg.cluster_names] == [OLD, NEW]
