"""Benchmark the suite on the lab: clusters x requests, and batched vs one exec per request.

Why: the checks grow as N x (N-1) pairs, but the work must not; on real clusters every exec and
every poll is a round trip, and the guide's manual loop spends one `kubectl exec` per request.
This puts numbers on that, as `nox -s bench` or `python -m meshconform.bench`.

How: every configuration is run warm, with `pytest.main` in one driver process
(meshconform.bench.driver) that has paid pytest's and the Kubernetes client's imports once, lab
start and stop inside the timed call: these wall times are the figures, because a fresh process
adds the same ~3 s of interpreter start and imports to every configuration and so hides how the
suite's own work grows. Each configuration (or only the default one, `--cold default`) is also
run cold, as a fresh `python -m pytest` process timed from launch to exit: what a user waits for;
the default run's cold time is the final line's wall_s. The lab's request log (one JSON line per
API request, through MESHCONFORM_LAB_REQUEST_LOG) gives the API requests, the exec sessions, and
the exec sessions into each source pod. This module imports neither pytest nor the lab (the
architecture's rules): it starts processes and reads files.

The last line carries every figure, to be quoted whole:

    bench: execs_per_source=E r1000_over_r20=X n4_over_n2=Y batched_over_naive=Z wall_s=W api_requests=A
        n8_over_n2=B n20_over_n2=C peak_mb_n20=M api_per_pair=P serial_rtts_n2=S serial_rtts_n20=T
        n20_over_n2_inproc=I floor_s_n20=F n20_over_n2_net=G lab_floor_n20_over_n2=L
        suite_ms_per_pair=Q  (one line)

execs_per_source: the most exec sessions any source pod received in any batched run (1 is the
design); r1000_over_r20: warm wall time of the largest over the smallest request count, the worst
over the cluster counts; n4_over_n2: of the most over the fewest clusters, the worst over the
request counts; batched_over_naive: the batched run over the one-exec-per-request run at
--naive-requests on the fewest clusters; wall_s (cold) and api_requests: the default run
(2 clusters, 50 requests). A figure whose runs are not in the matrix is `n/a`. The table's
traffic_s is the traffic step alone (first traffic exec to last), printed as a ratio beside the
targets: whole runs carry a fixed cost (pytest, lab start, the lab's simulated pod start) that
no batching can remove.

The fleet figures (n8_over_n2, n20_over_n2, serial_rtts_nN, api_per_pair, peak_mb_n20) come from
runs with the lab in a process of its own (`lab serve`, lab_apart), the suite pointed at its
contexts as at real clusters: under `--lab` one Python process runs the N API servers, the N
istiods' N x (N-1) remote syncs and the suite, so at 20 clusters the emulator's CPU (about 8 s of
it) was counted as the suite's and competed with it for one interpreter. On real clusters that
CPU is the API servers' and istiods', not the runner's. The table shows both processes' CPU, and
the final line keeps the in-process figure beside (n20_over_n2_inproc). pytest's own cost per
test (collection, reports, pytest-html, JUnit: about 1.9 ms a test on the bench's machine, 3.4 s
for 1,800 tests) grows with the checks whatever the suite does; floor_s_n20
measures it (the same number of trivial tests, with the same reports, warm in the driver), and
n20_over_n2_net is n20_over_n2 with each run's floor taken off: the suite's own work.
lab_floor_n20_over_n2 is the lab process's CPU in the 20-cluster run over the 2-cluster run's wall
time: the lab is one process on one event loop, so the 20-cluster run takes at least that long
and no suite can bring n20_over_n2 under it on the measuring machine. suite_ms_per_pair is the
suite process's CPU per extra ordered pair (20 clusters over 2), what a pair costs the runner.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from meshconform.bench.figures import (
    HEADER,
    SCALE_RTT_MS,
    Config,
    LogCounts,
    Result,
    figures,
    final_line,
    per_pair_api_requests,
    per_pair_lines,
    plan,
    row,
    target_lines,
)
from meshconform.run.config import ConfigError, parse_milliseconds

ROOT = Path(__file__).resolve().parents[2]  # the project: conftest.py, tests/
ENV_REQUEST_LOG = "MESHCONFORM_LAB_REQUEST_LOG"  # read by fixtures/lab.py
NAMESPACE = "sample"  # the suite's default --namespace: exec sessions there are the traffic step
RUN_TIMEOUT = 900.0  # seconds; the naive run at 1000 requests on 4 clusters stays well inside
WARM_UP = Config(2, 5)  # pays the imports in the driver; not a figure
_EXEC_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/]+)/exec$")
# The suite's clients: the Kubernetes Python client, and the tools some options run. Every other
# client in the lab's log is the lab's own istiod reading its remote clusters with their secrets.
SUITE_AGENTS = ("OpenAPI-Generator", "kubectl", "istioctl")
SERVE_TIMEOUT = 120.0  # seconds for `python -m meshconform.lab serve` to print its contexts
_SESSION_TIME = re.compile(r" in (?P<s>[0-9.]+)s(?: \(|\s*=*$)", re.MULTILINE)
_TESTS = re.compile(r"(?P<n>\d+) (?:passed|failed|skipped|errors?)\b")


# -- runs ---------------------------------------------------------------------------------------------


def read_request_log(path: Path, namespace: str = NAMESPACE) -> LogCounts:
    """API requests, exec sessions, and the traffic step's execs from the lab's request log.

    The traffic step is every exec session into a pod of the suite's namespace: counted per
    source pod (a helloworld pod's sessions are its sidecar's stats, read before and after the
    calls, not calls), and timed from the first one's start to the last one's end (each line is
    written when its request ends and carries its duration in ms)."""
    counts = LogCounts()
    spans: list[tuple[float, float]] = []
    lines = path.read_text().splitlines() if path.exists() else []
    for entry in (json.loads(line) for line in lines if line.strip()):
        counts.api_requests += 1
        kind = request_kind(entry)
        counts.kinds[kind] = counts.kinds.get(kind, 0) + 1
        match = _EXEC_PATH.match(str(entry.get("path", "")))
        if match is None or entry.get("status") != 101:  # 101 Switching Protocols: a session began
            continue
        counts.exec_sessions += 1
        if match.group("ns") == namespace:
            key = f"{entry.get('cluster')}/{match.group('pod')}"
            if not match.group("pod").startswith("helloworld-"):
                counts.source_execs[key] = counts.source_execs.get(key, 0) + 1
            end = float(entry.get("ts", 0.0))
            spans.append((end - float(entry.get("ms", 0.0)) / 1000, end))
    if spans:
        counts.traffic_s = round(max(e for _, e in spans) - min(s for s, _ in spans), 3)
    return counts


def request_kind(entry: dict[str, object]) -> str:
    """"CLIENT METHOD PATH" with object names as NAME: suite GET /api/v1/namespaces/sample/pods/NAME/exec."""
    agent = str(entry.get("user_agent", ""))
    client = "suite" if any(a in agent for a in SUITE_AGENTS) else "istiod"
    return f"{client} {entry.get('method', '')} {_shape(str(entry.get('path', '')))}"


def _shape(path: str) -> str:
    """/api/v1/namespaces/NS/RESOURCE/NAME[/SUB], and a namespace itself, with NAME for the name."""
    parts = path.split("/")
    if "namespaces" in parts:
        i = parts.index("namespaces")
        named = i + 1 if len(parts) == i + 2 else i + 3
        if named < len(parts):
            parts[named] = "NAME"
    return "/".join(parts)


def session_seconds(output: str) -> float | None:
    """pytest's closing "36 passed in 1.23s": the session's own time, for the table."""
    found = _SESSION_TIME.findall(output)
    return float(found[-1]) if found else None


def tests_run(output: str) -> int | None:
    """The tests pytest ran, from its closing line ("2 failed, 34 passed in 1.23s" -> 36)."""
    last = output.strip().splitlines()[-1] if output.strip() else ""
    found = [int(m["n"]) for m in _TESTS.finditer(last)]
    return sum(found) if found else None


def _measured(config: Config, workdir: Path, exit_code: int, wall: float, cpu: float | None) -> Result:
    counts = read_request_log(workdir / "requests.jsonl")
    output = (workdir / "output.txt").read_text(errors="replace")
    return Result(
        config,
        round(wall, 2),
        exit_code,
        cpu,
        session_seconds(output),
        counts.api_requests,
        counts.exec_sessions,
        counts.source_execs,
        traffic_s=counts.traffic_s,
        kinds=counts.kinds,
        tests=tests_run(output),
    )


def _fresh(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "requests.jsonl"
    log.unlink(missing_ok=True)
    return log


def run_cold(config: Config, workdir: Path, extra: Sequence[str] = ()) -> Result:
    """The suite in a fresh `python -m pytest` process: what a user waits for, imports and all."""
    log = _fresh(workdir)
    argv = [sys.executable, "-m", "pytest", *config.pytest_args(), "-q", f"--report-dir={workdir}", *extra]
    env = {**os.environ, ENV_REQUEST_LOG: str(log)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with open(workdir / "output.txt", "w") as out:
        proc = subprocess.run(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT, check=False
        )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return _measured(config, workdir, proc.returncode, wall, round(cpu, 2))


@dataclass
class LabProcess:
    """A lab in a process of its own: its kubeconfig, its contexts, and (once stopped) its CPU."""

    kubeconfig: Path
    contexts: list[str] = field(default_factory=list)
    cpu_s: float | None = None  # the lab process's CPU, start to stop
    pid: int | None = None

    def suite_args(self) -> list[str]:
        """The suite's arguments as against real clusters: one --ctx per cluster."""
        return [f"--kubeconfig={self.kubeconfig}", *(f"--ctx={c}" for c in self.contexts)]


