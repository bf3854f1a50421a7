"""What every self-test package needs to drive the suite as a user does, in one place.

The suite is proven from the outside: `python -m pytest ...` in a subprocess from the repository
root, so that its exit code, its terminal output, its signal handling and the files it writes
(junit.xml, summary.json, report.html) are what a CI job sees. A lab is either started by the
suite (`--lab`) or here, by LabEnv (in this process through its public API, or as `python -m
meshconform.lab serve`), so that a test can prepare the clusters before a run and inspect them
after it with the official client. Either way the lab's request log (one JSON line per API
request) is the witness of what reached the clusters.

Asynchronous states (a pod Ready, istiod synced, an event written) are awaited with `until` or
`eventually`, which fail with the state seen last, never with a fixed sleep before an assertion.

Imported as `support`: pytest puts this directory on sys.path when it loads selftests/conftest.py
(rootdir-relative "prepend" imports, no __init__.py), for `pytest selftests` and for one file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self, TypeVar, cast

import pytest
from kubernetes import client, config

from meshconform.lab import Lab, LabOptions

ROOT = Path(__file__).resolve().parents[1]
SUITE_SECONDS = 300.0  # a hang guard: the longest run here takes ~35 s on a loaded 2-core box
REQUEST_LOG_ENV = "MESHCONFORM_LAB_REQUEST_LOG"  # where `--lab` writes its lab's request log
T = TypeVar("T")
SHOWN = 2000  # characters of the last state a timed-out wait shows


# -- a finished run and what it wrote --------------------------------------------------------------


@dataclass(frozen=True)
class JunitCase:
    """One <testcase> of junit.xml. An <error> (setup or teardown) counts as failed."""

    name: str  # the test id as the suite names it: test_istiod_ready[cluster-2]
    outcome: str  # passed / failed / skipped
    message: str = ""  # the failure's, error's or skip's message attribute
    text: str = ""  # its body: the evidence and traceback pytest wrote
    error: bool = False  # an <error> rather than a <failure>

    @classmethod
    def of(cls, node: ET.Element) -> JunitCase:
        name = node.get("name", "?")
        for tag, outcome in (("failure", "failed"), ("error", "failed"), ("skipped", "skipped")):
            found = node.find(tag)
            if found is not None:
                message, text = found.get("message", ""), found.text or ""
                return cls(name, outcome, message, text, error=tag == "error")
        return cls(name, "passed")


@dataclass(frozen=True)
class Run:
    """A finished suite run: how it ended, and what it wrote under report_dir (read when asked)."""

    returncode: int
    stdout: str
    stderr: str
    report_dir: Path
    seconds: float = 0.0
    request_log: Path | None = None  # the `--lab` request log the run was given, if any

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def tail(self, limit: int = 4000) -> str:
        """How the run ended, for an assertion message: exit code, time, the end of each stream."""
        head = f"exit {self.returncode} after {self.seconds:.1f}s"
        return f"{head}\n{self.stdout[-limit:]}{self.stderr[-limit:]}"

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json, or {} when the run wrote none (a refused run)."""
        path = self.report_dir / "summary.json"
        doc: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return doc

    @property
    def html(self) -> str:
        return (self.report_dir / "report.html").read_text()

    @property
    def junit(self) -> ET.Element:
        return ET.parse(self.report_dir / "junit.xml").getroot()

    @property
    def cases(self) -> list[JunitCase]:
        """Every <testcase> in junit.xml, in order; [] when the run wrote none."""
        if not (self.report_dir / "junit.xml").exists():
            return []
        return [JunitCase.of(node) for node in self.junit.iter("testcase")]

    @property
    def outcomes(self) -> dict[str, str]:
        """test id -> passed / failed / skipped."""
        return {c.name: c.outcome for c in self.cases}

    @property
    def messages(self) -> dict[str, str]:
        """test id -> failure, error or skip message."""
        return {c.name: c.message for c in self.cases if c.outcome != "passed"}

    @property
    def failures(self) -> dict[str, str]:
        """test id -> failure or error message, of the tests that failed."""
        return {c.name: c.message for c in self.cases if c.outcome == "failed"}

    @property
    def skips(self) -> dict[str, str]:
        """test id -> skip reason."""
        return {c.name: c.message for c in self.cases if c.outcome == "skipped"}

    @property
    def skips_that_apply(self) -> dict[str, str]:
        """The skips of checks that apply to this mesh: a failed premise or an undecided check."""
        return {name: why for name, why in self.skips.items() if "does not apply" not in why}

    @property
    def healthy(self) -> bool:
        """Every check passed, or was skipped because it does not apply to this mesh (the network
        checks on one network): what a healthy mesh's run looks like. A skip for any other reason,
        a failure, or no result at all is not healthy."""
        cases = self.cases
        return bool(cases) and all(
            c.outcome == "passed" or (c.outcome == "skipped" and "does not apply" in c.message)
            for c in cases
        )

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The lab's request log, one dict per API request ([] without one)."""
        return request_log(self.request_log) if self.request_log else []

    def calls(self, method: str, path: str, cluster: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if r["method"] == method and r["path"] == path and cluster in (None, r["cluster"])
        ]


