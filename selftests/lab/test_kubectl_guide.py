"""The guide's non-exec steps with a real kubectl (Debian's 1.20 build) against lab contexts.

kubectl 1.20 execs over SPDY, which the lab does not serve (it speaks the websocket protocols the
Python client uses), so step 6 is covered by test_api_exec.py instead.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from labapi_support import Running, kubectl, kubectl_path, start_lab
from support import until

SAMPLES = Path("/work/shared/upstream-samples/samples")
HELLO = SAMPLES / "helloworld" / "helloworld.yaml"
SLEEP = SAMPLES / "sleep" / "sleep.yaml"
REV = "asm-173-3"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Running:
    kubectl_path()
    running = start_lab(tmp_path_factory, clusters=2, ready_delay=0.1, revisions=(REV,))  # the guide's
    yield running
    running.stop()


def k(env: Running, ctx: int, *args: str, **kw):
    return kubectl(env.kubeconfig, "--context", env.lab.contexts[ctx], *args, **kw)


def _istio_simulated() -> bool:
    try:
        return hasattr(importlib.import_module("meshconform.lab.istio"), "install")
    except ModuleNotFoundError:
        return False


def test_get_and_output_formats(env):
    out = k(env, 0, "get", "namespaces").stdout
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "AGE"] and "kube-system" in out
    wide = k(env, 0, "get", "nodes", "-o", "wide").stdout
    assert "INTERNAL-IP" in wide.splitlines()[0] and "Ready" in wide
    assert "us-central1-a" in k(env, 0, "get", "nodes", "-o", "jsonpath={.items[0].metadata.labels}").stdout
    assert "ClusterRole" in k(env, 0, "get", "clusterrolebinding", "cluster-admin", "-o", "yaml").stdout
    assert "destinationrules" in k(env, 0, "api-resources").stdout
    assert k(env, 0, "auth", "can-i", "delete", "nodes").stdout.strip() == "yes"


def test_guide_step2_find_the_revision(env):
    if not _istio_simulated():
        pytest.skip("lab-sim's Istio install (meshconform.lab.istio.install) is not in the tree yet")
    out = k(env, 0, "-n", "istio-system", "get", "pods", "-l", "app=istiod", "--show-labels").stdout
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    assert rows and all(f"istio.io/rev={REV}" in r and "app=istiod" in r for r in rows)


def test_guide_step3_and_4_install_helloworld(env):
    for ctx in (0, 1):
        assert k(env, ctx, "create", "namespace", "sample").stdout.strip() == "namespace/sample created"
        out = k(
            env, ctx, "label", "namespace", "sample", "istio-injection-", f"istio.io/rev={REV}", "--overwrite"
        )
        assert out.stdout.strip().splitlines()[-1] == "namespace/sample labeled"
        assert 'label "istio-injection" not found.' in out.stdout + out.stderr
        made = k(env, ctx, "create", "-f", str(HELLO), "-l", "app=helloworld", "-n", "sample").stdout
        # the guide's -l app=helloworld also matches both Deployments, as on a real cluster
        assert made.splitlines() == [
            "service/helloworld created",
            "deployment.apps/helloworld-v1 created",
            "deployment.apps/helloworld-v2 created",
        ]
    again = k(
        env,
        0,
        "create",
        "-f",
        str(HELLO),
        "-l",
        "app=helloworld",
        "-l",
        "version=v1",
        "-n",
        "sample",
        check=False,
    )
    assert again.returncode == 1
    assert 'Error from server (AlreadyExists): error when creating "' in again.stderr
    assert 'deployments.apps "helloworld-v1" already exists' in again.stderr
    labels = k(env, 0, "get", "ns", "sample", "-o", "jsonpath={.metadata.labels}").stdout
    assert f'"istio.io/rev":"{REV}"' in labels and "istio-injection" not in labels


def _pod_rows(env: Running, ctx: int, *args: str) -> list[list[str]]:
    out = k(env, ctx, "get", "pod", "-n", "sample", *args).stdout
    return [line.split() for line in out.splitlines()[1:]]


def test_guide_pods_become_ready(env):
    want = "2/2" if _istio_simulated() else "1/1"
    rows = until(
        lambda: _pod_rows(env, 0),
        lambda rows: bool(rows) and all(r[1] == want and r[2] == "Running" for r in rows),
        30, f"kubectl get pod to show every pod {want} Running", pause=0.3,
    )
    assert {r[0].rsplit("-", 2)[0] for r in rows} == {"helloworld-v1", "helloworld-v2"}
    k(env, 0, "wait", "--for=condition=Ready", "pod", "-l", "app=helloworld", "-n", "sample", "--timeout=30s")


def test_guide_step5_apply_sleep(env):
    out = k(env, 0, "apply", "-f", str(SLEEP), "-n", "sample").stdout
    assert "deployment.apps/sleep created" in out and "serviceaccount/sleep created" in out
    again = k(env, 0, "apply", "-f", str(SLEEP), "-n", "sample").stdout
    assert "deployment.apps/sleep unchanged" in again


REMOTE_SECRET = """apiVersion: v1
kind: Secret
metadata:
  annotations:
    networking.istio.io/cluster: cluster-2
  creationTimestamp: null
  labels:
    istio/multiCluster: "true"
  name: istio-remote-secret-cluster-2
  namespace: istio-system
