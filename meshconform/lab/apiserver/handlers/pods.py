"""Pod exec over websocket and pod logs: the kubelet's streaming endpoints, reached through the API.

Exec: subprotocols v5/v4/v3/v2.channel.k8s.io, channel.k8s.io and their base64 variants
(k8s.io/apimachinery/pkg/util/remotecommand/constants.go, apiserver wsstream). Each message is one
channel byte (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize; v5 adds 255 = close a channel)
then payload. From v4 on, channel 3 carries a metav1.Status: Success, or Failure with reason
NonZeroExitCode and causes [{reason: ExitCode, message: "<code>"}] -- the kubelet's
pkg/kubelet/cri/streaming/remotecommand/exec.go, which the Python client's ws_client.returncode
parses (kubernetes/base/stream/ws_client.py). Pre-upgrade errors are plain HTTP Status answers with
the apiserver's (pkg/registry/core/pod/strategy.go) or kubelet's texts.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from aiohttp import WSMsgType, web

from ..lab_cluster import ExecRequest, ExecResponse, LabCluster
from ..status import BadRequestError, StatusError
from ..user import User
from .common import flag, int_param
from .routes import RequestInfo

Obj = dict[str, Any]
PROTOCOLS = (
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "v3.base64.channel.k8s.io",
    "v2.base64.channel.k8s.io",
    "base64.channel.k8s.io",
)
# A real apiserver also speaks SPDY (kubectl < 1.30 uses it); the lab does not, and says so plainly.
SPDY_REFUSAL = (
    "the meshconform lab serves exec over websockets only (v5/v4.channel.k8s.io); this client asked "
    "for SPDY: use kubectl >= 1.30 or the Python client's kubernetes.stream"
)
STDIN_TIMEOUT = 30.0  # seconds to wait for a client's stdin to end


def _container(pod: Obj, name: str, what: str) -> str:
    spec = pod.get("spec", {})
    names = [c["name"] for c in spec.get("containers") or []]
    inits = [c["name"] for c in spec.get("initContainers") or []]
    if not name:
        if len(names) == 1:
            return str(names[0])
        extra = f" or one of the init containers: [{' '.join(inits)}]" if inits else ""
        raise BadRequestError(
            f"a container name must be specified for pod {pod['metadata']['name']}, "
            f"choose one of: [{' '.join(names)}]{extra}"
        )
    if name not in names + inits:
        raise BadRequestError(f"container {name} is not valid for pod {pod['metadata']['name']}")
    return name


def _running(pod: Obj, container: str) -> bool:
    st = pod.get("status", {})
    for c in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
        if c.get("name") == container:
            return bool((c.get("state") or {}).get("running"))
    return False


def _exec_target(
    cluster: LabCluster, info: RequestInfo, request: web.Request
) -> tuple[Obj, str, tuple[str, ...]]:
    pod = cluster.store.get("pods", info.namespace, info.name)
    argv = tuple(request.query.getall("command", []))
    if not argv:
        raise BadRequestError("you must specify at least 1 command")
    if not any(flag(request, s) for s in ("stdin", "stdout", "stderr")):
        raise BadRequestError("you must specify at least one of stdin, stdout or stderr")
    container = _container(pod, request.query.get("container", ""), "exec")
    phase = pod.get("status", {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise BadRequestError(f"cannot exec into a container in a completed pod; current phase is {phase}")
    if not pod.get("spec", {}).get("nodeName"):
        raise BadRequestError(f"pod {info.name} does not have a host assigned")
    if not _running(pod, container):
        raise StatusError(f'container not found ("{container}")')  # the kubelet's answer, a 500
    return pod, container, argv


class Channels:
    """Frames one websocket by the negotiated protocol (binary channel byte, or base64 text)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.protocol = ws.ws_protocol or "channel.k8s.io"
        self.b64 = "base64" in self.protocol
        self.version = int(self.protocol[1]) if self.protocol.startswith("v") else 1

    async def send(self, channel: int, data: bytes) -> None:
        if self.b64:
            await self.ws.send_str(chr(ord("0") + channel) + base64.b64encode(data).decode())
        else:
            await self.ws.send_bytes(bytes([channel]) + data)

    async def read_stdin(self) -> bytes:
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(STDIN_TIMEOUT):
                async for msg in self.ws:
                    if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                        break
                    raw = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                    if self.b64 and raw:
                        raw = bytes([raw[0] - ord("0")]) + base64.b64decode(raw[1:])
                    if raw[:1] == b"\xff" and raw[1:2] == b"\x00":
                        break  # v5 CLOSE of stdin
                    if raw[:1] == b"\x00":
                        chunks.append(raw[1:])
        except TimeoutError:
            pass
        return b"".join(chunks)


def exit_status(result: ExecResponse, argv: tuple[str, ...]) -> Obj:
    if result.exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    detail = (
        f"command '{' '.join(argv)}' exited with {result.exit_code}: {result.stderr.decode(errors='replace')}"
    )
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {detail}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(result.exit_code)}]},
    }


async def run_handlers(cluster: LabCluster, req: ExecRequest) -> ExecResponse:
    for handler in cluster.exec_handlers:
        result = await handler(req)
        if result is not None:
            return result
    # what containerd/runc report for a binary missing from the image
    msg = (
        f"OCI runtime exec failed: exec failed: container_linux.go:370: starting container process caused: "
        f'exec: "{req.argv[0]}": executable file not found in $PATH: unknown\r\n'
    )
    return ExecResponse(stdout=msg.encode(), exit_code=126)


async def exec_(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    pod, container, argv = _exec_target(cluster, info, request)
    if "spdy" in request.headers.get("Upgrade", "").lower():
        raise BadRequestError(SPDY_REFUSAL)
    ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True)
    if not ws.can_prepare(request).ok:
        raise BadRequestError("Upgrade request required")
    await ws.prepare(request)
    cluster.exec_sessions += 1
    ch = Channels(ws)
    tty = flag(request, "tty")
    stdin = await ch.read_stdin() if flag(request, "stdin") else None
    result = await run_handlers(cluster, ExecRequest(cluster, pod, container, argv, stdin, tty))
    if flag(request, "stdout") and result.stdout:
        await ch.send(1, result.stdout)
    if flag(request, "stderr") and result.stderr:
        await ch.send(1 if tty else 2, result.stderr)
    if ch.version >= 4:
        await ch.send(3, json.dumps(exit_status(result, argv)).encode())
    elif result.exit_code:
        await ch.send(3, f"command terminated with non-zero exit code: {result.exit_code}".encode())
    await ws.close()
    return ws


async def logs(
    request: web.Request, cluster: LabCluster, info: RequestInfo, user: User
) -> web.StreamResponse:
    pod = cluster.store.get("pods", info.namespace, info.name)
    container = _container(pod, request.query.get("container", ""), "logs")
    if not _running(pod, container) and pod.get("status", {}).get("phase") in (None, "Pending"):
        raise BadRequestError(
            f'container "{container}" in pod "{info.name}" is waiting to start: ContainerCreating'
        )
    tail = int_param(request, "tailLines")
    text = ""
    for provider in cluster.log_providers:
        out = provider(pod, container, tail)
        if out is not None:
            text = out
            break
    if tail is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail:]) if tail > 0 else ""
    return web.Response(text=text, content_type="text/plain")
