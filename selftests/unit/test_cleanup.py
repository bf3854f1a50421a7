"""Releasing a remote secret two runs share (meshconform/run/cleanup.py), one interleaving per test.

Each test sets the lab up as a concurrent run would have left it at the moment the releasing run
acts (its listing and its view of live runs taken earlier), then releases and checks the end state:
a secret a live run relies on is never deleted, and none is left behind when its runs are done.
The CI failure this came from: two runs ending together, the first handed its secrets to the second
after the second had listed its own, and they were left labelled with the second's run id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support import LabEnv, run_suite

from meshconform.kube import errors
from meshconform.kube.client import Cluster
from meshconform.mesh import remote_secrets, samples
from meshconform.run import cleanup, heartbeat
from meshconform.run.config import RunConfig
from meshconform.run.pipeline import join_pair

NS = "istio-system"
SECRET = "istio-remote-secret-cluster-2"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path_factory.mktemp("release"), clusters=2) as env:
        yield env


@pytest.fixture
def core(lab: LabEnv) -> Iterator[client.CoreV1Api]:
    api = lab.core(0)
    yield api
    for ns in api.list_namespace(label_selector="app.kubernetes.io/managed-by=meshconform").items:
        if ns.metadata.finalizers:
            api.patch_namespace(ns.metadata.name, {"metadata": {"finalizers": None}})
        if not ns.metadata.deletion_timestamp:  # a second DELETE of a terminating one is a 409
            api.delete_namespace(ns.metadata.name)
    for s in api.list_namespaced_secret(NS, label_selector="app.kubernetes.io/managed-by=meshconform").items:
        api.delete_namespaced_secret(s.metadata.name, NS)


@pytest.fixture
def cluster(lab: LabEnv) -> Cluster:
    return Cluster.connect(lab.contexts[0], "cluster-1", str(lab.kubeconfig))


def labels(run_id: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "meshconform", "meshconform.io/run-id": run_id}


def made_by(core: client.CoreV1Api, run_id: str) -> dict[str, Any]:
    """The remote secret as the releasing run listed it (its resourceVersion then)."""
    body = {"metadata": {"name": SECRET, "labels": labels(run_id)}, "stringData": {"cluster-2": "x"}}
    core.create_namespaced_secret(NS, body)
    return dict(core.api_client.sanitize_for_serialization(core.read_namespaced_secret(SECRET, NS)))


def live_namespace(core: client.CoreV1Api, run_id: str, terminating: bool = False) -> None:
    """A run's namespace with a fresh heartbeat; `terminating`: that run has begun its clean-up."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = f"ns-{run_id}-{uuid.uuid4().hex[:6]}"  # the last test's namespace may still be going
    meta = {
        "name": name,
        "labels": labels(run_id),
        "annotations": {"meshconform.io/heartbeat": stamp},
        "finalizers": ["example.com/hold"] if terminating else None,
    }
    core.create_namespace({"metadata": meta})
    if terminating:
        core.delete_namespace(name)


def holder(core: client.CoreV1Api) -> str | None:
    try:
        return str(core.read_namespaced_secret(SECRET, NS).metadata.labels["meshconform.io/run-id"])
    except client.ApiException as exc:
        assert exc.status == 404
        return None


def test_no_live_run_deletes_it(core: client.CoreV1Api, cluster: Cluster) -> None:
    listed = made_by(core, "ra")
    assert cleanup.release(cluster, listed, NS, alive_seen=set()) == ""
    assert holder(core) is None


def test_a_live_run_gets_it(core: client.CoreV1Api, cluster: Cluster) -> None:
    listed = made_by(core, "ra")
    live_namespace(core, "rb")
    assert cleanup.release(cluster, listed, NS, alive_seen={"rb"}) == " (handed over to run rb)"
    assert holder(core) == "rb"


def test_a_run_already_cleaning_up_is_not_given_it(core: client.CoreV1Api, cluster: Cluster) -> None:
    """The CI failure: rb was alive when ra looked, and had listed its secrets by the time ra
    relabelled this one; ra sees rb's namespace terminating after the relabel and deletes it."""
    listed = made_by(core, "ra")
    live_namespace(core, "rb", terminating=True)
    assert cleanup.release(cluster, listed, NS, alive_seen={"rb"}) == ""
    assert holder(core) is None


def test_a_run_that_kept_it_since_the_listing_gets_it(core: client.CoreV1Api, cluster: Cluster) -> None:
    """rb started after ra read the live runs: its namespace, then its join found ra's secret and
    marked it kept. ra's delete, conditioned on the version it listed, fails, and ra looks again."""
    listed = made_by(core, "ra")
    live_namespace(core, "rb")
    assert remote_secrets.mark_kept(cluster, listed, "rb") is not None
    assert cleanup.release(cluster, listed, NS, alive_seen=set()) == " (handed over to run rb)"
    assert holder(core) == "rb"


def test_a_secret_another_run_relabelled_meanwhile_is_left_to_it(
    core: client.CoreV1Api, cluster: Cluster
) -> None:
    listed = made_by(core, "ra")
    live_namespace(core, "rc")
    core.patch_namespaced_secret(SECRET, NS, {"metadata": {"labels": {"meshconform.io/run-id": "rc"}}})
    assert cleanup.release(cluster, listed, NS, alive_seen=set()) == " (handed over to run rc)"
    assert holder(core) == "rc"


