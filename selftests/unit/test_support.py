"""The support table and the pre-upgrade checks: both outcomes of each, and "cannot decide"."""

from __future__ import annotations

import pytest

from meshconform.checks import judge, settle
from meshconform.checks.cluster import istiod_ready, istiod_version
from meshconform.checks.support import control_planes_close, kubernetes_supported, proxies_within_skew
from meshconform.mesh import controlplane
from meshconform.mesh import support_table as st
from meshconform.mesh.facts import (
    ClusterFacts,
    Condition,
    ControlPlane,
    Injector,
    IstiodPod,
    ManagedControlPlane,
    MeshFacts,
    PodFact,
    Webhook,
    Workloads,
)
from meshconform.run import config as mc

CSM_128 = "1.28.5-asm.9"


def _cluster(i: int, version: str, kube: str = "v1.33.5-gke.10", proxy: str | None = None) -> ClusterFacts:
    rev = f"rev{i}"
    image, tag = f"gcr.io/gke-release/asm/pilot:{version}", version if version[0].isdigit() else None
    pod = IstiodPod(f"istiod-{rev}-x", rev, True, "Running", image, tag)
    proxy_image = f"gcr.io/gke-release/asm/proxyv2:{proxy or version}"
    name = f"helloworld-v{i}-7c8d9f6b5d-x2x9z"
    pods = [PodFact(name, "helloworld", f"v{i}", "Running", True, 2, 2, True, rev, proxy_image=proxy_image)]
    return ClusterFacts(
        f"cluster-{i}", f"ctx{i}", "https://x", server_version=kube, revision=rev,
        control=ControlPlane(istiod=[pod], revisions=[rev], injectors=[_injector(rev)]),
        workloads=Workloads("sample", namespace_labels={"istio.io/rev": rev}, pods=pods),
    )


def _injector(rev: str) -> Injector:
    selects = {"matchLabels": {"istio.io/rev": rev}}
    hook = Webhook("rev.namespace.sidecar-injector.istio.io", selects)
    return Injector(f"istio-sidecar-injector-{rev}", rev, [hook])


def _mesh(*clusters: ClusterFacts, target: str | None = None) -> MeshFacts:
    facts = MeshFacts(run_id="r1", namespace="sample", target_version=target)
    for c in clusters:
        facts.clusters[c.name] = c
    return facts


# -- the table -------------------------------------------------------------------------------------


def test_the_table_covers_istio_1_6_to_1_30_each_row_with_its_source_and_date() -> None:
    table = st.load()
    for minor in range(6, 31):
        row = table.release("istio", (1, minor))
        assert row is not None, f"Istio 1.{minor}"
        assert row.source.startswith("https://") and row.read == "2026-12-07"
    assert table.release("csm", (1, 28)) is not None
    assert table.skew.data_plane_behind == 1 and table.skew.control_planes_apart == 1


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ('minor = "1.x"\nkubernetes = ["1.30"]', "minor '1.x' is not MAJOR.MINOR"),
        ('minor = "1.28"\nkubernetes = []', "lists no supported Kubernetes version"),
        ('minor = "1.28"\nkubernetes = ["1.30"]\nsource = "http://x"', "source 'http://x' must start"),
        ('minor = "1.28"\nkubernetes = ["1.30"]\nsource = "https://x"\nread = "May 2026"', "YYYY-MM-DD"),
    ],
)
def test_a_malformed_row_is_refused_naming_the_row_and_field(row: str, said: str) -> None:
    skew = (
        '[version_skew]\ndata_plane_behind = 1\ncontrol_planes_apart = 1\nsource = "https://x"\n'
        'read = "2026-12-07"\n'
    )
    with pytest.raises(st.TableError, match="csm") as caught:
        st.parse(f"{skew}[[csm]]\n{row}\n")
    assert said in str(caught.value)


@pytest.mark.parametrize(
    ("tag", "revision", "release"),
    [
        ("1.7.3-asm.6", None, ("csm", "1.7.3-asm.6")),
        ("1.29.0", "asm-1285-9", ("istio", "1.29.0")),  # the image is what runs
        (None, "asm-173-3", ("csm", "1.7.3-asm.3")),
        (None, "asm-1287-3", ("csm", "1.28.7-asm.3")),
        (None, "asm-12810-1", ("csm", "1.28.10-asm.1")),
        ("sha256", "canary", None),
    ],
)
def test_the_release_comes_from_the_image_tag_else_the_asm_revision_name(
    tag: str | None, revision: str | None, release: tuple[str, str] | None
) -> None:
    assert st.release_of(tag, revision) == release


# -- Kubernetes version --------------------------------------------------------------------------------


def test_a_kubernetes_version_in_the_window_passes() -> None:
    assert judge(_mesh(_cluster(1, CSM_128)), kubernetes_supported, "cluster-1").status == "passed"