# -- running the suite -----------------------------------------------------------------------------


def suite_env(extra: dict[str, str] | None = None, request_log: Path | None = None) -> dict[str, str]:
    """This self-test's environment without what pytest, xdist or a user set for *this* run, with
    `extra` and the request log that a `--lab` run's lab is to write."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MESHCONFORM_"))}
    log = {REQUEST_LOG_ENV: str(request_log)} if request_log else {}
    return {**clean, **(extra or {}), **log}


def suite_command(report_dir: Path, *args: str, quiet: bool = True) -> list[str]:
    """`python -m pytest [-q] --report-dir=DIR ARGS`, as a user types it."""
    head = [sys.executable, "-m", "pytest", *(["-q"] if quiet else []), "-p", "no:cacheprovider"]
    return [*head, f"--report-dir={report_dir}", *args]


def run_suite(
    report_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = SUITE_SECONDS,
    quiet: bool = True,
    request_log: Path | None = None,
) -> Run:
    """The suite run from the repository root and waited for. `quiet` adds -q (the refusal tests
    hold a run to one line); `request_log` is where a `--lab` run's lab logs its requests."""
    started = time.monotonic()
    command = suite_command(report_dir, *args, quiet=quiet)
    environ = suite_env(env, request_log)
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=environ)
    seconds = time.monotonic() - started
    return Run(proc.returncode, proc.stdout, proc.stderr, report_dir, seconds, request_log)


@dataclass
class Background:
    """A suite run in the background, its output in a file (no pipe can fill up and block it)."""

    proc: subprocess.Popen[bytes]
    report_dir: Path
    out: Path
    timeout: float = SUITE_SECONDS
    started: float = field(default_factory=time.monotonic)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float | None = None) -> Run:
        try:
            code = self.proc.wait(timeout=self.timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        text = self.out.read_text(errors="replace")
        return Run(code, text, "", self.report_dir, time.monotonic() - self.started)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_suite(
    report_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = SUITE_SECONDS,
    quiet: bool = True,
    request_log: Path | None = None,
) -> Background:
    """As run_suite, not waited for, in its own process group as a shell job is (Ctrl-C reaches
    the whole group). `timeout` is what wait() allows by default."""
    report_dir.mkdir(parents=True, exist_ok=True)
    out = report_dir.parent / f"{report_dir.name}.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            suite_command(report_dir, *args, quiet=quiet),
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=suite_env(env, request_log),
            start_new_session=True,
        )
    return Background(proc, report_dir, out, timeout)


# -- witnesses and waits ---------------------------------------------------------------------------


def request_log(path: Path) -> list[dict[str, Any]]:
    """A lab's request log, one dict per request; [] before the lab wrote one. Only whole lines
    are read: a running lab may be writing the last one."""
    if not path.exists():
        return []
    text = path.read_text()
    whole = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in whole.splitlines() if line.strip()]


def eventually(
    ok: Callable[[], bool], seconds: float, why: str | Callable[[], str], pause: float = 0.1
) -> None:
    """Until ok() holds; after `seconds`, fail with `why` (a callable: the state seen last)."""
    deadline = time.monotonic() + seconds
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(why if isinstance(why, str) else why())
        time.sleep(pause)


def until(
    observe: Callable[[], T],
    ok: Callable[[T], bool],
    seconds: float,
    what: str,
    pause: float = 0.05,
    ignoring: tuple[type[Exception], ...] = (),
    show: Callable[[T], object] = repr,
) -> T:
    """observe() until ok(seen) holds, and return what was seen last: a wait on an asynchronous
    state instead of a fixed sleep before an assertion. After `seconds`, fail naming `what` was
    awaited and the state seen last, through `show` (e.g. the pods' names and phases rather than
    whole objects), or the last of the `ignoring` errors (a 404 before an object exists)."""
    last: list[Any] = [None]

    def holds() -> bool:
        try:
            last[0] = observe()
        except ignoring as error:
            last[0] = error
            return False
        return ok(last[0])

    def why() -> str:
        text = repr(last[0]) if isinstance(last[0], ignoring) else str(show(last[0]))
        return f"timed out after {seconds:g}s waiting for {what}; last seen: {text[:SHOWN]}"

    eventually(holds, seconds, why, pause)
    return cast(T, last[0])


def running_statuses(pod: Any) -> list[Any]:
    """The statuses kubectl's READY counts: the containers' and the native sidecars' (init
    containers with restartPolicy Always), those first."""
    sidecars = {c.name for c in pod.spec.init_containers or [] if c.restart_policy == "Always"}
    inits = [s for s in pod.status.init_container_statuses or [] if s.name in sidecars]
    return inits + list(pod.status.container_statuses or [])