@contextlib.contextmanager
def lab_apart(config: Config, workdir: Path, request_log: Path | None = None) -> Iterator[LabProcess]:
    """`python -m meshconform.lab serve` for `config` (its clusters and round trip), stopped by its
    pid on the way out (serve stops its servers on SIGTERM); os.wait4 gives its CPU.

    Why: under `--lab` the N API servers and the N istiods' N x (N-1) remote syncs run in the
    suite's process, where their CPU and memory count as the suite's. On real clusters they are
    other machines: apart, the suite's process holds the suite alone."""
    workdir.mkdir(parents=True, exist_ok=True)
    lab = LabProcess(workdir / "kubeconfig")
    serve = [sys.executable, "-m", "meshconform.lab", "serve", f"--kubeconfig={lab.kubeconfig}"]
    serve += [f"--clusters={config.clusters}", f"--latency-ms={config.rtt_ms:g}"]
    serve += [f"--request-log={request_log}"] if request_log else []
    proc = subprocess.Popen(serve, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lab.pid = proc.pid
    try:
        lab.contexts = _served_contexts(proc)
        yield lab
    finally:
        proc.terminate()
        lab.cpu_s = _reap(proc)


def _reap(proc: subprocess.Popen[str]) -> float | None:
    """Wait for `proc` (killed after 60 s), and its CPU seconds."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return round(usage.ru_utime + usage.ru_stime, 2)
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    return None


def suite_peak_mb(config: Config, workdir: Path, extra: Sequence[str] = ()) -> tuple[float | None, int]:
    """The suite process's RSS high-water at `config` (MB), and its exit code, with the lab apart
    (lab_apart): the suite runs as a fresh process against its contexts; os.wait4 gives that one
    child's ru_maxrss (kB on Linux)."""
    with lab_apart(config, workdir) as lab:
        argv = [sys.executable, "-m", "pytest", *lab.suite_args(), "-q", f"--report-dir={workdir}"]
        argv += [f"--requests={config.requests}"] if config.requests else []
        with open(workdir / "output.txt", "w") as out:
            suite = subprocess.Popen([*argv, *extra], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(suite.pid, 0)
        suite.returncode = os.waitstatus_to_exitcode(status)
        return (usage.ru_maxrss / 1024 if suite.returncode == 0 else None), suite.returncode


def _served_contexts(lab: subprocess.Popen[str]) -> list[str]:
    """The contexts `serve` prints, one a line, until its "serving N clusters" line."""
    assert lab.stdout is not None
    contexts: list[str] = []
    deadline = time.monotonic() + SERVE_TIMEOUT
    for line in lab.stdout:
        if line.startswith("serving "):
            return contexts
        contexts.append(line.strip())
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"python -m meshconform.lab serve did not start (exit {lab.poll()})")


FLOOR_TEST = '''import pytest


@pytest.mark.parametrize("i", range({n}))
def test_nothing(i):
    """As many tests as the suite ran, each asserting nothing of note."""
    assert i >= 0
'''


def pytest_floor(driver: Driver, tests: int, workdir: Path) -> float | None:
    """pytest's own time for `tests` trivial tests, with the reports the suite writes (pytest-html,
    JUnit XML), warm in the driver: the part of a run's wall time that grows with the checks'
    count whatever the suite does (measured here: about 1.9 ms a test, 3.4 s for 1,800)."""
    workdir.mkdir(parents=True, exist_ok=True)
    # One name per count: the driver process keeps what it imported, so a name means one content.
    test_file = workdir / f"test_floor_{tests}.py"
    test_file.write_text(FLOOR_TEST.format(n=tests))
    args = [str(test_file), "-q", "-p", "no:meshconform_options", "-p", "no:cacheprovider"]
    args += ["--import-mode=importlib"]  # a second workdir's file of the same name is no mismatch
    args += [f"--rootdir={workdir}", f"--html={workdir / 'report.html'}"]
    args += [f"--junitxml={workdir / 'junit.xml'}"]
    result = driver.run(Config(0, 0), workdir, args=args)
    return result.wall_s if result.exit_code == 0 else None


class Driver:
    """The warm runner (meshconform.bench.driver) as a child process: one job at a time."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meshconform.bench.driver"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(
        self, config: Config, workdir: Path, extra: Sequence[str] = (), args: Sequence[str] | None = None
    ) -> Result:
        """One run of `config` (or of exactly `args`, when given: then the request log is the caller's)."""
        log = _fresh(workdir) if args is None else workdir / "requests.jsonl"
        if args is None:
            args = [*config.pytest_args(), "-q", f"--report-dir={workdir}", *extra]
        job = {"args": args, "output": str(workdir / "output.txt"), "request_log": str(log)}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the bench driver exited ({self.proc.wait()}) during {config}")
        answer = json.loads(line)
        return _measured(config, workdir, answer["exit_code"], answer["wall_s"], answer["cpu_s"])

    def run_apart(self, config: Config, workdir: Path, extra: Sequence[str] = ()) -> Result:
        """`config` with the lab in a process of its own (lab_apart): the driver's CPU is the suite's."""
        log = _fresh(workdir)
        with lab_apart(config, workdir, log) as lab:
            args = [*lab.suite_args(), *config.pytest_args(), "-q", f"--report-dir={workdir / 'reports'}"]
            result = self.run(config, workdir, args=[*args, *extra])
        result.lab_cpu_s = lab.cpu_s
        counts = read_request_log(log)  # the lab writes its last lines as it stops
        result.api_requests, result.kinds = counts.api_requests, counts.kinds
        result.exec_sessions, result.source_execs = counts.exec_sessions, counts.source_execs
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- command line -------------------------------------------------------------------------------------


def _counts(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers >= 1, e.g. 2,3,4")
    return values


def _scale_counts(text: str) -> list[int]:
    return [] if text.strip() == "0" else _counts(text)


def _milliseconds(text: str) -> float:
    try:
        return parse_milliseconds("--rtt-ms", text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m meshconform.bench",
        description="Time the suite against the lab for clusters x requests, batched and one exec "
        "per request (the guide's loop); arguments after -- go to every pytest run (e.g. -- -n 2).",
    )
    add = parser.add_argument
    add("--clusters", type=_counts, default=[2, 3, 4], help="lab cluster counts (default: 2,3,4).")
    add("--requests", type=_counts, default=[20, 200, 1000], help="calls per source (default: 20,200,1000).")
    add(
        "--naive-requests",
        type=int,
        default=200,
        help="calls per source of the one-exec-per-request run (default: 200; 0 skips it).",
    )
    add(
        "--rtt-ms",
        type=_milliseconds,
        default=SCALE_RTT_MS,
        help="the simulated API round trip (--lab-latency) of batched_over_naive's two runs, as to a real "
        "API server; 0 (or --naive-requests 0) skips them (default: 20).",
    )
    add(
        "--scale",
        type=_scale_counts,
        default=[2, 8, 20],
        help="cluster counts of the fleet figures: a default run of each over 20 ms, of the fewest and "
        "the most over 0 and 60 ms, and the most once with the lab in a process of its own for the "
        "suite's peak memory; 0 skips them (default: 2,8,20).",
    )
    add("--default-clusters", type=int, default=2, help="clusters of the default run (default: 2).")
    add("--default-requests", type=int, default=50, help="calls per source of the default run (default: 50).")
    add(
        "--cold",
        choices=("all", "default"),
        default="all",
        help="which configurations also run as a fresh process (default: all).",
    )
    add(
        "--repeat",
        type=int,
        default=3,
        help="runs per configuration; the median wall time counts (default: 3: one run's wall time "
        "varies by ~20 %% with the machine's load, enough to move a ratio across its target).",
    )
    add("--workdir", type=Path, help="keep each run's output, request log and reports here.")
    add("pytest_args", nargs="*", help="extra pytest arguments, after --.")
    return parser.parse_args(argv)


def run_all(
    configs: Sequence[Config], base: Path, extra: Sequence[str], cold: str, repeat: int = 1
) -> dict[Config, Result]:
    print(HEADER, flush=True)
    results: dict[Config, Result] = {}
    driver = Driver()
    try:
        _progress("warm-up", WARM_UP)
        driver.run(WARM_UP, base / "warm-up", extra)
        for i, config in enumerate(configs, 1):
            _progress(f"{i}/{len(configs)}", config)
            workdir = base / f"n{config.clusters}-r{config.requests}-{config.mode}"
            runner = driver.run_apart if config.apart else driver.run
            warm = [runner(config, workdir / f"warm-{k}", extra) for k in range(1, repeat + 1)]
            result = results[config] = median(warm)
            if config.apart and config.rtt_ms == SCALE_RTT_MS and result.tests:
                floors = [pytest_floor(driver, result.tests, workdir / f"floor-{k}") for k in range(repeat)]
                measured = sorted(f for f in floors if f is not None)
                result.floor_s = measured[len(measured) // 2] if measured else None
            if (cold == "all" and not config.apart) or i == 1:
                times = repeat if i == 1 else 1  # the default run's cold time is the final line's wall_s
                result.cold = median(
                    [run_cold(config, workdir / f"cold-{k}", extra) for k in range(1, times + 1)]
                )
            print(row(result), flush=True)
            if not result.ok:
                _show_failure(workdir)
    finally:
        driver.close()
    return results


def median(runs: Sequence[Result]) -> Result:
    """The run of median wall time, carrying the worst of all runs: any failure, the most exec
    sessions any source pod saw (a traffic retake in one repetition must not hide)."""
    chosen = sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]
    failed = [r.exit_code for r in runs if r.exit_code != 0]
    chosen.exit_code = failed[0] if failed else chosen.exit_code
    for run in runs:
        for source, n in run.source_execs.items():
            chosen.source_execs[source] = max(n, chosen.source_execs.get(source, 0))
    return chosen


def _progress(step: str, config: Config) -> None:
    print(
        f"[{step}] {config.clusters} clusters, {config.requests or 'default'} requests, {config.mode}",
        file=sys.stderr,
        flush=True,
    )


def _show_failure(workdir: Path) -> None:
    for output in sorted([*workdir.glob("output.txt"), *workdir.glob("*/output.txt")]):
        tail = output.read_text(errors="replace").splitlines()[-15:]
        print(f"  {output}:", *(f"    {line}" for line in tail), sep="\n", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    default = Config(args.default_clusters, args.default_requests)
    configs = plan(args.clusters, args.requests, args.naive_requests, default, args.rtt_ms, args.scale)
    with tempfile.TemporaryDirectory(prefix="meshconform-bench-") as scratch:
        base = args.workdir or Path(scratch)
        results = run_all(configs, base, args.pytest_args, args.cold, max(1, args.repeat))
        memory_ok = measure_memory(results, args.scale, base, args.pytest_args)
    figs = figures(results, args.clusters, args.requests, args.naive_requests, default)
    print("targets:", *target_lines(figs), sep="\n")
    kinds = per_pair_api_requests(results)
    if kinds:
        print("requests per extra ordered pair (20 clusters over 2):", *per_pair_lines(kinds), sep="\n")
    print(final_line(figs), flush=True)
    return 0 if memory_ok and all(r.ok for r in results.values()) else 1


def measure_memory(
    results: dict[Config, Result], scale: Sequence[int], base: Path, extra: Sequence[str]
) -> bool:
    """The suite's peak RSS at the most clusters of `scale`, lab apart (suite_peak_mb); -> it passed."""
    config = Config(max(scale), 0, 0, SCALE_RTT_MS, apart=True) if scale else None
    if config is None or config not in results:
        return True
    _progress("memory", config)
    peak, code = suite_peak_mb(config, base / f"n{config.clusters}-memory", extra)
    results[config].peak_mb = peak
    shown = "-" if peak is None else f"{peak:.0f} MB"
    print(f"suite process peak RSS at {config.clusters} clusters, lab apart: {shown} (exit {code})")
    if code != 0:
        _show_failure(base / f"n{config.clusters}-memory")
    return code == 0


if __name__ == "__main__":
    sys.exit(main())
