"""The public Lab API and CLI: options validation, kubeconfig, two labs at once, stats, request log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import yaml
from labapi_support import start_lab
from support import ROOT, request_log

from meshconform.lab import Lab, LabConfigError, LabOptions, known_faults


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"faults": ("bogus",)}, "unknown lab fault 'bogus'; known: api-down:CLUSTER, "),
        ({"faults": ("api-down",)}, "lab fault 'api-down' needs a cluster, e.g. api-down:cluster-2"),
        (
            {"faults": ("no-secret:cluster-1",)},
            "lab fault 'no-secret' needs a pair of clusters, e.g. no-secret:cluster-1->cluster-2",
        ),
        (
            {"faults": ("api-down:cluster-9",)},
            "lab fault 'api-down:cluster-9' names unknown cluster 'cluster-9'; "
            "clusters: cluster-1, cluster-2",
        ),
        ({"faults": ("skew:cluster-1",)}, "lab fault 'skew' takes no argument"),
        ({"faults": ("partition:cluster-1,cluster-1",)}, "needs two different clusters"),
        ({"clusters": 0}, "lab clusters must be 1 to 20, got 0"),
        ({"clusters": 21}, "lab clusters must be 1 to 20, got 21"),
        ({"networks": 3}, "lab networks must be 1 to the number of clusters (2), got 3"),
        ({"networks": 0}, "lab networks must be 1 to the number of clusters (2), got 0"),
        ({"faults": ("ew-gateway-pending:cluster-2",)}, "needs two networks or more (networks 2), got 1"),
        ({"revisions": ("Bad_Rev",)}, "lab revision 'Bad_Rev' is not a valid revision name"),
        ({"revisions": ("default@1.7",)}, "lab revision 'default@1.7': '1.7' is not an Istio version"),
        ({"revisions": ("default@1.7.3", "default@1.28.5")}, "lab revisions repeat"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(LabConfigError) as e:
        Lab(LabOptions(**options))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_known_faults_lists_every_pattern():
    faults = known_faults()
    assert "api-down:CLUSTER" in faults and "no-secret:A->B" in faults and "partition:A,B" in faults
    assert "flaky-api" in faults and "duplicate-secret:A->B" in faults and "secret-renamed:A->B" in faults
    assert "hello-localhost:CLUSTER" in faults
    assert "root-rotation" in faults and "root-rotation-incomplete" in faults
    assert "sidecar-bypass:CLUSTER" in faults and "telemetry-off:CLUSTER" in faults
    assert "outside-cluster:CLUSTER" in faults and "version-mislabel:CLUSTER" in faults
    assert "tls-disabled:CLUSTER" in faults and "permissive-default:CLUSTER" in faults
    assert "wrong-network:CLUSTER" in faults and "port-15443-closed" in faults
    assert "ew-gateway-pending:CLUSTER" in faults and "no-cross-network-gateway:CLUSTER" in faults
    assert "proxy-network-unset:CLUSTER" in faults
    assert "tag-relabelled:CLUSTER" in faults
    assert "revision-stalled:CLUSTER" in faults and "mdp-down:CLUSTER" in faults
    assert "multicluster-mode-missing:CLUSTER" in faults and "secrets-under-td:CLUSTER" in faults
    assert "remote-injector-dead-istiod:CLUSTER" in faults and "remote-no-secret:CLUSTER" in faults
    assert "kubernetes-version-unsupported:CLUSTER" in faults
    assert "istiod-reader-rbac-missing:CLUSTER" in faults
    assert "proxy-outdated:CLUSTER" in faults
    assert "fleet-discovery-broken:CLUSTER" in faults and "cni-node-not-ready:CLUSTER" in faults
    assert "trust-domain-migration" in faults and len(faults) == 53


def test_join_faults_imply_joined():
    assert Lab(LabOptions(faults=("no-secret:cluster-1->cluster-2",))).joined
    assert not Lab(LabOptions()).joined


def test_two_labs_at_once_never_collide(tmp_path_factory):
    a, b = start_lab(tmp_path_factory, clusters=2), start_lab(tmp_path_factory, clusters=2)
    try:
        urls = [c.server_url for lab in (a.lab, b.lab) for c in lab.clusters.values()]
        assert len(set(urls)) == 4
        assert a.json("GET", "/version")[0] == b.json("GET", "/version")[0] == 200
        assert a.json("GET", "/version", token=b.cluster().admin_token)[0] == 401
    finally:
        a.stop()
        b.stop()


def test_kubeconfig_is_gke_style(tmp_path_factory):
    env = start_lab(tmp_path_factory, clusters=3)
    try:
        cfg = yaml.safe_load(env.kubeconfig.read_text())
        assert (
            [c["name"] for c in cfg["contexts"]]
            == env.lab.contexts
            == [
                "gke_meshconform-lab_us-central1-a_cluster-1",
                "gke_meshconform-lab_us-east1-b_cluster-2",
                "gke_meshconform-lab_europe-west1-c_cluster-3",
            ]
        )
        assert env.lab.cluster_names == ["cluster-1", "cluster-2", "cluster-3"]
        assert os.stat(env.kubeconfig).st_mode & 0o777 == 0o600
        cas = {c["cluster"]["certificate-authority-data"] for c in cfg["clusters"]}
        assert len(cas) == 3
    finally:
        env.stop()


def test_stats_and_request_log_without_tokens(tmp_path_factory, tmp_path):
    log = tmp_path / "requests.jsonl"
    env = start_lab(tmp_path_factory, clusters=2, request_log=log)
    try:
        env.json("GET", "/version")
        env.json("GET", "/api/v1/namespaces", i=1)
        env.json("GET", "/api/v1/namespaces", token="bad")
        stats = env.lab.stats()
        assert stats["api_requests"] >= 3 and stats["by_cluster"]["cluster-2"] >= 1
        assert stats["by_verb"]["list"] >= 2 and stats["exec_sessions"] == 0
        tokens = [c.admin_token for c in env.lab.clusters.values()]
    finally:
        env.stop()
    text = log.read_text()
    lines = request_log(log)
    assert {"cluster", "verb", "path", "status", "user_agent"} <= set(lines[0])
    assert [(x["path"], x["status"]) for x in lines[-3:]] == [
        ("/version", 200),
        ("/api/v1/namespaces", 200),
        ("/api/v1/namespaces", 401),
    ]
    assert not any(t in text for t in tokens)


def test_stop_is_idempotent_and_context_manager_works():
    with Lab(LabOptions(clusters=1)) as lab:
        assert lab.clusters["cluster-1"].server_url.startswith("https://127.0.0.1:")
    lab.stop()


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "meshconform.lab", *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_cli_bad_arguments_exit_2_with_one_line():
    for args in (
        ["serve", "--kubeconfig", "x", "--fault", "nope"],
        ["serve"],
        ["serve", "--kubeconfig", "x", "--clusters", "two"],
        ["serve", "--kubeconfig", "x", "--model", "primary-primary"],
        ["serve", "--kubeconfig", "x", "--model", "primary-remote", "--clusters", "1"],
    ):
        proc = _cli(*args)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err


def test_cli_serves_until_sigterm_and_exits_0(tmp_path):
    kc = tmp_path / "kc"
    proc = _cli("serve", "--kubeconfig", str(kc), "--clusters", "2")
    try:
        first = proc.stdout.readline().strip()
        assert first == "gke_meshconform-lab_us-central1-a_cluster-1"
        assert kc.exists()
    finally:  # the first line comes after `serve` set its SIGTERM handler: no wait needed
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
