"""What the safety self-tests need beyond selftests/support.py: a look at everything the suite left
behind, and a network that can be made slow.

The suite always runs in a subprocess (support.run_suite / start_suite), so that its exit code,
its terminal output and its signal handling are what a CI job sees. The lab runs either in this
process (support.LabEnv.start, started per test: ~0.1 s) or as `python -m meshconform.lab
serve` in its own process (support.LabEnv.serve); either way it survives the suite's death, so
that what the suite left behind can be inspected afterwards through the official Python client, as
a user would with kubectl.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

import support
from support import LabEnv, eventually

MANAGED = "app.kubernetes.io/managed-by=meshconform"
# A refused run stops in pytest_configure: imports (~3 s on a loaded 2-core box) plus preflight.
REFUSAL_SECONDS = 60.0
SUITE_SECONDS = 240.0  # this package's bound on a whole run, where a test gives none
run_suite = partial(support.run_suite, timeout=SUITE_SECONDS)
start_suite = partial(support.start_suite, timeout=SUITE_SECONDS)


# -- what is in the clusters ----------------------------------------------------------------------


def labelled(target: LabEnv, selector: str = MANAGED) -> list[str]:
    """Every object carrying `selector` in every cluster, of every listable kind the API serves."""
    from kubernetes.dynamic import DynamicClient

    found = []
    for context in target.contexts:
        # A discovery cache of its own: the client's default one is a file in the temp dir named by
        # host:port, which an earlier lab on the same port (serving other kinds) may have left.
        with tempfile.TemporaryDirectory() as cache:
            dyn = DynamicClient(target.api(context), cache_file=f"{cache}/discovery.json")
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


def assert_nothing_labelled(target: LabEnv, seconds: float = 20.0) -> None:
    """No object of ours remains (a deleted namespace takes a moment to be emptied and go)."""
    last: list[list[str]] = [[]]

    def clean() -> bool:
        last[0] = labelled(target)
        return not last[0]

    eventually(clean, seconds, lambda: f"left behind after {seconds:g}s: {last[0]}", pause=0.5)


def snapshot(target: LabEnv, context: str, namespace: str, kind: str, name: str) -> tuple[str, str, Any]:
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
        self.held = 0  # chunks delayed so far: a request is being held once this moves
        self._count = threading.Lock()
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
                    with self._count:
                        self.held += 1
                    time.sleep(self.delay)  # the slowness itself
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
def through_proxies(target: LabEnv, tmp_path: Path) -> Iterator[tuple[LabEnv, list[DelayProxy]]]:
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
        yield LabEnv(path, target.contexts), proxies
    finally:
        for proxy in proxies:
            proxy.close()
