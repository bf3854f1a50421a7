"""The bench's matrix, its figures and its printout (see meshconform.bench for what each means).

Kept apart from the running so that the arithmetic and the exact final line can be unit-tested
without starting a lab.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

TARGETS = {  # issue 6, "Done when": (comparison, limit)
    "execs_per_source": ("==", 1.0),
    "r1000_over_r20": ("<=", 2.0),
    "n4_over_n2": ("<=", 2.5),
    "batched_over_naive": ("<=", 0.25),
    "wall_s": ("<", 10.0),
}
FINAL_KEYS = (
    "execs_per_source",
    "r1000_over_r20",
    "n4_over_n2",
    "batched_over_naive",
    "wall_s",
    "api_requests",
)
INTEGER_KEYS = {"execs_per_source", "api_requests"}


@dataclass(frozen=True)
class Config:
    """One suite run: so many lab clusters, so many hello calls per source, so many per exec."""

    clusters: int
    requests: int
    batch: int = 0  # hello calls per exec: 0 = all of a source's in one (the suite), 1 = the guide's loop
    rtt_ms: float = 0  # the lab's simulated API round trip (--lab-latency); 0 = loopback

    @property
    def mode(self) -> str:
        mode = "naive" if self.batch == 1 else "batched"
        return f"{mode}@{self.rtt_ms:g}ms" if self.rtt_ms else mode

    def pytest_args(self) -> list[str]:
        return [
            "--lab",
            f"--lab-clusters={self.clusters}",
            f"--requests={self.requests}",
            "-o",
            f"meshconform_curl_batch={self.batch}",
            *([f"--lab-latency={self.rtt_ms:g}"] if self.rtt_ms else []),
        ]


@dataclass
class LogCounts:
    """What the lab's request log says about one run."""

    api_requests: int = 0
    exec_sessions: int = 0
    source_execs: dict[str, int] = field(default_factory=dict)  # "cluster/pod" -> exec sessions
    traffic_s: float | None = None  # first traffic exec's start to the last one's end


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
) -> list[Config]:
    """The default run first, then every (clusters, requests) batched, then the naive run; each once.
    With rtt_ms, last the batched and the naive run again over that simulated round trip."""
    configs = [default]
    configs += [c for c in (Config(n, r) for n in clusters for r in requests) if c != default]
    if naive_requests:
        configs.append(Config(min(clusters), naive_requests, batch=1))
        if rtt_ms:
            configs += [Config(min(clusters), naive_requests, b, rtt_ms) for b in (0, 1)]
    return configs


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
    naive = traffic = over_rtt = None
    rtt = next((c.rtt_ms for c in results if c.rtt_ms), 0.0)
    if naive_requests:
        batched, one_each = Config(lo_n, naive_requests), Config(lo_n, naive_requests, 1)
        naive = _worst_ratio([(_wall(results, batched), _wall(results, one_each))])
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
        "batched_over_naive": naive,
        "wall_s": shown.wall_s if shown is not None and shown.exit_code == 0 else None,
        "api_requests": float(shown.api_requests) if shown is not None and shown.exit_code == 0 else None,
        "traffic_batched_over_naive": traffic,  # not on the final line: the traffic step alone
        "rtt_batched_over_naive": over_rtt,  # not on the final line: both runs over --rtt-ms
        "rtt_ms": rtt or None,
    }


def _traffic(results: dict[Config, Result], config: Config) -> float | None:
    result = results.get(config)
    return result.traffic_s if result is not None and result.exit_code == 0 and result.traffic_s else None


# -- printout -----------------------------------------------------------------------------------------

HEADER = (
    f"{'clusters':>8} {'requests':>8} {'mode':>15} {'wall_s':>7} {'cold_s':>7} {'cpu_s':>6} "
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
        f"{c.clusters:>8} {c.requests:>8} {c.mode:>15} {result.wall_s:>7.2f} "
        f"{_cell(result.cold.wall_s if result.cold else None, 7)} {_cell(result.cpu_s, 6)} "
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
        if value is None:
            verdict = "not measured"
        else:
            met = value == limit if op == "==" else value <= limit if op == "<=" else value < limit
            verdict = "met" if met else "MISSED"
        lines.append(f"  {name} = {fmt(name, value)} (target {op} {limit:g}): {verdict}")
    step = figs.get("traffic_batched_over_naive")
    if step is not None:
        lines.append(f"  (the traffic step alone, batched over naive: {step:.2f})")
    over_rtt, rtt = figs.get("rtt_batched_over_naive"), figs.get("rtt_ms")
    if over_rtt is not None and rtt:
        lines.append(
            f"  (both runs again with a {rtt:g} ms API round trip, --lab-latency: batched over naive "
            f"{over_rtt:.2f}; not a target, the figure above is)"
        )
    return lines


def final_line(figs: dict[str, float | None]) -> str:
    return "bench: " + " ".join(f"{key}={fmt(key, figs.get(key))}" for key in FINAL_KEYS)