def test_a_secret_deleted_meanwhile_is_not_found(core: client.CoreV1Api, cluster: Cluster) -> None:
    listed = made_by(core, "ra")
    core.delete_namespaced_secret(SECRET, NS)
    with pytest.raises(errors.NotFound):
        cleanup.release(cluster, listed, NS, alive_seen=set())
    done, failures = cleanup.cleanup(cluster, "ra")
    assert (done, failures) == ([], [])


def test_join_marks_a_secret_another_run_made_as_kept(lab: LabEnv, core: client.CoreV1Api) -> None:
    """The other half: a run that finds a concurrent run's secret writes on it (a new version)."""
    source = Cluster.connect(lab.contexts[1], "cluster-2", str(lab.kubeconfig))
    target = Cluster.connect(lab.contexts[0], "cluster-1", str(lab.kubeconfig))
    listed = made_by(core, "ra")
    cfg = RunConfig(contexts=tuple(lab.contexts), cluster_names=("cluster-1", "cluster-2"), run_id="rb")
    fact = join_pair(cfg, source, target, {})
    assert fact.note is None  # kept, not created
    stored = core.read_namespaced_secret(SECRET, NS)
    assert stored.metadata.annotations[remote_secrets.KEPT_BY] == "rb"
    assert stored.metadata.resource_version != listed["metadata"]["resourceVersion"]
    assert stored.metadata.labels["meshconform.io/run-id"] == "ra"  # still the maker's to release


def test_join_makes_the_secret_again_when_it_vanished_before_the_mark(
    lab: LabEnv, core: client.CoreV1Api
) -> None:
    source = Cluster.connect(lab.contexts[1], "cluster-2", str(lab.kubeconfig))
    target = Cluster.connect(lab.contexts[0], "cluster-1", str(lab.kubeconfig))
    listed = made_by(core, "ra")
    core.delete_namespaced_secret(SECRET, NS)
    cfg = RunConfig(contexts=tuple(lab.contexts), cluster_names=("cluster-1", "cluster-2"), run_id="rb")
    fact = join_pair(cfg, source, target, {SECRET: listed})  # ra's secret was in rb's listing
    assert fact.note == "created"
    assert holder(core) == "rb"


def test_live_runs_unreadable_leaves_the_secret_and_says_so(
    core: client.CoreV1Api, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not knowing whether a run relies on it is not "no run does": nothing is deleted."""
    made_by(core, "ra")

    def unreadable(_: Cluster) -> set[str]:
        raise errors.Forbidden("LIST namespaces (meshconform heartbeats) on cluster-1", "Forbidden")

    monkeypatch.setattr(cleanup.heartbeat, "alive_in", unreadable)
    done, failures = cleanup.cleanup(cluster, "ra")
    assert done == [] and len(failures) == 1 and "LIST namespaces" in failures[0], failures
    assert holder(core) == "ra"


def test_a_repeated_delete_of_a_terminating_namespace_is_done(
    core: client.CoreV1Api, cluster: Cluster
) -> None:
    """A DELETE retried after a lost reply: the API server answers 409 for a namespace it is already
    emptying (pkg/registry/core/namespace/storage/storage.go); that is not a clean-up failure."""
    name = f"ns-gone-{uuid.uuid4().hex[:6]}"
    meta = {"name": name, "labels": labels("ra")}
    core.create_namespace({"metadata": meta, "spec": {"finalizers": ["example.com/hold"]}})
    core.delete_namespace(name)
    with pytest.raises(client.ApiException) as refused:
        core.delete_namespace(name)
    assert refused.value.status == 409 and "ensuring all content is removed" in str(refused.value.body)
    cleanup._delete_namespace(cluster, name)  # no error
    core.patch_namespace(name, {"spec": {"finalizers": None}})


def test_cleanup_only_spares_a_run_that_came_alive_after_it_began(
    core: client.CoreV1Api, cluster: Cluster
) -> None:
    """--cleanup-only read the live runs at its start (`spare`); rb's namespace appeared since."""
    made_by(core, "rb")
    live_namespace(core, "rb")
    done, failures = cleanup.cleanup(cluster, None, spare=())
    assert (done, failures) == ([], [])
    assert holder(core) == "rb"


def test_the_heartbeat_beats_on_the_namespace_a_run_that_deploys_nothing_holds(
    core: client.CoreV1Api, cluster: Cluster
) -> None:
    """No sample namespace of its own (another run's, here): the empty one of its own name."""
    old = {"meshconform.io/heartbeat": "2020-01-01T00:00:00Z"}
    theirs = f"team-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": theirs, "labels": labels("rk"), "annotations": old}})
    holder_ns = samples.holder_namespace("rj")
    core.create_namespace({"metadata": {"name": holder_ns, "labels": labels("rj"), "annotations": old}})
    assert heartbeat.alive_in(cluster) == set()
    assert heartbeat.Heartbeat([cluster], (theirs, holder_ns), "rj").beat(cluster)
    assert heartbeat.alive_in(cluster) == {"rj"}  # and rk's stamp untouched
    assert core.read_namespace(theirs).metadata.annotations == old


@pytest.mark.selftest_slow
def test_a_join_only_run_holds_a_namespace_of_its_own_and_removes_it(lab: LabEnv, tmp_path: Path) -> None:
    run = run_suite(tmp_path / "join-only", *lab.args(), "-k", "join", "--namespace=sample")
    assert run.returncode == 0 and "Traceback" not in run.output, run.tail()
    removed = re.search(r"^cleaned up: \d+ objects: (.*)$", run.output, re.M)
    assert removed, run.tail()
    assert "cluster-1: namespace meshconform-r" in removed.group(1), removed.group(1)
    assert "namespace sample" not in removed.group(1), removed.group(1)  # nothing deployed
