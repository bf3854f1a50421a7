"""istiod's debug surface inside its pod: `pilot-discovery request GET /debug/clusterz` and its log.

`pilot-discovery request <method> <path>` calls istiod's monitoring port (127.0.0.1:15014) and
prints the body with fmt.Println. pilot/pkg/request/command.go Do (unchanged from 1.6.8 to 1.28)
turns only `StatusCode > 399 && StatusCode != 404` into `Error: received unsuccessful status code
<n>: <body>` and exit 1: a 404 is printed like a 200, `404 page not found` (Go's http.NotFound on
istiod's ServeMux) and a blank line, exit 0. The clusterz body is ListRemoteClusters() as JSON with
two-space indentation (pilot/pkg/xds/debug.go writeJSON). An istiod older than 1.11 has no such
endpoint (revisions.serves_clusterz); from 1.10, ENABLE_DEBUG_ON_HTTP=false on the discovery
container registers no debug handler at all (pilot/pkg/xds/debug.go AddDebugHandlers returns
first), so every /debug path is that 404 too.
A crash-looping discovery container cannot be exec'd into: the runtime answers as containerd does.
"""

from __future__ import annotations

import json
from typing import Any

from ..apiserver.lab_cluster import ExecRequest, ExecResponse, LabCluster
from . import revisions as rv
from . import state

Obj = dict[str, Any]
# http.NotFound's body, then fmt.Println's newline; exit 0 (see the module docstring).
NOT_FOUND = b"404 page not found\n\n"


def _revision(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get("istio.io/rev", "default"))


def _is_istiod(pod: Obj) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return pod["metadata"].get("namespace") == rv.ISTIO_NS and labels.get("app") == "istiod"


def _debug_on(pod: Obj, container: str, tag: str) -> bool:
    """ENABLE_DEBUG_ON_HTTP (pilot/pkg/features, from Istio 1.10; default true) of the container."""
    if not rv.at_least(tag, rv.DEBUG_ON_HTTP_SINCE):
        return True
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            env = {e.get("name"): e.get("value") for e in c.get("env") or []}
            return str(env.get("ENABLE_DEBUG_ON_HTTP", "true")).lower() not in ("false", "0", "f")
    return True


def _running(pod: Obj, container: str) -> bool:
    for s in (pod.get("status") or {}).get("containerStatuses") or []:
        if s.get("name") == container:
            return "running" in (s.get("state") or {})
    return False


async def pilot_discovery(req: ExecRequest) -> ExecResponse | None:
    argv = list(req.argv)
    if not argv or argv[0].rsplit("/", 1)[-1] != "pilot-discovery" or not _is_istiod(req.pod):
        return None
    if not _running(req.pod, req.container):
        return ExecResponse(
            stderr=b"OCI runtime exec failed: exec failed: cannot exec in a stopped state: unknown\r\n",
            exit_code=126,
        )
    ist = state.of(req.cluster)
    revision = _revision(req.pod)
    plan = next((r for r in ist.revisions if r.revision == revision), None)
    tag = plan.pilot_tag if plan else rv.version(revision)
    if argv[1:2] == ["version"]:
        return ExecResponse(
            stdout=f"{tag}\n".encode()
            if "short" in argv
            else f'version.BuildInfo{{Version:"{tag}", GitRevision:"", GolangVersion:"go1.14.7", '
            f'BuildStatus:"Clean", GitTag:"{tag}"}}\n'.encode()
        )
    if argv[1:2] != ["request"] or len(argv) < 4:
        return ExecResponse(
            stderr=b'Error: unknown command "%s" for "pilot-discovery"\nRun \'pilot-discovery '
            b"--help' for usage.\n" % " ".join(argv[1:2]).encode(),
            exit_code=1,
        )
    method, path = argv[2].upper(), "/" + argv[3].lstrip("/")
    path = path.split("?", 1)[0]
    debug = _debug_on(req.pod, req.container, tag)
    if method == "GET" and path == "/debug/clusterz" and rv.serves_clusterz(tag) and debug:
        ctl = ist.controller(revision)
        body = json.dumps(ctl.debug_info() if ctl else [], indent=2)
        return ExecResponse(stdout=(body + "\n").encode())
    if method == "GET" and path == "/ready":
        return ExecResponse(stdout=b"\n")
    return ExecResponse(stdout=NOT_FOUND)


def log_provider(cluster: LabCluster) -> Any:
    def provide(pod: Obj, container: str, tail: int | None) -> str | None:
        if not _is_istiod(pod) or container != "discovery":
            return None
        return state.of(cluster).log(_revision(pod)).text(tail)

    return provide

