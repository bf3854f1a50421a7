"""Two runs sharing the declaration of asm-options (mesh/multicluster_mode.py, run/cleanup.py).

`--join create` declares `multicluster_mode: connected` where a managed cluster lacks it, and
clean-up puts back what was there. A second run on the same clusters finds the first run's
declaration: it must rely on it without recording the first run's value as the one to put back,
and the first run's clean-up must hand it over instead of restoring it while the second run lives.
Each test sets up one interleaving on a TRAFFIC_DIRECTOR lab whose cluster-2 has no
multicluster_mode, calls what each run calls, and checks asm-options at every step.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from support import LabEnv

from meshconform.kube.client import Cluster
from meshconform.mesh import multicluster_mode
from meshconform.run import cleanup

NS = "istio-system"
OPTIONS = "asm-options"
OURS = "app.kubernetes.io/managed-by=meshconform"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path_factory.mktemp("declare"), clusters=2, control_planes=("managed-td",),
                      faults=("multicluster-mode-missing:cluster-2",)) as env:
        yield env


@pytest.fixture
def core(lab: LabEnv) -> Iterator[client.CoreV1Api]:
    api = lab.core(1)
    yield api
    for ns in api.list_namespace(label_selector=OURS).items:
        if not ns.metadata.deletion_timestamp:
            api.delete_namespace(ns.metadata.name)
    api.replace_namespaced_config_map(OPTIONS, NS, {"metadata": {"name": OPTIONS}, "data": {}})


@pytest.fixture
def cluster(lab: LabEnv) -> Cluster:
    return Cluster.connect(lab.contexts[1], "cluster-2", str(lab.kubeconfig))


def live(core: client.CoreV1Api, run_id: str) -> str:
    """A namespace of the run with a fresh heartbeat: the run is live in the cluster."""
    name = f"ns-{run_id}-{uuid.uuid4().hex[:6]}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {"app.kubernetes.io/managed-by": "meshconform", "meshconform.io/run-id": run_id}
    core.create_namespace({"metadata": {"name": name, "labels": labels,
                                        "annotations": {"meshconform.io/heartbeat": stamp}}})
    return name


def options(core: client.CoreV1Api) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    cm = core.read_namespaced_config_map(OPTIONS, NS)
    return cm.data or {}, cm.metadata.labels or {}, cm.metadata.annotations or {}


def as_listed(cluster: Cluster) -> Any:
    """asm-options as a run's clean-up lists it (its resourceVersion then)."""
    return multicluster_mode.declarations(cluster, None)[0]


def test_second_run_relies_on_the_first_and_the_first_hands_over(
    core: client.CoreV1Api, cluster: Cluster
) -> None:
    ns_a, _ = live(core, "ra"), live(core, "rb")
    assert multicluster_mode.declare(cluster, "ra").startswith("set multicluster_mode: connected")
    said = multicluster_mode.declare(cluster, "rb")
    assert said == "multicluster_mode: connected declared by run ra, relied on (its clean-up hands it over)"
    data, labels, notes = options(core)
    assert data == {"multicluster_mode": "connected"} and labels["meshconform.io/run-id"] == "ra"
    assert notes["meshconform.io/multicluster-mode-before"] == multicluster_mode.ABSENT  # not ra's value
    assert notes["meshconform.io/kept-by"] == "rb"

    core.delete_namespace(ns_a)  # ra ends: rb, still live, relies on the declaration
    done, failed = cleanup.cleanup(cluster, "ra")
    assert failed == [] and "cluster-2: configmap istio-system/asm-options (handed over to run rb)" in done
    data, labels, notes = options(core)
    assert data == {"multicluster_mode": "connected"} and labels["meshconform.io/run-id"] == "rb"
    assert notes["meshconform.io/multicluster-mode-before"] == multicluster_mode.ABSENT

    for ns in core.list_namespace(label_selector="meshconform.io/run-id=rb").items:
        core.delete_namespace(ns.metadata.name)  # rb ends last: the value from before both comes back
    done, failed = cleanup.cleanup(cluster, "rb")
    assert failed == []
    assert "cluster-2: configmap istio-system/asm-options (multicluster_mode restored)" in done
    assert options(core) == ({}, {}, {})


def test_a_mark_made_after_the_listing_stops_the_restore(core: client.CoreV1Api, cluster: Cluster) -> None:
    """ra lists its declaration and sees no other run; then rb comes alive and marks it relied on;
    ra's put-back carries the version it listed, is refused, and ra hands over instead."""
    live(core, "ra")
    multicluster_mode.declare(cluster, "ra")
    listed = as_listed(cluster)
    live(core, "rb")
    multicluster_mode.declare(cluster, "rb")
    assert cleanup.release_declaration(cluster, listed, alive_seen=set()) == " (handed over to run rb)"
    data, labels, _ = options(core)
    assert data == {"multicluster_mode": "connected"} and labels["meshconform.io/run-id"] == "rb"


def test_a_declaration_put_back_meanwhile_is_declared_again(
    core: client.CoreV1Api, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rb read ra's declaration, but ra put it back before rb marked it: rb's mark is refused (the
    version changed), and rb declares it itself, recording the value from before ra."""
    live(core, "ra")
    multicluster_mode.declare(cluster, "ra")
    seen = multicluster_mode.read(cluster)
    assert cleanup.release_declaration(cluster, as_listed(cluster), alive_seen=set()) == (
        " (multicluster_mode restored)"
    )
    reads, real = iter([seen]), multicluster_mode.read
    monkeypatch.setattr(multicluster_mode, "read", lambda c: next(reads, None) or real(c))  # rb's stale read
    said = multicluster_mode.declare(cluster, "rb")
    assert said.startswith("set multicluster_mode: connected"), said
    _, labels, notes = options(core)
    assert labels["meshconform.io/run-id"] == "rb"
    assert notes["meshconform.io/multicluster-mode-before"] == multicluster_mode.ABSENT
