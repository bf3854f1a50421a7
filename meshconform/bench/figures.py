"""The bench's matrix, its figures and its printout (see meshconform.bench.cli for what each means).

Kept apart from the running so that the arithmetic and the exact final line can be unit-tested
without starting a lab.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

TARGETS = {  # (comparison, limit); serial_rtts_n20's limit is relative (SERIAL_RTTS_GROWTH)
    "execs_per_source": ("==", 1.0),
    "r1000_over_r20": ("<=", 2.0),
    "n4_over_n2": ("<=", 2.5),
    "batched_over_naive": ("<=", 0.2),  # both runs over SCALE_RTT_MS: the loopback ratio measured the machine
    "wall_s": ("<", 10.0),
    "n8_over_n2": ("<=", 2.0),
    "n20_over_n2": ("<=", 4.0),
    "peak_mb_n20": ("<=", 500.0),
    "n20_over_n2_net": ("<=", 4.0),  # n20_over_n2's intent: the suite's work, pytest's fixed cost apart
}
SERIAL_RTTS_GROWTH = 1.5  # serial_rtts_n20 <= 1.5 x serial_rtts_n2: pairs and clusters run in parallel
FINAL_KEYS = (
    "execs_per_source",
    "r1000_over_r20",
    "n4_over_n2",
    "batched_over_naive",
    "wall_s",
    "api_requests",
    "n8_over_n2",
    "n20_over_n2",
    "peak_mb_n20",
    "api_per_pair",
    "serial_rtts_n2",
    "serial_rtts_n20",
    "n20_over_n2_inproc",
    "floor_s_n20",
    "n20_over_n2_net",
    "lab_floor_n20_over_n2",
    "suite_ms_per_pair",
)
INTEGER_KEYS = {"execs_per_source", "api_requests"}
SCALE_RTT_MS = 20.0  # the round trip of every scale figure: a regional API server's
SERIAL_RTT_MS = 60.0  # serial_rtts_N: (wall at this round trip - wall at 0) / this


@dataclass(frozen=True)
class Config:
    """One suite run: so many lab clusters, so many hello calls per source, so many per exec."""

    clusters: int
    requests: int  # 0: the suite's own default, whatever it derives (no --requests)
    batch: int = 0  # hello calls per exec: 0 = all of a source's in one (the suite), 1 = the guide's loop
    rtt_ms: float = 0  # the lab's simulated API round trip (--lab-latency); 0 = loopback
    apart: bool = False  # the lab in a process of its own (lab serve), the suite run as against real clusters

    @property
    def mode(self) -> str:
        mode = "naive" if self.batch == 1 else "batched"
        mode = f"{mode}@{self.rtt_ms:g}ms" if self.rtt_ms else mode
        return f"{mode},apart" if self.apart else mode

    def pytest_args(self) -> list[str]:
        """The run's arguments; with `apart`, the bench adds --kubeconfig and one --ctx per cluster."""
        lab = [] if self.apart else ["--lab", f"--lab-clusters={self.clusters}"]
        return [
            *lab,
            *([f"--requests={self.requests}"] if self.requests else []),
            "-o",
            f"meshconform_curl_batch={self.batch}",
            *([f"--lab-latency={self.rtt_ms:g}"] if self.rtt_ms and not self.apart else []),
        ]


@dataclass
class LogCounts:
    """What the lab's request log says about one run."""

    api_requests: int = 0
    exec_sessions: int = 0
    source_execs: dict[str, int] = field(default_factory=dict)  # "cluster/pod" -> exec sessions
    traffic_s: float | None = None  # first traffic exec's start to the last one's end
    kinds: dict[str, int] = field(default_factory=dict)  # "client METHOD path-shape" -> requests


@dataclass
class Result:
    """One configuration's measurements: the warm run (the figures), and the cold one if timed."""

    config: Config
    wall_s: float  # warm: pytest.main in the bench's driver process, lab start and stop included
    exit_code: int
    cpu_s: float | None = None
    session_s: float | None = None  # pytest's own "in X s": collection to the last teardown
    api_requests: int = 0
    exec_sessions: int = 0
    source_execs: dict[str, int] = field(default_factory=dict)  # "cluster/pod" -> exec sessions
    cold: Result | None = None  # the same configuration as a fresh `python -m pytest` process
    traffic_s: float | None = None  # the traffic step alone (see bench.read_request_log)
    kinds: dict[str, int] = field(default_factory=dict)  # "client METHOD path-shape" -> requests
    peak_mb: float | None = None  # the suite process's RSS high-water, when measured apart
    lab_cpu_s: float | None = None  # the lab's process, start to stop, when apart (cpu_s is then the suite's)
    tests: int | None = None  # pytest's count of tests run ("1800 passed")
    floor_s: float | None = None  # pytest alone running as many trivial tests, with the suite's reports

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and (self.cold is None or self.cold.ok)

    @property
    def execs_per_source(self) -> int | None:
        return max(self.source_execs.values()) if self.source_execs else None


