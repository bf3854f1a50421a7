"""``python -m meshconform.kind``: a real two-cluster Istio mesh on kind, and the suite run on it.

The lab proves the suite; this proves it against real Kubernetes and a real istiod. One command
creates two kind clusters, plugs in a shared root CA, installs Istio in one of its four
multicluster models (``--model multi-primary|primary-remote``, ``--networks 1|2``; default the
guide's multi-primary on one network), runs the suite with ``--api-server`` pointing at each
cluster's internal address, and deletes the clusters afterwards unless ``--keep``. The steps
themselves are data (``meshconform.kind.plan``); this module checks the tools, executes the plan
step by step, and always runs the teardown.

Usage: ``python -m meshconform.kind [--dry-run] [--keep] [--model M] [--networks N]
[--name-prefix P] [--workdir DIR] [--revision REV] [--node-image IMAGE] [-- PYTEST_ARGS...]``.
Exit codes: the suite's pytest exit code when it ran; 1 when a setup step failed; 2 when the run
could not start (bad options or combinations, a missing tool, no docker daemon, a cluster or
container name already taken); 130 when interrupted. Every refusal is one line on stderr.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Protocol

from meshconform.kind import certs
from meshconform.kind.actions import Action, Command, RemovePath, Step, WriteCacerts
from meshconform.kind.models import MODELS, MULTI_PRIMARY
from meshconform.kind.plan import (
    REQUIRED_TOOLS,
    KindOptions,
    Plan,
    PlanError,
    build_plan,
    describe,
    render,
    substitute,
    teardown,
)

EXIT_SETUP_FAILED = 1
EXIT_CANNOT_START = 2
EXIT_INTERRUPTED = 130
PREFLIGHT_TIMEOUT_S = 20.0  # `docker info` against a dead daemon otherwise hangs for a long time


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str = ""
    error: str = ""  # why the command could not run at all (not found, timed out)


class Runner(Protocol):
    def __call__(self, command: Command, argv: tuple[str, ...], stdin: str | None = None) -> Result: ...


Log = Callable[[str], None]


def run_command(command: Command, argv: tuple[str, ...], stdin: str | None = None) -> Result:
    """Run one argument list; stdout is captured only when the plan needs the value."""
    try:
        done = subprocess.run(  # an argument list: no shell
            argv,
            cwd=command.cwd,
            timeout=command.timeout,
            check=False,
            text=True,
            input=stdin,
            stdout=subprocess.PIPE if command.capture else None,
        )
    except FileNotFoundError:
        return Result(127, error=f"{argv[0]} not found on PATH")
    except subprocess.TimeoutExpired:
        return Result(124, error=f"timed out after {command.timeout:.0f}s")
    return Result(done.returncode, done.stdout or "")


def _say(line: str) -> None:
    print(line, flush=True)


def _complain(line: str) -> None:
    print(f"meshconform kind: {line}", file=sys.stderr, flush=True)


def _short(argv: tuple[str, ...]) -> str:
    return shlex.join(argv[:6]) + (" ..." if len(argv) > 6 else "")


def perform(action: Action, values: dict[str, str], run: Runner, log: Log) -> str | None:
    """Carry out one action; return a one-line problem, or None when it worked."""
    if isinstance(action, WriteCacerts):
        try:
            certs.generate_mesh_cacerts(action.base, list(action.clusters))
        except OSError as exc:
            return f"cannot write the CA files under {action.base}: {exc.strerror}"
        return None
    if isinstance(action, RemovePath):
        return _remove(action.path)
    argv = substitute(action.argv, values)
    log("$ " + shlex.join(argv))
    if action.stdin and action.stdin not in values:
        return f"no value captured for ${{{action.stdin}}}"
    result = run(action, argv, values[action.stdin]) if action.stdin else run(action, argv)
    if result.returncode != 0:
        return f"`{_short(argv)}` failed: {result.error or f'exit code {result.returncode}'}"
    if action.capture:
        return _capture(action.capture, result.stdout.strip(), values)
    return None


def _remove(path: Path) -> str | None:
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    except (FileNotFoundError, NotADirectoryError):
        pass  # never written: nothing to remove
    except OSError as exc:
        return f"cannot remove {path}: {exc.strerror}"
    return None


def _capture(name: str, value: str, values: dict[str, str]) -> str | None:
    if name.startswith("ip_"):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"expected an IP address for ${{{name}}}, got {value[:60]!r}"
    values[name] = value
    return None


def execute(plan: Plan, run: Runner = run_command, log: Log = _say) -> int:
    """Run setup, then the suite, then the teardown of whatever was started, whatever happened."""
    values: dict[str, str] = {}
    started: list[Step] = []
    code = 0
    try:
        for number, step in enumerate(plan.steps, start=1):
            log(f"[{number}/{len(plan.steps) + 1}] {describe(step.action)[0]}")
            started.append(step)  # before running: a half-created cluster must still be deleted
            problem = perform(step.action, values, run, log)
            if problem:
                _complain(f"step {number} failed: {problem}")
                code = EXIT_SETUP_FAILED
                break
        else:
            log(f"[{len(plan.steps) + 1}/{len(plan.steps) + 1}] {describe(plan.suite)[0]}")
            result = run(plan.suite, substitute(plan.suite.argv, values))
            code = result.returncode
    except KeyboardInterrupt:
        _complain("interrupted; cleaning up")
        code = EXIT_INTERRUPTED
    finally:
        code = _teardown(plan, started, values, run, log, code)
    return code


def _teardown(
    plan: Plan, started: list[Step], values: dict[str, str], run: Runner, log: Log, code: int
) -> int:
    problems = [p for undo in teardown(plan, started) if (p := perform(undo, values, run, log))]
    for problem in problems:
        _complain(f"cleanup: {problem}")
    if plan.keep and started:
        names = ", ".join(c.kind_name for c in plan.clusters)
        log(f"kept kind clusters {names}; kubeconfig {plan.kubeconfig}")
        for c in plan.clusters:
            log(f"  delete with: kind delete cluster --name {c.kind_name} --kubeconfig {plan.kubeconfig}")
        if plan.lb_container:
            log(f"  stop the load balancer with: docker stop {plan.lb_container}")
        if all(c.ip_var in values for c in plan.clusters):
            log(
                "  rerun the suite (from the repository root): "
                + shlex.join(substitute(plan.suite.argv, values))
            )
    return code or (EXIT_SETUP_FAILED if problems else 0)


def missing_tools(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if which(tool) is None]


def _probe(*argv: str) -> tuple[int, str, str]:
    """Run a quick read-only query quietly: exit code, stdout, first stderr line."""
    try:
        done = subprocess.run(  # an argument list: no shell
            argv, capture_output=True, text=True, timeout=PREFLIGHT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, "", type(exc).__name__
    first = next((line.strip() for line in done.stderr.splitlines() if line.strip()), "")
    return done.returncode, done.stdout, first[:160]


def preflight(plan: Plan) -> str | None:
    """Why the run cannot start (one line), or None. Fast: seconds, even without a daemon."""
    missing = missing_tools()
    if missing:
        return (
            f"missing on PATH: {', '.join(missing)} (the kind path needs {', '.join(REQUIRED_TOOLS)}; "
            "--dry-run prints the plan without them)"
        )
    code, _, err = _probe("docker", "info", "--format", "{{.ServerVersion}}")
    if code != 0:
        return f"docker is on PATH but its daemon does not answer ({err or 'docker info failed'}); start it"
    code, out, err = _probe("kind", "get", "clusters")
    if code != 0:
        return f"`kind get clusters` failed ({err or f'exit code {code}'})"
    taken = [c.kind_name for c in plan.clusters if c.kind_name in out.split()]
    if taken:
        return (
            f"kind cluster {taken[0]} already exists; delete it (kind delete cluster --name {taken[0]}) "
            "or choose another --name-prefix"
        )
    return _container_taken(plan.lb_container) if plan.lb_container else None


def _container_taken(name: str) -> str | None:
    """The load balancer's container name must be free: the teardown stops it by that name."""
    code, out, err = _probe("docker", "ps", "-a", "--format", "{{.Names}}")
    if code != 0:
        return f"`docker ps -a` failed ({err or f'exit code {code}'})"
    if name in out.split():
        return f"container {name} already exists; remove it (docker rm -f {name}) or change --name-prefix"
    return None


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other refusal."""

    def error(self, message: str) -> NoReturn:
        _complain(message)
        sys.exit(EXIT_CANNOT_START)


def parse_args(argv: Sequence[str]) -> tuple[KindOptions, bool]:
    """Options before ``--`` are ours; everything after it goes to pytest unchanged."""
    ours, theirs = (
        (list(argv), [])
        if "--" not in argv
        else (list(argv[: list(argv).index("--")]), list(argv[list(argv).index("--") + 1 :]))
    )
    parser = _Parser(prog="python -m meshconform.kind", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the full ordered plan; run nothing")
    parser.add_argument("--keep", action="store_true", help="keep clusters, kubeconfig, load balancer")
    parser.add_argument(
        "--name-prefix", default="meshconform", help="kind clusters are PREFIX-1 and PREFIX-2"
    )
    parser.add_argument("--workdir", type=Path, help="kubeconfig and CA files (default: TMPDIR/PREFIX-kind)")
    parser.add_argument("--revision", help="install Istio with this revision and validate it")
    parser.add_argument("--node-image", help="kind node image (kindest/node:vX.Y.Z) for both clusters")
    models = " or ".join(MODELS)
    parser.add_argument("--model", default=MULTI_PRIMARY, help=f"{models} (default %(default)s)")
    parser.add_argument(
        "--networks", type=int, default=1, help="networks the clusters are dealt onto round-robin (default 1)"
    )
    args = parser.parse_args(ours)
    workdir = args.workdir or Path(tempfile.gettempdir()) / f"{args.name_prefix}-kind"
    opts = KindOptions(
        workdir=workdir.resolve(),
        name_prefix=args.name_prefix,
        keep=args.keep,
        revision=args.revision,
        node_image=args.node_image,
        pytest_args=tuple(theirs),
        model=args.model,
        networks=args.networks,
    )
    return opts, args.dry_run


def main(argv: Sequence[str] | None = None) -> int:
    opts, dry_run = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        plan = build_plan(opts)
    except PlanError as exc:
        _complain(str(exc))
        return EXIT_CANNOT_START
    if dry_run:
        print("\n".join(render(plan)))
        return 0
    problem = preflight(plan)
    if problem:
        _complain(problem)
        return EXIT_CANNOT_START
    plan.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return execute(plan)


if __name__ == "__main__":
    sys.exit(main())