def test_a_kubernetes_version_outside_the_window_fails_with_the_window_and_its_source() -> None:
    facts = _mesh(_cluster(1, CSM_128, kube="v1.20.15-gke.1000"))
    outcome = judge(facts, kubernetes_supported, "cluster-1")
    assert outcome.status == "failed"
    said = "cluster-1 runs Kubernetes 1.20 (v1.20.15-gke.1000), which Cloud Service Mesh 1.28"
    assert said in outcome.message
    assert "it supports 1.32-1.35 (https://" in outcome.message


def test_tested_but_not_supported_still_fails_and_says_so() -> None:
    outcome = judge(_mesh(_cluster(1, "1.22.3", kube="v1.24.2")), kubernetes_supported, "cluster-1")
    assert outcome.status == "failed" and "Kubernetes 1.24 (tested, but not supported)" in outcome.message


def test_a_release_the_table_lacks_cannot_be_decided_unless_allowed() -> None:
    outcome = judge(_mesh(_cluster(1, "1.31.0", kube="v1.33.3")), kubernetes_supported, "cluster-1")
    assert outcome.status == "failed" and outcome.inconclusive
    assert "no row for Istio 1.31" in outcome.message
    assert settle(outcome, allow_inconclusive=True).status == "skipped"


def test_an_asm_release_without_a_google_row_is_judged_by_the_istio_release_it_is_built_on() -> None:
    """The guide's ASM 1.7 on its Kubernetes 1.18 passes; on 1.20 it fails naming Istio 1.7's window."""
    good = judge(_mesh(_cluster(1, "1.7.3-asm.6", kube="v1.18.3")), kubernetes_supported, "cluster-1")
    assert good.status == "passed"
    bad = judge(_mesh(_cluster(1, "1.7.3-asm.6", kube="v1.20.15")), kubernetes_supported, "cluster-1")
    assert bad.status == "failed" and not bad.inconclusive
    assert "which Istio 1.7 (istiod 1.7.3-asm.6" in bad.message and "1.16-1.18" in bad.message


def test_the_target_version_is_judged_too() -> None:
    good = _mesh(_cluster(1, CSM_128, kube="v1.33.1"), target="1.29")
    assert judge(good, kubernetes_supported, "cluster-1").status == "passed"
    old_kube = _mesh(_cluster(1, "1.26.4-asm.2", kube="v1.30.1"), target="1.28")
    outcome = judge(old_kube, kubernetes_supported, "cluster-1")
    assert outcome.status == "failed"
    assert "Cloud Service Mesh 1.28 (--target-version) does not support" in outcome.message
    assert "upgrade the cluster first" in outcome.message
    unknown = judge(_mesh(_cluster(1, CSM_128), target="1.32"), kubernetes_supported, "cluster-1")
    assert unknown.inconclusive and "Cloud Service Mesh 1.32 (--target-version)" in unknown.message


def test_a_version_nothing_names_cannot_be_decided() -> None:
    digest = _cluster(1, "sha256:abc")
    digest.control.istiod[0].version = None  # type: ignore[union-attr]
    outcome = judge(_mesh(digest), kubernetes_supported, "cluster-1")
    assert outcome.inconclusive and "names no version" in outcome.message
    no_version = judge(_mesh(_cluster(1, CSM_128, kube="")), kubernetes_supported, "cluster-1")
    assert no_version.inconclusive and "named no Kubernetes version" in no_version.message


def test_a_managed_control_plane_is_not_judged_here() -> None:
    c = _cluster(1, CSM_128)
    c.control.istiod = []  # type: ignore[union-attr]
    c.managed = ManagedControlPlane(revisions={"rev1": [Condition("Reconciled", "True")]})
    outcome = judge(_mesh(c), kubernetes_supported, "cluster-1")
    assert outcome.status == "skipped" and outcome.undecided == "not-applicable"


def test_target_version_takes_major_minor_only() -> None:
    assert mc.parse_target_version("--target-version", "1.29") == "1.29"
    with pytest.raises(mc.ConfigError, match=r"--target-version '1\.29\.0' is not a release's MAJOR\.MINOR"):
        mc.parse_target_version("--target-version", "1.29.0")


# -- control planes ------------------------------------------------------------------------------------


def test_control_planes_one_minor_apart_pass() -> None:
    facts = _mesh(_cluster(1, "1.29.1-asm.1"), _cluster(2, CSM_128))
    assert judge(facts, control_planes_close, "cluster-1").status == "passed"


def test_control_planes_two_minors_apart_fail_on_each_side_naming_the_others() -> None:
    facts = _mesh(_cluster(1, "1.29.1-asm.1"), _cluster(2, CSM_128), _cluster(3, "1.27.2-asm.4"))
    first = judge(facts, control_planes_close, "cluster-1")
    assert first.status == "failed"
    assert "more than 1 minor from cluster-3 (istiod 1.27.2-asm.4)" in first.message
    assert judge(facts, control_planes_close, "cluster-2").status == "passed"
    assert "cluster-1 (istiod 1.29.1-asm.1)" in judge(facts, control_planes_close, "cluster-3").message


