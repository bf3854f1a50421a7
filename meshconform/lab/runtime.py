"""The Lab: N clusters, one event loop in one thread, started and stopped as one unit.

Start order (ARCHITECTURE.md): create clusters -> bootstrap (a fresh GKE cluster's state, then
lab-sim's `install`) -> fault effects -> controllers (`start` hooks) -> HTTPS servers -> ready.
Everything after cluster creation runs on the loop thread, so the model is only ever touched from
one thread. lab-sim's modules plug in with `install(lab)`, `start(lab)`, `async serving(lab)`
(SIM_MODULES).
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, TypeVar

from . import bootstrap
from .apiserver.lab_cluster import Clusters, LabCluster
from .apiserver.listeners import Servers
from .controllers import serviceaccounts
from .faults import EFFECTS
from .istio import kube_support
from .istio import revisions as rv
from .kubeconfig import write_kubeconfig
from .options import LabOptions

T = TypeVar("T")
# lab-sim's modules, in install order; each may define install(lab), start(lab) and serving(lab).
# fault_effects comes before istio: its kubelet behaviours must be in place when istiod pods are
# created, and importing it registers the fault effects that start() applies.
SIM_MODULES = ("controllers", "fault_effects", "istio", "traffic")
START_TIMEOUT = 60.0  # seconds; a start that takes longer is a bug, not a slow machine


def sim_modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__package__}.{name}") for name in SIM_MODULES]


class Lab:
    """N emulated clusters behind real HTTPS API servers. Use as a context manager or start/stop."""

    def __init__(self, options: LabOptions | None = None) -> None:
        self.options = options or LabOptions()
        self.faults = self.options.validate()
        self.joined = self.options.joined or self.faults.joined
        # revision names, and the image tag each runs (a `REV@VERSION` entry names it); the
        # revisions of clusters named in cluster_revisions too
        self.revisions = tuple(rv.split_spec(spec)[0] for spec in self.options.revisions)
        specs = [*self.options.revisions, *(s for _, own in self.options.cluster_revisions for s in own)]
        self.revision_tags = dict(rv.split_spec(spec) for spec in specs)
        self.clusters: Clusters = Clusters()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: Servers | None = None
        self._stopped = threading.Event()

    # -- public ---------------------------------------------------------------------------------
    @property
    def cluster_names(self) -> list[str]:
        return self.options.cluster_names

    @property
    def contexts(self) -> list[str]:
        return [c.context for c in self.clusters.values() if not c.outside]

    def start(self) -> Lab:
        if self._thread is not None:
            return self
        self.clusters = Clusters.create(self.options.clusters, self.faults)
        for c in self.clusters.values():  # the Kubernetes its mesh's revisions support
            specs = self.options.revisions_of(c.name)
            c.release = kube_support.release_for(rv.split_spec(s)[1] for s in specs)
        self._servers = Servers(self)
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="meshconform-lab", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def write_kubeconfig(self, path: str | Path) -> list[str]:
        return write_kubeconfig([c for c in self.clusters.values() if not c.outside], Path(path))

    def stats(self) -> dict[str, Any]:
        by_cluster = {c.name: sum(c.api_requests.values()) for c in self.clusters.values()}
        by_verb: dict[str, int] = {}
        for c in self.clusters.values():
            for verb, n in c.api_requests.items():
                by_verb[verb] = by_verb.get(verb, 0) + n
        return {
            "api_requests": sum(by_cluster.values()),
            "exec_sessions": sum(c.exec_sessions for c in self.clusters.values()),
            "by_cluster": by_cluster,
            "by_verb": by_verb,
        }

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the lab's loop and return its result (tests poking the model)."""
        if self.loop is None:
            raise RuntimeError("the lab is not running")

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def cluster(self, name: str) -> LabCluster:
        return self.clusters[name]

    def install_revision(self, cluster: str, spec: str) -> None:
        """Install revision REV (or REV@VERSION) into a running cluster, beside the ones it runs,
        as `istioctl install --set revision=REV` does (istio/upgrade.py)."""
        from .istio import upgrade

        self.call(upgrade.install_revision, self, cluster, spec)

    def set_tag(self, cluster: str, tag: str, revision: str) -> None:
        """`istioctl tag set TAG --revision REV --overwrite` in a running cluster."""
        from .istio import upgrade

        self.call(upgrade.set_tag, self, cluster, tag, revision)

    def stop(self) -> None:
        thread, loop = self._thread, self.loop
        if thread is None or loop is None or self._stopped.is_set():
            return
        self._stopped.set()
        if loop.is_running():
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._shutdown()))
        thread.join(timeout=30)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the loop thread -----------------------------------------------------------------------
    def _run(self, ready: Future[None]) -> None:
        loop = self.loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._boot())
        except BaseException as e:
            ready.set_exception(e)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _boot(self) -> None:
        mods = sim_modules()
        for c in self.clusters.values():
            bootstrap.install(c)
            serviceaccounts.start(c)
        for mod in mods:
            if hasattr(mod, "install"):
                mod.install(self)
        for fault in self.faults:
            for fn in EFFECTS.get(fault.name, []):
                fn(self, fault)
        for mod in mods:
            if hasattr(mod, "start"):
                mod.start(self)
        assert self._servers is not None
        await self._servers.start()
        for mod in mods:  # lab-sim: work that needs the servers' URLs (joining the clusters)
            if hasattr(mod, "serving"):
                await mod.serving(self)

    async def _shutdown(self) -> None:
        if self._servers is not None:
            await self._servers.stop()
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.get_running_loop().stop()