def plan(
    clusters: Sequence[int],
    requests: Sequence[int],
    naive_requests: int | None,
    default: Config,
    rtt_ms: float = 0,
    scale: Sequence[int] = (),
) -> list[Config]:
    """The default run first, then every (clusters, requests) batched, then the naive run; each once.
    With rtt_ms, the batched and the naive run again over that simulated round trip. With `scale`
    (cluster counts), a default run (the suite's own call count) of each over SCALE_RTT_MS, and of
    the fewest and the most over no round trip and over SERIAL_RTT_MS, all with the lab in a process
    of its own (on real clusters the API servers' and istiods' CPU is not the runner's); then the
    fewest and the most over SCALE_RTT_MS with the lab inside the suite's process (`--lab`), the
    earlier way, for comparison."""
    configs = [default]
    configs += [c for c in (Config(n, r) for n in clusters for r in requests) if c != default]
    if naive_requests:
        configs.append(Config(min(clusters), naive_requests, batch=1))
        if rtt_ms:
            configs += [Config(min(clusters), naive_requests, b, rtt_ms) for b in (0, 1)]
    if scale:
        ends = sorted({min(scale), max(scale)})
        configs += [Config(n, 0, 0, SCALE_RTT_MS, apart=True) for n in scale]
        configs += [Config(n, 0, 0, r, apart=True) for n in ends for r in (0, SERIAL_RTT_MS)]
        configs += [Config(n, 0, 0, SCALE_RTT_MS) for n in ends]
    return list(dict.fromkeys(configs))


def _wall(results: dict[Config, Result], config: Config) -> float | None:
    result = results.get(config)
    return result.wall_s if result is not None and result.exit_code == 0 and result.wall_s > 0 else None


def _worst_ratio(pairs: Iterable[tuple[float | None, float | None]]) -> float | None:
    ratios = [top / bottom for top, bottom in pairs if top is not None and bottom is not None]
    return max(ratios) if ratios else None


def figures(
    results: dict[Config, Result],
    clusters: Sequence[int],
    requests: Sequence[int],
    naive_requests: int | None,
    default: Config,
) -> dict[str, float | None]:
    """The final line's numbers; None where the matrix did not include what a figure needs."""
    lo_r, hi_r, lo_n, hi_n = min(requests), max(requests), min(clusters), max(clusters)
    per_source = [
        r.execs_per_source for r in results.values() if r.config.batch == 0 and r.execs_per_source is not None
    ]
    by_requests = _worst_ratio(
        (_wall(results, Config(n, hi_r)), _wall(results, Config(n, lo_r))) for n in clusters
    )
    by_clusters = _worst_ratio(
        (_wall(results, Config(hi_n, r)), _wall(results, Config(lo_n, r))) for r in requests
    )
    loopback = traffic = over_rtt = None
    rtt = next((c.rtt_ms for c in results if c.rtt_ms and c.batch == 1), 0.0)
    if naive_requests:
        batched, one_each = Config(lo_n, naive_requests), Config(lo_n, naive_requests, 1)
        loopback = _worst_ratio([(_wall(results, batched), _wall(results, one_each))])
        traffic = _worst_ratio([(_traffic(results, batched), _traffic(results, one_each))])
        if rtt:
            slow = Config(lo_n, naive_requests, 0, rtt), Config(lo_n, naive_requests, 1, rtt)
            over_rtt = _worst_ratio([(_wall(results, slow[0]), _wall(results, slow[1]))])
    base = results.get(default)
    shown = (base.cold or base) if base is not None else None  # a user's run: fresh process if timed
    return {
        "execs_per_source": float(max(per_source)) if per_source else None,
        "r1000_over_r20": by_requests if hi_r != lo_r else None,
        "n4_over_n2": by_clusters if hi_n != lo_n else None,
        "batched_over_naive": over_rtt,
        "wall_s": shown.wall_s if shown is not None and shown.exit_code == 0 else None,
        "api_requests": float(shown.api_requests) if shown is not None and shown.exit_code == 0 else None,
        **scale_figures(results),
        "traffic_batched_over_naive": traffic,  # not on the final line: the traffic step alone
        "loopback_batched_over_naive": loopback,  # not on the final line: both runs on loopback
        "rtt_ms": rtt or None,
    }


def _scale(n: int, rtt: float = SCALE_RTT_MS, apart: bool = True) -> Config:
    return Config(n, 0, 0, rtt, apart=apart)