# -- proxies -------------------------------------------------------------------------------------------


def test_a_proxy_one_minor_behind_passes() -> None:
    facts = _mesh(_cluster(1, "1.29.1-asm.1", proxy=CSM_128))
    assert judge(facts, proxies_within_skew, "cluster-1").status == "passed"


@pytest.mark.parametrize(
    ("proxy", "said"),
    [
        ("1.29.1-asm.1", "newer than its control plane (istiod 1.28.5-asm.9)"),
        ("1.26.3-asm.1", "2 minors behind"),
    ],
)
def test_a_proxy_ahead_or_two_minors_behind_fails(proxy: str, said: str) -> None:
    outcome = judge(_mesh(_cluster(1, CSM_128, proxy=proxy)), proxies_within_skew, "cluster-1")
    assert outcome.status == "failed" and said in outcome.message
    assert "pod helloworld-v1 in cluster-1 runs proxy" in outcome.message


def test_a_proxy_image_without_a_version_cannot_be_decided() -> None:
    c = _cluster(1, CSM_128)
    c.workloads.pods[0].proxy_image = "gcr.io/gke-release/asm/proxyv2@sha256:abc"  # type: ignore[union-attr]
    outcome = judge(_mesh(c), proxies_within_skew, "cluster-1")
    assert outcome.inconclusive and "names no version" in outcome.message


# -- an istiod that may not read its cluster ----------------------------------------------------------

FORBIDDEN_LOG = (
    "2026-12-07T14:42:58.902126Z\terror\tklog\tk8s.io/client-go@v0.33.5/tools/cache/reflector.go:166: "
    "Failed to watch *v1.Service: failed to list *v1.Service: services is forbidden: User "
    '"system:serviceaccount:istio-system:istiod-rev1" cannot list resource "services" in API group "" '
    "at the cluster scope\n2026-12-07T14:42:58.902140Z\tinfo\tWaiting for caches to be synced\n"
)


def test_an_unready_istiod_whose_log_shows_forbidden_lists_names_the_binding_and_the_fix() -> None:
    found = controlplane.FORBIDDEN_RE.findall(FORBIDDEN_LOG)
    assert found == [
        'services is forbidden: User "system:serviceaccount:istio-system:istiod-rev1" cannot list resource '
        '"services" in API group "" at the cluster scope'
    ]
    c = _cluster(1, CSM_128)
    pod = c.control.istiod[0]  # type: ignore[union-attr]
    pod.ready, pod.state, pod.forbidden = False, "istiod-rev1 0/1 Running (discovery not ready)", found[0]
    outcome = judge(_mesh(c), istiod_ready, "cluster-1")
    assert outcome.status == "failed"
    assert "its log says services is forbidden" in outcome.message
    assert "ClusterRoleBinding the install makes (istiod-clusterrole-rev1-istio-system)" in outcome.message
    assert "reinstall revision rev1" in outcome.message


def test_an_istiod_older_than_the_guide_minimum_fails_there_not_in_the_support_checks() -> None:
    facts = _mesh(_cluster(1, CSM_128), _cluster(2, "1.6.5-asm.7", proxy=CSM_128))
    assert judge(facts, istiod_version, "cluster-2").status == "failed"
    for chk in (kubernetes_supported, control_planes_close, proxies_within_skew):
        assert judge(facts, chk, "cluster-2").status == "skipped", chk.name
    assert judge(facts, control_planes_close, "cluster-1").status == "passed"


def test_proxies_from_another_revision_fail_the_injection_check_not_the_skew_one() -> None:
    c = _cluster(1, CSM_128, proxy="1.6.8-asm.9")
    c.workloads.pods[0].injected_revision = "asm-168-9"  # type: ignore[union-attr]
    outcome = judge(_mesh(c), proxies_within_skew, "cluster-1")
    assert outcome.status == "skipped" and "test_injected_by_revision[cluster-1] failed" in outcome.message


def test_a_version_neither_the_current_nor_the_target_release_supports_names_both_once() -> None:
    facts = _mesh(_cluster(1, CSM_128, kube="v1.20.15-gke.1000"), target="1.29")
    message = judge(facts, kubernetes_supported, "cluster-1").message
    assert message.count("runs Kubernetes 1.20") == 1
    current = "Cloud Service Mesh 1.28 (istiod 1.28.5-asm.9, revision rev1)"
    assert f"neither {current} nor Cloud Service Mesh 1.29 (--target-version) supports" in message
    assert message.endswith("upgrade the cluster or the mesh to a pair that is supported")
