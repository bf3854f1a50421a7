"""A fleet mid-upgrade, as the suite sees it: cluster-1 upgraded (the new revision beside the old,
the revision tag `prod-stable` moved to the new one), cluster-2 still on the old revision.

The suite names the tag (`--revision prod-stable`), resolves it in each cluster through the tag's
webhook, labels each cluster's namespace `istio.io/rev=prod-stable`, judges each cluster against
its own revision, says that the tag points at different revisions (a rollout, not a fault), and
its traffic checks prove the mixed mesh works. The per-cluster form (`--revision CTX=REV`) names
cluster-1's revision and leaves cluster-2's to be discovered (it runs exactly one).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import LabEnv, Run, run_suite

pytestmark = pytest.mark.selftest_slow
OLD, NEW, TAG = "asm-1285-9", "asm-1295-1", "prod-stable"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    options = {
        "cluster_revisions": (("cluster-1", (NEW, OLD)), ("cluster-2", (OLD,))),
        "tags": ((TAG, OLD, None), (TAG, NEW, "cluster-1")),
    }
    with LabEnv.start(tmp_path_factory.mktemp("upgrade"), **options) as lab_env:
        yield lab_env


def test_a_tag_moved_in_one_cluster_is_resolved_per_cluster_and_all_checks_pass(
    env: LabEnv, tmp_path: Path
) -> None:
    run = run_suite(tmp_path / "reports", *env.args(), f"--revision={TAG}")
    assert run.returncode == 0 and run.healthy, run.tail(3000)
    doc = run.summary
    clusters = doc["clusters"]
    assert [(c["revision"], c["revision_tag"]) for c in clusters.values()] == [(NEW, TAG), (OLD, TAG)]
    assert all(c["injection_label"]["labels"] == {"istio.io/rev": TAG} for c in clusters.values())
    assert doc["revision"] is None, "no one revision: each cluster was judged against its own"
    assert [c["role"] for c in clusters.values()] == ["primary", "primary"], "each has its own istiod"
    assert doc["revision_tags_split"] == {TAG: {"cluster-1": NEW, "cluster-2": OLD}}
    line = f"revisions: cluster-1: {TAG} -> {NEW}, cluster-2: {TAG} -> {OLD}"
    assert line in run.stdout and "a rollout in progress" in run.stdout, run.tail(2000)
    assert f"{TAG} -&gt; {NEW}" in run.html


def test_per_cluster_revision_beside_one_discovered(env: LabEnv, tmp_path: Path) -> None:
    run = run_suite(tmp_path / "reports", *env.args(), f"--revision={env.contexts[0]}={NEW}")
    assert run.returncode == 0 and run.healthy, run.tail(3000)
    clusters = run.summary["clusters"]
    assert [c["revision"] for c in clusters.values()] == [NEW, OLD]
    assert [c["injection_label"]["labels"] for c in clusters.values()] == [
        {"istio.io/rev": NEW}, {"istio.io/rev": OLD}
    ]


def test_a_cluster_running_two_revisions_unnamed_is_refused(env: LabEnv, tmp_path: Path) -> None:
    run = run_suite(tmp_path / "reports", *env.args())
    assert run.returncode == 4, run.tail(2000)
    assert f"cluster-1 runs several istiod revisions ({OLD}, {NEW})" in run.output
    assert f"--revision {env.contexts[0]}=REV" in run.output


def test_rehearsal_in_one_running_lab(tmp_path: Path) -> None:
    """The upgrade as a fleet does it, in one lab: a baseline on the old revision through the tag;
    the new revision installed in cluster-1 (checked there alone); the tag moved in cluster-1; then
    in cluster-2. Every run stays green and its baseline diff says what moved."""
    options = {"revisions": (OLD,), "tags": ((TAG, OLD, None),)}
    with LabEnv.start(tmp_path / "lab", **options) as lab_env:
        ctx1 = lab_env.contexts[0]

        def run(step: str, *args: str) -> Run:
            extra = [f"--baseline={tmp_path / 'before' / 'summary.json'}"] if step != "before" else []
            done = run_suite(tmp_path / step, *lab_env.args(), f"--namespace=rehearsal-{step}", *args, *extra)
            assert done.returncode == 0 and not done.failures, f"{step}:\n{done.tail(3000)}"
            return done

        run("before", f"--revision={TAG}")
        lab_env.lab.install_revision("cluster-1", NEW)
        canary = run("canary", f"--revision={TAG}", f"--revision={ctx1}={NEW}")
        assert f"cluster-1 revision {OLD} -> {NEW}" in canary.summary["baseline"]["moved"]
        lab_env.lab.set_tag("cluster-1", TAG, NEW)
        moved = run("moved", f"--revision={TAG}")
        assert moved.summary["revision_tags_split"] == {TAG: {"cluster-1": NEW, "cluster-2": OLD}}
        lab_env.lab.install_revision("cluster-2", NEW)
        lab_env.lab.set_tag("cluster-2", TAG, NEW)
        done = run("done", f"--revision={TAG}")
        assert done.summary["revision"] == NEW and not done.summary["revision_tags_split"]
        assert done.summary["baseline"]["moved"] == [
            f"cluster-1 revision {OLD} -> {NEW}", "cluster-1 istiod 1.28.5-asm.9 -> 1.29.5-asm.1",
            f"cluster-2 revision {OLD} -> {NEW}", "cluster-2 istiod 1.28.5-asm.9 -> 1.29.5-asm.1",
        ]


def test_rehearsal_faults_are_found_before_and_during_the_upgrade(tmp_path: Path) -> None:
    """The pre-upgrade group on a healthy fleet with --target-version passes; a cluster on a
    Kubernetes the release does not support fails it there; mid-rollout, the new revision's istiod
    started without its ClusterRoleBinding fails test_istiod_ready in cluster-1, naming the binding."""
    with LabEnv.start(tmp_path / "healthy", revisions=(OLD,)) as lab_env:
        run = run_suite(tmp_path / "pre", *lab_env.args(), "-m", "pre_upgrade", "--target-version=1.29")
        assert run.returncode == 0 and not run.failures and len(run.cases) == 6, run.tail(3000)
    faults = ("kubernetes-version-unsupported:cluster-2",)
    with LabEnv.start(tmp_path / "old-kube", revisions=(OLD,), faults=faults) as lab_env:
        run = run_suite(tmp_path / "pre-bad", *lab_env.args(), "-m", "pre_upgrade", "--target-version=1.29")
        assert set(run.failures) == {"test_kubernetes_version_supported[cluster-2]"}, run.tail(3000)
        message = run.failures["test_kubernetes_version_supported[cluster-2]"]
        assert "cluster-2 runs Kubernetes 1.20" in message
        assert "Cloud Service Mesh 1.29 (--target-version)" in message
    options = {"cluster_revisions": (("cluster-1", (NEW, OLD)), ("cluster-2", (OLD,))),
               "faults": ("istiod-reader-rbac-missing:cluster-1",)}
    with LabEnv.start(tmp_path / "rbac", **options) as lab_env:
        run = run_suite(tmp_path / "canary", *lab_env.args(), f"--revision={lab_env.contexts[0]}={NEW}",
                        "--ready-timeout=8")
        assert set(run.failures) == {"test_istiod_ready[cluster-1]"}, run.tail(3000)
        assert f"istiod-clusterrole-{NEW}-istio-system" in run.failures["test_istiod_ready[cluster-1]"]