def scale_figures(results: dict[Config, Result]) -> dict[str, float | None]:
    """The fleet figures, each from default runs (the suite's own call count) over a round trip."""
    n2, n20 = results.get(_scale(2)), results.get(_scale(20))
    per_pair = None
    if n2 is not None and n20 is not None and n2.exit_code == 0 and n20.exit_code == 0:
        per_pair = (n20.api_requests - n2.api_requests) / (20 * 19 - 2 * 1)
    peak = n20.peak_mb if n20 is not None else None
    return {
        "n8_over_n2": _worst_ratio([(_wall(results, _scale(8)), _wall(results, _scale(2)))]),
        "n20_over_n2": _worst_ratio([(_wall(results, _scale(20)), _wall(results, _scale(2)))]),
        "peak_mb_n20": peak,
        "api_per_pair": per_pair,
        "serial_rtts_n2": serial_rtts(results, 2),
        "serial_rtts_n20": serial_rtts(results, 20),
        "n20_over_n2_inproc": _worst_ratio(
            [(_wall(results, _scale(20, apart=False)), _wall(results, _scale(2, apart=False)))]
        ),
        "floor_s_n20": n20.floor_s if n20 is not None else None,
        "n20_over_n2_net": _net_ratio(n20, n2),
        "lab_floor_n20_over_n2": _lab_floor(n20, n2),
        "suite_ms_per_pair": _suite_ms_per_pair(n20, n2),
    }


def _lab_floor(top: Result | None, bottom: Result | None) -> float | None:
    """The lab process's CPU at the top run over the bottom run's wall time: the ratio no suite can
    beat on this machine, since the lab (N API servers and their istiods) is one Python process
    on one event loop, whose CPU the top run's wall time must contain."""
    if top is None or bottom is None or top.exit_code or bottom.exit_code or top.lab_cpu_s is None:
        return None
    return top.lab_cpu_s / bottom.wall_s if bottom.wall_s else None


def _suite_ms_per_pair(top: Result | None, bottom: Result | None) -> float | None:
    """The suite process's CPU per extra ordered pair, 20 clusters over 2 (ms): what a pair costs
    the runner, whatever the round trip."""
    if top is None or bottom is None or top.exit_code or bottom.exit_code:
        return None
    if top.cpu_s is None or bottom.cpu_s is None:
        return None
    return (top.cpu_s - bottom.cpu_s) * 1000 / (20 * 19 - 2 * 1)


def _net_ratio(top: Result | None, bottom: Result | None) -> float | None:
    """Wall over wall with pytest's own cost for as many tests taken off each: the suite's work."""
    if top is None or bottom is None or top.exit_code or bottom.exit_code:
        return None
    if top.floor_s is None or bottom.floor_s is None or bottom.wall_s <= bottom.floor_s:
        return None
    return (top.wall_s - top.floor_s) / (bottom.wall_s - bottom.floor_s)


def serial_rtts(results: dict[Config, Result], n: int) -> float | None:
    """Round trips in series on the run's critical path: the wall time a millisecond of round trip
    adds, (wall at SERIAL_RTT_MS - wall at 0) / SERIAL_RTT_MS."""
    slow, fast = _wall(results, _scale(n, SERIAL_RTT_MS)), _wall(results, _scale(n, 0))
    return None if slow is None or fast is None else (slow - fast) * 1000 / SERIAL_RTT_MS


def per_pair_api_requests(results: dict[Config, Result]) -> list[tuple[str, float]]:
    """The kinds of request that grow with the pairs: (kind, requests per extra ordered pair),
    most first, from the 2- and the 20-cluster default runs."""
    n2, n20 = results.get(_scale(2)), results.get(_scale(20))
    if n2 is None or n20 is None:
        return []
    extra = 20 * 19 - 2 * 1
    grown = {k: (v - n2.kinds.get(k, 0)) / extra for k, v in n20.kinds.items()}
    return sorted(((k, g) for k, g in grown.items() if g >= 0.5), key=lambda kg: (-kg[1], kg[0]))


def _traffic(results: dict[Config, Result], config: Config) -> float | None:
    result = results.get(config)
    return result.traffic_s if result is not None and result.exit_code == 0 and result.traffic_s else None


# -- printout -----------------------------------------------------------------------------------------

HEADER = (
    f"{'clusters':>8} {'requests':>8} {'mode':>18} {'wall_s':>7} {'cold_s':>7} {'cpu_s':>6} {'lab_cpu':>7} "
    f"{'session_s':>9} {'traffic_s':>9} {'api_requests':>12} {'exec_sessions':>13} "
    f"{'execs/source':>12}  result"
)


def _cell(value: float | None, width: int) -> str:
    return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"


