"""Pre-upgrade validation: with an old and a canary control plane installed side by side (the
guide's revision label is the mechanism), `--revision NEW` validates the canary end to end and
leaves the workloads on the old revision alone.

The lab is started here with both revisions and a request log; a workload namespace on the old
revision is seeded through the official client before the run, exactly as a user's would be. The
suite then runs against the lab's kubeconfig as against real clusters, keeps its objects so that
they can be read back (namespace label, injecting revision, discovery address), and a second run
with `--cleanup-only` removes them. The old namespace is compared object by object before and
after, and the request log must hold no write to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from realpath_support import WRITE_METHODS, pods_ready, snapshot
from support import ROOT, LabEnv, eventually, request_log, run_suite

pytestmark = pytest.mark.selftest_slow
OLD, NEW = "asm-1215-34", "asm-1285-9"  # Cloud Service Mesh 1.21 -> 1.28, both with clusterz
LEGACY = "legacy"  # a user's namespace, injected by the old revision
MANAGED = "app.kubernetes.io/managed-by=meshconform"


def seed_old_workload(env: LabEnv, i: int) -> None:
    """Namespace `legacy` labelled istio.io/rev=OLD with helloworld v1 and sleep, as a user has it."""
    core, apps = env.core(i), env.apps(i)
    core.create_namespace({"metadata": {"name": LEGACY, "labels": {"istio.io/rev": OLD}}})
    docs = [
        d
        for name in ("helloworld.yaml", "sleep.yaml")
        for d in yaml.safe_load_all((ROOT / "manifests" / name).read_text())
        if d and d["metadata"]["name"] != "helloworld-v2"
    ]
    creators = {
        "Service": core.create_namespaced_service,
        "ServiceAccount": core.create_namespaced_service_account,
        "Deployment": apps.create_namespaced_deployment,
    }
    for doc in docs:
        creators[doc["kind"]](LEGACY, doc)
    ready = f"timed out after 20s waiting for {LEGACY} pods Ready in cluster {i + 1}"
    eventually(pods_ready(core, LEGACY, 2), 20, ready)


def status_revision(pod: client.V1Pod) -> str | None:
    status = yaml.safe_load((pod.metadata.annotations or {}).get("sidecar.istio.io/status", "{}")) or {}
    return status.get("revision")


def discovery_address(pod: client.V1Pod) -> str:
    # a native sidecar (Istio 1.27+ on Kubernetes 1.33) is an init container with restartPolicy Always
    containers = [*(pod.spec.init_containers or []), *pod.spec.containers]
    proxy = next(c for c in containers if c.name == "istio-proxy")
    env = {e.name: e.value for e in proxy.env or []}
    return str(json.loads(env["PROXY_CONFIG"])["discoveryAddress"])


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One canary run (kept, read back, then cleaned up), with the old workload's before/after."""
    tmp = tmp_path_factory.mktemp("canary")
    log = tmp / "requests.jsonl"
    with LabEnv.start(tmp, revisions=(OLD, NEW), request_log=log) as env:
        for i in range(2):
            seed_old_workload(env, i)
        before = [snapshot(env.core(i), env.apps(i), LEGACY) for i in range(2)]
        seeded = len(request_log(log))
        run = run_suite(tmp / "reports", *env.args(), f"--revision={NEW}", "--keep")
        kept = {
            i: (
                env.core(i).read_namespace("sample"),
                env.core(i).list_namespaced_pod("sample", label_selector=MANAGED).items,
            )
            for i in range(2)
        }
        cleanup = run_suite(tmp / "cleanup", *env.args(), "--cleanup-only")
        after = [snapshot(env.core(i), env.apps(i), LEGACY) for i in range(2)]
        # A namespace being deleted (Terminating) is gone as far as the clean-up is concerned:
        # its contents go first, on the API server's schedule.
        left = [
            [ns for ns in env.core(i).list_namespace(label_selector=MANAGED).items
             if ns.metadata.deletion_timestamp is None]
            for i in range(2)
        ]
    return {
        "run": run,
        "cleanup": cleanup,
        "kept": kept,
        "before": before,
        "after": after,
        "left": left,
        "requests": request_log(log)[seeded:],
    }


def test_every_check_passes_against_the_canary(canary: Any) -> None:
    run = canary["run"]
    assert run.returncode == 0, run.tail()
    assert run.healthy, run.messages


def test_namespace_and_proxies_belong_to_the_canary(canary: Any) -> None:
    for ns, pods in canary["kept"].values():
        assert ns.metadata.labels["istio.io/rev"] == NEW
        assert "istio-injection" not in ns.metadata.labels
        assert pods and {status_revision(p) for p in pods} == {NEW}
        # the proxies get their configuration (and so their endpoints) from the canary's istiod
        assert {discovery_address(p) for p in pods} == {f"istiod-{NEW}.istio-system.svc:15012"}


def test_report_says_which_revision_was_validated(canary: Any) -> None:
    run = canary["run"]
    summary = run.summary
    assert summary["revision"] == NEW
    assert summary["options"]["--revision"] == NEW
    for entry in summary["clusters"].values():
        assert entry["revisions"] == [OLD, NEW]
    assert f"{NEW} (validated" in run.html, "the environment block names the validated revision"


def test_old_revision_workloads_are_untouched(canary: Any) -> None:
    assert canary["cleanup"].returncode == 0, canary["cleanup"].tail()
    assert canary["left"] == [[], []], "cleanup-only left namespaces labelled as ours behind"
    for before, after in zip(canary["before"], canary["after"], strict=True):
        assert after == before  # same uids, resourceVersions, labels and annotations
    touching = [
        r for r in canary["requests"] if r["method"] in WRITE_METHODS and f"/namespaces/{LEGACY}" in r["path"]
    ]
    assert touching == []


def test_old_control_plane_is_not_written(canary: Any) -> None:
    """In istio-system the run may add remote secrets and mint reader tokens; nothing else."""
    allowed = (
        "/api/v1/namespaces/istio-system/secrets",
        "/serviceaccounts/istio-reader-service-account/token",
    )
    writes = [
        (r["method"], r["path"])
        for r in canary["requests"]
        if r["method"] in WRITE_METHODS and "/namespaces/istio-system/" in r["path"]
    ]
    assert writes and all(any(a in path for a in allowed) for _, path in writes), writes


def test_two_revisions_without_revision_is_a_usage_error(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--lab", f"--lab-revisions={OLD},{NEW}")
    assert run.returncode == 4, run.tail()
    line = run.stderr.strip().splitlines()[-1]
    assert f"{OLD}, {NEW}" in line and "--revision" in line, line
    assert "Traceback" not in run.stderr


def test_revision_installed_nowhere_is_a_usage_error(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--lab", f"--lab-revisions={OLD},{NEW}", "--revision=asm-999-9")
    assert run.returncode == 4, run.tail()
    line = run.stderr.strip().splitlines()[-1]
    assert "asm-999-9" in line and OLD in line and NEW in line, line
