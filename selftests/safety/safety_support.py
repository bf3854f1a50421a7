"""Driving the suite as a user does, against a lab that outlives it, and looking at what is left.

The suite always runs in a subprocess (`python -m pytest ...` from the repository root), so that
its exit code, its terminal output and its signal handling are what a CI job sees. The lab runs
either in this process (`Lab`, started per test: ~0.1 s) or as `python -m meshconform.lab serve`
in its own process; either way it survives the suite's death, so that what the suite left behind
can be inspected afterwards through the official Python client, as a user would with kubectl.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MANAGED = "app.kubernetes.io/managed-by=meshconform"
# A refused run stops in pytest_configure: imports (~3 s on a loaded 2-core box) plus preflight.
REFUSAL_SECONDS = 60.0
SUITE_SECONDS = 240.0


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def tail(self, limit: int = 3000) -> str:
        head = f"exit {self.returncode} after {self.seconds:.1f}s"
        return f"{head}\n{self.stdout[-limit:]}{self.stderr[-limit:]}"

    def error_lines(self) -> list[str]:
        """The lines pytest prints for a usage error (`ERROR: ...`)."""
        return [line for line in self.output.splitlines() if line.startswith("ERROR:")]


def suite_env() -> dict[str, str]:
    """This self-test's environment without what pytest or xdist set for *this* run."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MESHCONFORM_"))}


def suite_command(report_dir: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--report-dir={report_dir}", *args
    ]


def run_suite(
    report_dir: Path, *args: str, timeout: float = SUITE_SECONDS, env: dict[str, str] | None = None
) -> Run:
    """`python -m pytest ARGS` from the repository root, waited for."""
    started = time.monotonic()
    proc = subprocess.run(
        suite_command(report_dir, *args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**suite_env(), **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


@dataclass
class Background:
    """A suite run in the background, its output in files (no pipe can fill up and block it)."""

    proc: subprocess.Popen[bytes]
    out: Path
    started: float = field(default_factory=time.monotonic)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = SUITE_SECONDS) -> Run:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        text = self.out.read_text(errors="replace")
        return Run(code, text, "", time.monotonic() - self.started)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_suite(report_dir: Path, *args: str, env: dict[str, str] | None = None) -> Background:
    report_dir.mkdir(parents=True, exist_ok=True)
    out = report_dir.parent / f"{report_dir.name}.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            suite_command(report_dir, *args), cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
            env={**suite_env(), **(env or {})}, start_new_session=True,  # its own group, as a shell job
        )
    return Background(proc, out)


# -- labs -----------------------------------------------------------------------------------------


@dataclass
class LabTarget:
    """A lab's kubeconfig and contexts, and the suite arguments that point at them."""

    kubeconfig: Path
    contexts: list[str]
    lab: Any = None  # the in-process Lab, when there is one
    process: Any = None  # the `serve` process, when there is one

    def args(self, *contexts: str) -> list[str]:
        chosen = contexts or tuple(self.contexts)
        return [f"--kubeconfig={self.kubeconfig}", *(f"--ctx={c}" for c in chosen)]

    def api(self, context: str) -> Any:
        """An ApiClient for one context, as a user's script would make it."""
        from kubernetes import config

        return config.new_client_from_config(str(self.kubeconfig), context=context)

    def core(self, context: str) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api(context))


@contextmanager
def lab_in_process(tmp_path: Path, **options: Any) -> Iterator[LabTarget]:
    from meshconform.lab import Lab, LabOptions

    kubeconfig = tmp_path / "lab-kubeconfig"
    with Lab(LabOptions(**options)) as lab:
        lab.start()
        contexts = lab.write_kubeconfig(kubeconfig)
        yield LabTarget(kubeconfig, contexts, lab)