def row(result: Result) -> str:
    c = result.config
    per_source = "-" if result.execs_per_source is None else str(result.execs_per_source)
    outcome = (
        "passed"
        if result.ok
        else "FAILED (exit "
        + ", ".join(str(r.exit_code) for r in (result, result.cold) if r is not None and r.exit_code != 0)
        + ")"
    )
    return (
        f"{c.clusters:>8} {c.requests or 'default':>8} {c.mode:>18} {result.wall_s:>7.2f} "
        f"{_cell(result.cold.wall_s if result.cold else None, 7)} {_cell(result.cpu_s, 6)} "
        f"{_cell(result.lab_cpu_s, 7)} "
        f"{_cell(result.session_s, 9)} {_cell(result.traffic_s, 9)} {result.api_requests:>12} "
        f"{result.exec_sessions:>13} "
        f"{per_source:>12}  {outcome}"
    )


def fmt(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return str(int(value)) if name in INTEGER_KEYS else f"{value:.2f}"


def target_lines(figs: dict[str, float | None]) -> list[str]:
    lines = []
    for name, (op, limit) in TARGETS.items():
        value = figs.get(name)
        lines.append(f"  {name} = {fmt(name, value)} (target {op} {limit:g}): {_verdict(value, op, limit)}")
    n2, n20 = figs.get("serial_rtts_n2"), figs.get("serial_rtts_n20")
    bound = None if n2 is None else SERIAL_RTTS_GROWTH * n2
    lines.append(
        f"  serial_rtts_n20 = {fmt('serial_rtts_n20', n20)} (target <= {SERIAL_RTTS_GROWTH:g} x "
        f"serial_rtts_n2 = {fmt('serial_rtts_n2', bound)}): {_verdict(n20, '<=', bound)}"
    )
    inproc, floor = figs.get("n20_over_n2_inproc"), figs.get("floor_s_n20")
    if inproc is not None:
        lines.append(f"  (n20_over_n2, the lab in the suite's process (--lab): {inproc:.2f}; not a target)")
    if floor is not None:
        lines.append(
            f"  (pytest alone, as many trivial tests as the 20-cluster run, with the suite's reports: "
            f"{floor:.2f} s; n20_over_n2_net takes it off both runs)"
        )
    lab_floor = figs.get("lab_floor_n20_over_n2")
    if lab_floor is not None:
        lines.append(
            f"  (the lab process's CPU at 20 clusters over the 2-cluster wall time: {lab_floor:.2f}; "
            "no suite can make n20_over_n2 smaller on this machine; not a target)"
        )
    step = figs.get("traffic_batched_over_naive")
    if step is not None:
        lines.append(f"  (the traffic step alone on loopback, batched over naive: {step:.2f})")
    loopback = figs.get("loopback_batched_over_naive")
    if loopback is not None:
        lines.append(f"  (batched over naive on loopback, no round trip: {loopback:.2f}; not a target)")
    return lines


def _verdict(value: float | None, op: str, limit: float | None) -> str:
    if value is None or limit is None:
        return "not measured"
    met = value == limit if op == "==" else value <= limit if op == "<=" else value < limit
    return "met" if met else "MISSED"


def per_pair_lines(kinds: list[tuple[str, float]]) -> list[str]:
    """What each request that grows with the pairs is for."""
    return [f"  {per:5.2f} x {kind}: {_purpose(kind)}" for kind, per in kinds]


PURPOSES = (  # (client, method, path-shape fragment) -> what the request is for
    ("suite", "GET", "/namespaces/istio-system/secrets/NAME", "join: is A's secret in B (any labels)"),
    ("suite", "POST", "/namespaces/istio-system/secrets", "join: create A's remote secret in B"),
    ("suite", "PATCH", "/namespaces/istio-system/secrets/NAME", "join: mark a concurrent run's secret kept"),
    ("suite", "DELETE", "/namespaces/istio-system/secrets/NAME", "clean-up: delete A's remote secret in B"),
    ("suite", "POST", "/serviceaccounts/NAME/token", "join: A's reader token for the secret (per source)"),
    ("suite", "GET", "/configmaps/NAME", "join: A's CA, kube-root-ca.crt (per source)"),
    ("suite", "POST", "selfsubjectrulesreviews", "join: the secret's token may read what istiod needs"),
    ("suite", "POST", "selfsubjectaccessreviews", "join: the secret's token, one need a rule did not show"),
    ("istiod", "GET", "", "not the suite: B's istiod lists A's API server with A's secret (its informers)"),
)


def _purpose(kind: str) -> str:
    client, method, path = [*kind.split(" ", 2), "", ""][:3]
    for who, verb, fragment, purpose in PURPOSES:
        if client == who and method == verb and fragment in path:
            return purpose
    return "unexplained: look at the request log"


def final_line(figs: dict[str, float | None]) -> str:
    return "bench: " + " ".join(f"{key}={fmt(key, figs.get(key))}" for key in FINAL_KEYS)
