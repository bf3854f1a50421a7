"""Helpers for the lab simulation self-tests: a lab (support.LabEnv), the samples deployed, exec, wait.

Everything goes through the Kubernetes API with the official client, as the suite does, so a test
observes a fault exactly where the suite would have to find it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.stream import stream
from kubernetes.utils import create_from_dict
from support import LAB_DIR, LabEnv, pod_states, running_statuses, tail, until

from meshconform.lab.istio.multicluster import REMOTE_CLUSTER_TIMEOUT

SAMPLES = Path("/work/shared/upstream-samples/samples")
READY_TIMEOUT = 15.0  # seconds; pods take ready_delay (0.3s, x12 under slow-start)
# seconds: "synced" or "timeout" after REMOTE_CLUSTER_TIMEOUT (2 s), with room for a loaded machine
SYNC_TIMEOUT = 4 * (REMOTE_CLUSTER_TIMEOUT + 1.5)
MULTICLUSTER = "istio/multiCluster=true"  # the label of the remote secrets istiod reads


def samples_dir() -> Path:
    if (SAMPLES / "helloworld" / "helloworld.yaml").is_file():
        return SAMPLES
    pytest.skip(f"needs Istio's samples at {SAMPLES}")


def docs(name: str) -> list[dict[str, Any]]:
    path = samples_dir() / name / f"{name}.yaml"
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


class Mesh(LabEnv):
    """A started lab with the guide's workloads on top; stop() it when done."""

    # -- workloads -------------------------------------------------------------------------------
    def namespace(self, i: int, name: str = "sample", labels: dict[str, str] | None = None) -> None:
        labels = {"istio.io/rev": self.lab.revisions[0]} if labels is None else labels
        self.core(i).create_namespace({"metadata": {"name": name, "labels": labels}})

    def deploy(self, i: int, versions: tuple[str, ...], ns: str = "sample", sleep: bool = True) -> None:
        api = self.api(i)
        for d in docs("helloworld"):
            if d["kind"] == "Service" or d["metadata"]["labels"].get("version") in versions:
                create_from_dict(api, d, namespace=ns)
        if sleep:
            for d in docs("sleep"):
                create_from_dict(api, d, namespace=ns)

    def pods(self, i: int, ns: str = "sample", selector: str = "") -> list[Any]:
        return list(self.core(i).list_namespaced_pod(ns, label_selector=selector).items)

    def wait_ready(
        self,
        i: int,
        ns: str = "sample",
        count: int = 1,
        timeout: float = READY_TIMEOUT,
        containers: int | None = None,
    ) -> list[Any]:
        """Until `count` pods in ns are Ready (all containers ready, or `containers` of them)."""
        pods = until(
            lambda: self.pods(i, ns),
            lambda pods: sum(_ready(p, containers) for p in pods) >= count,
            timeout,
            f"{count} ready pods in {self.contexts[i]}/{ns}",
            show=pod_states,
        )
        return pods

    def wait_held(
        self, i: int, ns: str = "sample", count: int = 1, timeout: float = READY_TIMEOUT
    ) -> list[Any]:
        """Until `count` pods in ns have a native istio-proxy running but not started (its startup
        probe failing), their app containers held back (PodInitializing): kubectl's Init:1/2."""
        return until(
            lambda: self.pods(i, ns),
            lambda pods: sum(_held(p) for p in pods) >= count,
            timeout,
            f"{count} pods held in init in {self.contexts[i]}/{ns}",
            show=pod_states,
        )

    def sleep_pod(self, i: int, ns: str = "sample") -> str:
        return str(self.pods(i, ns, "app=sleep")[0].metadata.name)

    # -- exec ------------------------------------------------------------------------------------
    def exec(
        self, i: int, pod: str, container: str, argv: list[str], ns: str = "sample"
    ) -> tuple[str, str, int]:
        """-> (stdout, stderr, exit code) of one exec over the websocket."""
        ws = stream(
            self.core(i).connect_get_namespaced_pod_exec,
            pod,
            ns,
            container=container,
            command=argv,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        out, err = [], []
        while ws.is_open():
            ws.update(timeout=5)
            out.append(ws.read_stdout() if ws.peek_stdout() else "")
            err.append(ws.read_stderr() if ws.peek_stderr() else "")
        ws.close()
        code = ws.returncode
        return "".join(out), "".join(err), int(code or 0)

    def curl(self, i: int, *args: str, ns: str = "sample") -> tuple[str, str, int]:
        return self.exec(i, self.sleep_pod(i, ns), "sleep", ["curl", *args], ns)

    def hello(self, i: int, n: int = 50, ns: str = "sample") -> list[str]:
        """n hello calls from cluster i's sleep pod in one exec -> one `<code> <reply>` per call."""
        out, _err, _code = self.curl(
            i, "-sS", "-m", "5", "-w", "%{http_code}\\n", f"http://helloworld.{ns}:5000/hello?[1-{n}]", ns=ns
        )
        return _calls(out)

    def istiod(self, i: int, revision: str | None = None) -> Any:
        sel = "app=istiod" + (f",istio.io/rev={revision}" if revision else "")
        return self.pods(i, "istio-system", sel)[0]

    def clusterz(self, i: int) -> list[dict[str, Any]]:
        out, err, code = self.exec(
            i,
            self.istiod(i).metadata.name,
            "discovery",
            ["pilot-discovery", "request", "GET", "/debug/clusterz"],
            "istio-system",
        )
        assert code == 0, err
        return list(json.loads(out))

    def wait_joined(self, i: int, timeout: float = SYNC_TIMEOUT) -> None:
        """Until every istiod of cluster i has settled each remote cluster its secrets name:
        synced, or failed to sync. Calls cross only to clusters istiod has synced, and it syncs in
        the background after start, so traffic is asserted after this. Its log says which, in
        every version (/debug/clusterz came with 1.11); a secret naming the cluster itself is
        ignored by istiod, so it is not awaited."""
        secrets = self.core(i).list_namespaced_secret("istio-system", label_selector=MULTICLUSTER).items
        remote = {key for s in secrets for key in s.data or {}} - {self.cluster(i).name}
        for pod in self.pods(i, "istio-system", "app=istiod"):
            until(lambda pod=pod: self.core(i).read_namespaced_pod_log(
                      pod.metadata.name, "istio-system", container="discovery"),
                  lambda log: all(_settled(log, name) for name in remote), timeout,
                  f"{pod.metadata.name} in {self.contexts[i]} to settle remote clusters {sorted(remote)}",
                  show=tail)

    def sync_statuses(self, i: int) -> dict[str, str]:
        """Cluster i's istiod: remote cluster id -> syncStatus, as /debug/clusterz lists them."""
        return {e["id"]: e["syncStatus"] for e in self.clusterz(i) if e["secretName"]}

    def wait_statuses(self, i: int, want: dict[str, str], timeout: float = SYNC_TIMEOUT) -> None:
        """Until cluster i's istiod lists exactly these remote clusters with these syncStatuses:
        istiod reaches its peers in the background, so a state is asserted once it has settled."""
        until(lambda: self.sync_statuses(i), lambda seen: seen == want, timeout,
              f"clusterz of {self.contexts[i]} to be {want}")


def proxy_status(pod: Any) -> Any:
    """The istio-proxy's status, native (an init container's) or classic."""
    statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
    return next((s for s in statuses if s.name == "istio-proxy"), None)


def proxy_container(pod: Any) -> Any:
    return next(c for c in (pod.spec.init_containers or []) + pod.spec.containers if c.name == "istio-proxy")


def _held(pod: Any) -> bool:
    proxy, app = proxy_status(pod), pod.status.container_statuses or []
    return bool(proxy and proxy.state.running and proxy.started is False and app
                and all(s.state.waiting and s.state.waiting.reason == "PodInitializing" for s in app))


def _ready(pod: Any, containers: int | None) -> bool:
    statuses = running_statuses(pod)
    n = sum(1 for s in statuses if s.ready)
    return bool(statuses) and (n == len(statuses) if containers is None else n >= containers)


def _settled(log: str, remote: str) -> bool:
    """istiod's log says the remote cluster synced or failed to (multicluster.py's two lines)."""
    said = (f"remote cluster {remote} informers synced", f"remote cluster {remote} failed to sync")
    return any(line in log for line in said)


def _calls(out: str) -> list[str]:
    """Pair each reply line with the status line -w wrote after it."""
    calls, body = [], ""
    for line in out.splitlines():
        if len(line) == 3 and line.isdigit():
            calls.append(f"{line} {body}".strip())
            body = ""
        else:
            body = line
    return calls


def start(tmp_path_factory: pytest.TempPathFactory, **options: Any) -> Mesh:
    """A Mesh lab of `LabOptions(**options)` (pods Ready after 0.1 s unless told); stop() it."""
    options.setdefault("ready_delay", 0.1)
    return Mesh.start(tmp_path_factory.mktemp(LAB_DIR), **options)


def guide_mesh(
    tmp_path_factory: pytest.TempPathFactory,
    sleep: bool = True,
    containers: int | None = None,
    **options: Any,
) -> Mesh:
    """The guide's setup: v1 in cluster-1, v2 in cluster-2 (vN in cluster-N), sleep everywhere, all
    ready, and (joined, by default) every istiod done with its remote clusters."""
    options.setdefault("joined", True)
    mesh = start(tmp_path_factory, **options)
    try:
        for i in range(len(mesh.contexts)):
            mesh.namespace(i)
            mesh.deploy(i, (f"v{i + 1}",), sleep=sleep)
        for i in range(len(mesh.contexts)):
            mesh.wait_ready(i, count=2 if sleep else 1, containers=containers)
            mesh.wait_joined(i)
    except BaseException:
        mesh.stop()
        raise
    return mesh


def proxy_hosts(mesh: Mesh, i: int) -> dict[str, int]:
    """`address:port` -> weight of helloworld's Envoy cluster in cluster i's sleep sidecar."""
    admin = ["pilot-agent", "request", "GET", "clusters?format=json"]
    out, err, code = mesh.exec(i, mesh.sleep_pod(i), "istio-proxy", admin, "sample")
    assert code == 0, err
    for status in json.loads(out)["cluster_statuses"]:
        if status["name"] == "outbound|5000||helloworld.sample.svc.cluster.local":
            return {
                f"{h['address']['socket_address']['address']}:{h['address']['socket_address']['port_value']}":
                h["weight"]
                for h in status["host_statuses"]
            }
    return {}
