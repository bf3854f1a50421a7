"""HTTPS listeners: one aiohttp app per cluster on a free loopback port, each with its own CA.

Ports come from the kernel (bind to port 0), so any number of labs coexist on one machine.
TLS: the cluster's trustme CA issues a serving certificate for 127.0.0.1, localhost and 127.0.0.2;
ALPN offers only http/1.1 (Go clients would otherwise try HTTP/2, which aiohttp does not serve).
Each server also listens at 127.0.0.2 on the same port, as a real API server answers at a public
and a private endpoint: what a remote secret may name while the user's kubeconfig names the other.
Where 127.0.0.2 is not configured (macOS has only 127.0.0.1 on lo0), the alias is `localhost`.
"""

from __future__ import annotations

import ssl
from typing import IO, Any

from aiohttp import web

from .handlers.app import build_app
from .handlers.flaky import Flaky
from .lab_cluster import ALIAS_HOST

SHUTDOWN_TIMEOUT = 1.0  # seconds open watches get to finish when the lab stops


class Servers:
    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self._runners: list[web.AppRunner] = []
        self.request_log: IO[str] | None = None

    def _ssl(self, cluster: Any) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cluster.server_cert.configure_cert(ctx)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    async def start(self) -> None:
        path = self.lab.options.request_log
        self.request_log = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        for i, cluster in enumerate(self.lab.clusters.values()):
            flaky = Flaky(self.lab.options.seed + i) if self.lab.faults.has("flaky-api") else None
            runner = web.AppRunner(
                build_app(cluster, self, flaky),
                access_log=None,
                handle_signals=False,
                shutdown_timeout=SHUTDOWN_TIMEOUT,
                # As an apiserver cancels a request's context when its client goes: a watch the
                # client closed early ends now, not at its next event or at stop (~0.3 s a run).
                handler_cancellation=True,
            )
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self._ssl(cluster), reuse_address=False)
            await site.start()
            self._runners.append(runner)
            port = runner.addresses[0][1]
            cluster.server_url = f"https://127.0.0.1:{port}"
            cluster.alias_url = await self._alias(runner, cluster, port)

    async def _alias(self, runner: web.AppRunner, cluster: Any, port: int) -> str:
        site = web.TCPSite(runner, ALIAS_HOST, port, ssl_context=self._ssl(cluster), reuse_address=False)
        try:
            await site.start()
        except OSError:  # no such address here, or the port is taken at it
            return f"https://localhost:{port}"
        return f"https://{ALIAS_HOST}:{port}"

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        if self.request_log is not None:
            self.request_log.close()
            self.request_log = None