def pod_states(pods: list[Any]) -> list[str]:
    """`name phase ready/containers` of each pod: what a wait on pods shows, as kubectl get pod."""
    out = []
    for pod in pods:
        statuses = running_statuses(pod)
        ready = sum(1 for s in statuses if s.ready)
        out.append(f"{pod.metadata.name} {pod.status.phase} {ready}/{len(statuses)}")
    return out


def tail(text: str, chars: int = 600) -> str:
    """The end of a log, where a wait on it looks for its line."""
    return text[-chars:]


# -- a lab -----------------------------------------------------------------------------------------

SERVE_SECONDS = 60.0  # `python -m meshconform.lab serve` up: imports (~3 s on a loaded 2-core box) + start
LAB_DIR = "lab"  # the temp directory a lab fixture's kubeconfig goes in
Scope = Literal["session", "package", "module", "class", "function"]


@dataclass
class LabEnv:
    """A lab's kubeconfig and contexts, clients for them as a user's script makes them, and the
    suite arguments that point at them. A cluster is named by index or by context.

    The one way a self-test starts a lab: `LabEnv.start` runs it in this process (so a test can
    reach into the model), `LabEnv.serve` as `python -m meshconform.lab serve` in a process of its
    own (so it outlives a suite that dies); both return a LabEnv to `stop()` or use in `with`.
    Helpers that need more (the guide's workloads, raw HTTPS requests) subclass it."""

    kubeconfig: Path
    contexts: list[str]
    lab: Any = None  # the meshconform.lab.Lab, when this process runs it
    process: subprocess.Popen[bytes] | None = None  # the `python -m meshconform.lab serve`, when that runs it

    @classmethod
    def start(cls, directory: Path, **options: Any) -> Self:
        """A lab of `LabOptions(**options)` in this process, its kubeconfig in directory."""
        lab = Lab(LabOptions(**options)).start()
        path = directory / "kubeconfig"
        try:
            contexts = lab.write_kubeconfig(path)
        except BaseException:
            lab.stop()
            raise
        return cls(path, contexts, lab)

    @classmethod
    def serve(cls, directory: Path, *args: str) -> Self:
        """`python -m meshconform.lab serve --kubeconfig PATH ARGS` in its own process, once it
        says it is serving (its contexts are the lines before that one)."""
        kubeconfig, log = directory / "served-kubeconfig", directory / "serve.out"
        cmd = [sys.executable, "-m", "meshconform.lab", "serve", f"--kubeconfig={kubeconfig}", *args]
        with log.open("wb") as sink:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=suite_env())
        served = cls(kubeconfig, [], process=proc)
        try:
            eventually(lambda: "serving" in log.read_text() or proc.poll() is not None, SERVE_SECONDS,
                       lambda: f"lab did not start in {SERVE_SECONDS:g}s: {log.read_text()}")
            if proc.poll() is not None:
                raise AssertionError(f"lab exited {proc.returncode}: {log.read_text()}")
        except BaseException:
            served.stop()
            raise
        served.contexts = [line for line in log.read_text().splitlines() if line.startswith("gke_")]
        return served

    def stop(self) -> None:
        """Stop the lab this LabEnv started (none for a view of another's lab); idempotent."""
        if self.lab is not None:
            self.lab.stop()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # as Ctrl-C: the lab stops its servers, exits 0
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def context(self, which: int | str) -> str:
        return self.contexts[which] if isinstance(which, int) else which

    def api(self, which: int | str = 0) -> client.ApiClient:
        return config.new_client_from_config(str(self.kubeconfig), context=self.context(which))

    def core(self, which: int | str = 0) -> client.CoreV1Api:
        return client.CoreV1Api(self.api(which))

    def apps(self, which: int | str = 0) -> client.AppsV1Api:
        return client.AppsV1Api(self.api(which))

    def custom(self, which: int | str = 0) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api(which))

    def cluster(self, i: int = 0) -> Any:
        """The in-process lab's cluster i (its CA, token and server URL)."""
        return list(self.lab.clusters.values())[i]

    def args(self, *contexts: str) -> list[str]:
        """`--kubeconfig=... --ctx=...` for these contexts (all by default), as for real clusters."""
        chosen = contexts or tuple(self.contexts)
        return [f"--kubeconfig={self.kubeconfig}", *(f"--ctx={c}" for c in chosen)]


def lab_fixture(
    kind: type[LabEnv] = LabEnv, scope: Scope = "module", name: str = "env", **options: Any
) -> Any:
    """A fixture `name` of one `kind.start(**options)` lab for a scope's tests, stopped after them:
    `env = lab_fixture(clusters=1)` in a test module."""

    @pytest.fixture(scope=scope, name=name)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
        with kind.start(tmp_path_factory.mktemp(LAB_DIR), **options) as running:
            yield running

    return fixture