@contextmanager
def lab_served(tmp_path: Path, *args: str) -> Iterator[LabTarget]:
    """`python -m meshconform.lab serve --kubeconfig PATH ARGS` in its own process."""
    kubeconfig = tmp_path / "served-kubeconfig"
    log = tmp_path / "serve.out"
    cmd = [sys.executable, "-m", "meshconform.lab", "serve", f"--kubeconfig={kubeconfig}", *args]
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=suite_env())
    try:
        eventually(lambda: "serving" in log.read_text(), 60, lambda: f"lab did not start: {log.read_text()}")
        contexts = [line for line in log.read_text().splitlines() if line.startswith("gke_")]
        yield LabTarget(kubeconfig, contexts, process=proc)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def eventually(ok: Callable[[], bool], seconds: float, why: Callable[[], str], pause: float = 0.1) -> None:
    deadline = time.monotonic() + seconds
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(why())
        time.sleep(pause)


# -- what is in the clusters ----------------------------------------------------------------------


def labelled(target: LabTarget, selector: str = MANAGED) -> list[str]:
    """Every object carrying `selector` in every cluster, of every listable kind the API serves."""
    from kubernetes.dynamic import DynamicClient

    found = []
    for context in target.contexts:
        dyn = DynamicClient(target.api(context))
        for resource in dyn.resources.search():
            if "list" not in (resource.verbs or []) or "/" in resource.name or not resource.kind:
                continue
            if resource.kind.endswith("List") or resource.group in ("authorization.k8s.io",):
                continue
            items = dyn.request("GET", resource.path(), query_params=[("labelSelector", selector)])
            for item in items.items or []:
                meta = item.metadata
                where = f"{meta.namespace}/" if meta.namespace else ""
                found.append(f"{context.rsplit('_', 1)[-1]}: {resource.kind} {where}{meta.name}")
    return sorted(set(found))


def assert_nothing_labelled(target: LabTarget, seconds: float = 20.0) -> None:
    """No object of ours remains (a deleted namespace takes a moment to be emptied and go)."""
    last: list[list[str]] = [[]]

    def clean() -> bool:
        last[0] = labelled(target)
        return not last[0]

    eventually(clean, seconds, lambda: f"left behind after {seconds:g}s: {last[0]}", pause=0.5)


def namespace_exists(target: LabTarget, context: str, name: str) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        target.core(context).read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def snapshot(target: LabTarget, context: str, namespace: str, kind: str, name: str) -> tuple[str, str, Any]:
    """(uid, resourceVersion, labels) of one object: any write changes the resourceVersion."""
    core = target.core(context)
    if kind == "Namespace":
        obj = core.read_namespace(name)
    elif kind == "ConfigMap":
        obj = core.read_namespaced_config_map(name, namespace)
    else:
        obj = core.read_namespaced_secret(name, namespace)
    return obj.metadata.uid, obj.metadata.resource_version, dict(obj.metadata.labels or {})


# -- a slow network -------------------------------------------------------------------------------


class DelayProxy:
    """A TCP forwarder to one lab API server that can be made slow at will: every chunk the client
    sends waits `delay` seconds. TLS passes through untouched (the lab's certificate names
    127.0.0.1, not a port), so the suite sees its real cluster, only slower."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.delay = 0.0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, slow: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if slow and self.delay:
                    time.sleep(self.delay)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for conn in (source, sink):
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        for conn in self._open:
            conn.close()


@contextmanager
def through_proxies(target: LabTarget, tmp_path: Path) -> Iterator[tuple[LabTarget, list[DelayProxy]]]:
    """The same lab reached through one DelayProxy per cluster (a second kubeconfig)."""
    import yaml

    doc = yaml.safe_load(target.kubeconfig.read_text())
    proxies = []
    for cluster in doc["clusters"]:
        server = cluster["cluster"]["server"]
        proxy = DelayProxy(int(server.rsplit(":", 1)[1]))
        proxies.append(proxy)
        cluster["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path = tmp_path / "proxied-kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    try:
        yield LabTarget(path, target.contexts), proxies
    finally:
        for proxy in proxies:
            proxy.close()
