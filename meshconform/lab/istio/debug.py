"""istiod's debug surface inside its pod: `pilot-discovery request GET /debug/clusterz` and its log.

`pilot-discovery request <method> <path>` calls istiod's own debug port and prints the body; a
non-200 answer is `Error: received unsuccessful status code <n>: <body>` and exit 1. The clusterz
body is ListRemoteClusters() as JSON with two-space indentation (pilot/pkg/xds/debug.go writeJSON);
an istiod older than 1.11 has no such endpoint and answers 404 (revisions.serves_clusterz).
A crash-looping discovery container cannot be exec'd into: the runtime answers as containerd does.
"""

from __future__ import annotations

import json
from typing import Any

from ..cluster import ExecRequest, ExecResult, LabCluster
from . import revisions as rv
from . import state

Obj = dict[str, Any]


def _revision(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get("istio.io/rev", "default"))


def _is_istiod(pod: Obj) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return pod["metadata"].get("namespace") == rv.ISTIO_NS and labels.get("app") == "istiod"


def _running(pod: Obj, container: str) -> bool:
    for s in (pod.get("status") or {}).get("containerStatuses") or []:
        if s.get("name") == container:
            return "running" in (s.get("state") or {})
    return False


async def pilot_discovery(req: ExecRequest) -> ExecResult | None:
    argv = list(req.argv)
    if not argv or argv[0].rsplit("/", 1)[-1] != "pilot-discovery" or not _is_istiod(req.pod):
        return None
    if not _running(req.pod, req.container):
        return ExecResult(
            stderr=b"OCI runtime exec failed: exec failed: cannot exec in a stopped state: unknown\r\n",
            exit_code=126,
        )
    ist = state.of(req.cluster)
    revision = _revision(req.pod)
    plan = next((r for r in ist.revisions if r.revision == revision), None)
    tag = plan.pilot_tag if plan else rv.version(revision)
    if argv[1:2] == ["version"]:
        return ExecResult(
            stdout=f"{tag}\n".encode()
            if "short" in argv
            else f'version.BuildInfo{{Version:"{tag}", GitRevision:"", GolangVersion:"go1.14.7", '
            f'BuildStatus:"Clean", GitTag:"{tag}"}}\n'.encode()
        )
    if argv[1:2] != ["request"] or len(argv) < 4:
        return ExecResult(
            stderr=b'Error: unknown command "%s" for "pilot-discovery"\nRun \'pilot-discovery '
            b"--help' for usage.\n" % " ".join(argv[1:2]).encode(),
            exit_code=1,
        )
    method, path = argv[2].upper(), "/" + argv[3].lstrip("/")
    path = path.split("?", 1)[0]
    if method == "GET" and path == "/debug/clusterz" and rv.serves_clusterz(tag):
        ctl = ist.controller(revision)
        body = json.dumps(ctl.debug_info() if ctl else [], indent=2)
        return ExecResult(stdout=body.encode())
    if method == "GET" and path == "/ready":
        return ExecResult(stdout=b"")
    return ExecResult(
        stderr=b"Error: received unsuccessful status code 404: 404 page not found\n", exit_code=1
    )


def log_provider(cluster: LabCluster) -> Any:
    def provide(pod: Obj, container: str, tail: int | None) -> str | None:
        if not _is_istiod(pod) or container != "discovery":
            return None
        return state.of(cluster).log(_revision(pod)).text(tail)

    return provide

