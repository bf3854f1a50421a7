"""Traffic inside the lab: `curl` in any pod, and the sidecar's admin view via `pilot-agent request`.

`start(lab)` registers two exec handlers per cluster: curl (also `sh -c 'curl ...'` when the shell
line is a single plain curl command), run by traffic.curl over traffic.session; and `pilot-agent
request GET clusters[?format=json]` in istio-proxy, which prints the Envoy admin /clusters view that
`istioctl proxy-config endpoints` reads; `pilot-agent request GET stats/prometheus`, the proxy's
Istio standard metrics (traffic.stats); and a log provider for the sample containers. Nothing
sleeps: a thousand calls are computed, not waited for, and each reports the time it would take.
"""

from __future__ import annotations

import random
import shlex
import zlib
from typing import Any

from ..apiserver.lab_cluster import ExecRequest, ExecResponse
from . import curl, envoy, logs, net, stats
from .session import Session

_SHELL_META = set("|&;<>$`(){}*?!\\\n")
_execs: dict[str, int] = {}


def _caller(req: ExecRequest) -> net.Caller:
    uid = str(req.pod["metadata"].get("uid", req.pod["metadata"].get("name", "")))
    n = _execs[uid] = _execs.get(uid, 0) + 1
    rng = random.Random(zlib.crc32(f"{uid}/{n}".encode()))
    return net.Caller(req.cluster, req.pod, req.container, rng)


def _curl_argv(argv: list[str]) -> list[str] | None:
    if argv and argv[0].rsplit("/", 1)[-1] == "curl":
        return argv[1:]
    if len(argv) == 3 and argv[0].rsplit("/", 1)[-1] in ("sh", "bash", "ash") and argv[1] == "-c":
        line = argv[2]
        if _SHELL_META & set(line.replace("\\n", "")):
            return None
        words = shlex.split(line)
        if words and words[0].rsplit("/", 1)[-1] == "curl":
            return words[1:]
    return None


async def curl_handler(req: ExecRequest) -> ExecResponse | None:
    args = _curl_argv(list(req.argv))
    if args is None:
        return None
    session = Session(_caller(req))
    out, err, code = curl.run(args, session.fetch)
    return ExecResponse(stdout=out, stderr=err, exit_code=code)


async def pilot_agent_handler(req: ExecRequest) -> ExecResponse | None:
    argv = list(req.argv)
    if not argv or argv[0].rsplit("/", 1)[-1] != "pilot-agent" or req.container != "istio-proxy":
        return None
    if argv[1:2] != ["request"] or len(argv) < 4:
        return ExecResponse(stderr=b'Error: unknown command for "pilot-agent"\n', exit_code=1)
    method, path = argv[2].upper(), argv[3].lstrip("/")
    route, _, query = path.partition("?")
    if method == "GET" and route == "clusters":
        text = envoy.admin_clusters(_caller(req), "format=json" in query)
        return ExecResponse(stdout=text.encode())
    if method == "GET" and route == "stats/prometheus":
        metrics = envoy.proxy_state(req.cluster, req.pod).metrics
        return ExecResponse(stdout=stats.render(metrics).encode())
    if method == "GET" and route in ("ready", "healthz/ready"):
        ready = net.Caller(req.cluster, req.pod, req.container, random.Random(0)).proxy_ready()
        return ExecResponse(stdout=b"LIVE\n" if ready else b"", exit_code=0 if ready else 1)
    return ExecResponse(
        stderr=b"Error: received unsuccessful status code 404: invalid path. admin commands are "
        b"listed at /help\n",
        exit_code=1,
    )


def start(lab: Any) -> None:
    for cluster in lab.clusters.values():
        cluster.exec_handlers.append(curl_handler)
        cluster.exec_handlers.append(pilot_agent_handler)
        cluster.log_providers.append(logs.provide)
