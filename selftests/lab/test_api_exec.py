"""Pod exec over websocket (v5/v4/base64 channel protocols, status channel exit codes) and pod logs."""

from __future__ import annotations

import base64
import json
import ssl

import pytest
import websocket
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream
from labapi_support import Running, start_lab
from support import until

from meshconform.lab.apiserver.lab_cluster import ExecRequest, ExecResponse


async def fake_tools(req: ExecRequest) -> ExecResponse | None:
    """`lab-echo ARGS` prints ARGS; `lab-exit N` fails with N; `lab-cat` echoes stdin."""
    if req.argv[0] == "lab-echo":
        return ExecResponse(stdout=(" ".join(req.argv[1:]) + "\n").encode(), stderr=b"to stderr\n")
    if req.argv[0] == "lab-exit":
        return ExecResponse(stderr=b"boom\n", exit_code=int(req.argv[1]))
    if req.argv[0] == "lab-cat":
        return ExecResponse(stdout=req.stdin or b"")
    return None


def fake_logs(pod: dict, container: str, tail: int | None) -> str | None:
    return "".join(f"{container} line {i}\n" for i in range(5)) if container == "app" else None


def _until_running(core: client.CoreV1Api) -> None:
    """The lab's kubelet makes the pod Running (exec into a Pending pod is refused)."""
    until(lambda: core.read_namespaced_pod("box", "ex").status.phase, lambda phase: phase == "Running", 3,
          "pod ex/box to be Running")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Running:
    running = start_lab(tmp_path_factory, clusters=1)
    c = running.cluster()
    running.lab.call(lambda: (c.exec_handlers.insert(0, fake_tools), c.log_providers.insert(0, fake_logs)))
    core = client.CoreV1Api(running.api())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="ex")))
    node = running.lab.call(lambda: c.store.iter("nodes")[0]["metadata"]["name"])
    containers = [client.V1Container(name=n, image="busybox:1.32") for n in ("app", "side")]
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="box"), spec=client.V1PodSpec(node_name=node, containers=containers)
    )
    core.create_namespaced_pod("ex", pod)
    _until_running(core)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def core(env: Running) -> client.CoreV1Api:
    return client.CoreV1Api(env.api())


def _exec(core: client.CoreV1Api, command: list[str], **kw):
    return stream(
        core.connect_get_namespaced_pod_exec,
        "box",
        "ex",
        command=command,
        container=kw.pop("container", "app"),
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        **kw,
    )


def test_stream_returns_output(core):
    assert "hello world\n" in _exec(core, ["lab-echo", "hello", "world"])


def test_returncode_from_the_status_channel(core):
    resp = _exec(core, ["lab-exit", "7"], _preload_content=False)
    resp.run_forever(timeout=5)
    assert resp.returncode == 7
    ok = _exec(core, ["lab-echo", "x"], _preload_content=False)
    ok.run_forever(timeout=5)
    assert ok.returncode == 0


def test_unknown_binary_fails_as_containerd_reports(core):
    resp = _exec(core, ["no-such-tool"], _preload_content=False)
    resp.run_forever(timeout=5)
    assert resp.returncode == 126
    assert 'exec: "no-such-tool": executable file not found in $PATH' in resp.read_all()


def _ws(env: Running, query: str, protocol: str) -> websocket.WebSocket:
    c = env.cluster()
    ctx = ssl.create_default_context(cadata=c.ca_pem.decode())
    ws = websocket.WebSocket(sslopt={"context": ctx})
    ws.connect(
        c.server_url.replace("https", "wss") + "/api/v1/namespaces/ex/pods/box/exec?" + query,
        header=[f"Authorization: Bearer {c.admin_token}"],
        subprotocols=[protocol],
    )
    return ws


def _frames(ws: websocket.WebSocket) -> list[bytes]:
    out = []
    while True:
        try:
            op, data = ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            break
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        out.append(data)
    return out


def test_v4_status_channel_shape(env):
    ws = _ws(env, "command=lab-exit&command=3&container=app&stdout=true&stderr=true", "v4.channel.k8s.io")
    assert ws.subprotocol == "v4.channel.k8s.io"
    frames = _frames(ws)
    assert frames[0] == b"\x02boom\n"
    status = json.loads(frames[-1][1:])
    assert frames[-1][0] == 3
    assert status == {
        "metadata": {},
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "message": "command terminated with non-zero exit code: command 'lab-exit 3' exited with 3: boom\n",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }


def test_base64_protocol_and_stdin_with_v5_close(env):
    ws = _ws(env, "command=lab-cat&container=app&stdin=true&stdout=true", "v4.base64.channel.k8s.io")
    ws.send("0" + base64.b64encode(b"piped").decode())
    ws.close(status=1000)
    ws2 = _ws(env, "command=lab-cat&container=app&stdin=true&stdout=true", "v5.channel.k8s.io")
    ws2.send_binary(b"\x00from v5")
    ws2.send_binary(b"\xff\x00")  # v5 CLOSE of stdin
    frames = _frames(ws2)
    assert frames[0] == b"\x01from v5"
    assert json.loads(frames[-1][1:])["status"] == "Success"


def test_pre_upgrade_errors(env, core):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        _ws(env, "command=lab-echo&stdout=true", "v4.channel.k8s.io")
    assert e.value.status_code == 400
    assert b"a container name must be specified for pod box, choose one of: [app side]" in e.value.resp_body
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        _ws(env, "command=lab-echo&stdout=true&container=nope", "v4.channel.k8s.io")
    assert b"container nope is not valid for pod box" in e.value.resp_body
    with pytest.raises(ApiException):
        stream(core.connect_get_namespaced_pod_exec, "ghost", "ex", command=["x"], stdout=True)


def test_exec_sessions_are_counted(env, core):
    before = env.lab.stats()["exec_sessions"]
    _exec(core, ["lab-echo", "count"])
    assert env.lab.stats()["exec_sessions"] == before + 1


def test_logs_dispatch_and_tail(core):
    assert (
        core.read_namespaced_pod_log("box", "ex", container="app", tail_lines=2) == "app line 3\napp line 4\n"
    )
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod_log("box", "ex")
    assert e.value.status == 400