stringData:
  cluster-2: |
    apiVersion: v1
    clusters:
    - cluster:
        certificate-authority-data: {ca}
        server: {server}
      name: cluster-2
    contexts:
    - context:
        cluster: cluster-2
        user: cluster-2
      name: cluster-2
    current-context: cluster-2
    kind: Config
    preferences: {{}}
    users:
    - name: cluster-2
      user:
        token: not-a-real-token
---
"""


def test_guide_step1_apply_a_remote_secret(env):
    import base64

    k(env, 0, "create", "namespace", "istio-system", check=False)
    c2 = env.cluster(1)
    manifest = REMOTE_SECRET.format(ca=base64.b64encode(c2.ca_pem).decode(), server=c2.server_url)
    out = k(env, 0, "apply", "-f", "-", stdin=manifest).stdout
    assert out.strip() == "secret/istio-remote-secret-cluster-2 created"
    shown = k(env, 0, "get", "secret", "-n", "istio-system", "-l", "istio/multiCluster=true").stdout
    assert "istio-remote-secret-cluster-2" in shown and "Opaque" in shown
    assert k(env, 0, "apply", "-f", "-", stdin=manifest).stdout.strip() == (
        "secret/istio-remote-secret-cluster-2 configured"
    )  # stringData is never echoed back, as upstream


def test_guide_step7_delete_namespace(env):
    for ctx in (0, 1):
        k(env, ctx, "delete", "ns", "sample", "--wait=false")
        waited = k(env, ctx, "wait", "--for=delete", "namespace/sample", "--timeout=30s", check=False)
        # kubectl 1.20 reports an object that is already gone as "no matching resources found"
        assert waited.returncode == 0 or "no matching resources found" in waited.stderr, waited.stderr
        gone = k(env, ctx, "get", "ns", "sample", check=False)
        assert gone.returncode == 1 and 'namespaces "sample" not found' in gone.stderr


def test_apply_diff_and_server_side_apply(env, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: default\ndata:\n  a: '1'\n"
    )
    assert k(env, 0, "apply", "-f", str(manifest)).stdout.strip() == "configmap/cfg created"
    manifest.write_text(manifest.read_text().replace("a: '1'", "a: '2'"))
    diff = k(env, 0, "diff", "-f", str(manifest), check=False)
    assert diff.returncode == 1 and '-  a: "1"' in diff.stdout and '+  a: "2"' in diff.stdout
    assert k(env, 0, "apply", "-f", str(manifest)).stdout.strip() == "configmap/cfg configured"
    assert (
        k(env, 0, "apply", "--server-side", "-f", str(manifest)).stdout.strip()
        == "configmap/cfg serverside-applied"
    )
    assert k(env, 0, "get", "cm", "cfg", "-o", "jsonpath={.data.a}").stdout == "2"
