"""The bench: its arithmetic and final line (fast), and one tiny end-to-end run (slow).

Speed is measured by the bench, never asserted here: a test machine's load says nothing about
the code. What is asserted is the shape of the output and that the suite's traffic step opens
exactly one exec session per source pod.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from meshconform.bench import cli as bench
from meshconform.bench.figures import (
    Config,
    LogCounts,
    Result,
    figures,
    final_line,
    per_pair_api_requests,
    per_pair_lines,
    plan,
    target_lines,
)

NUMBER = r"(?:\d+\.\d{2}|n/a)"
FINAL = re.compile(
    rf"^bench: execs_per_source=(?P<execs>\d+|n/a) r1000_over_r20={NUMBER} n4_over_n2={NUMBER} "
    rf"batched_over_naive={NUMBER} wall_s=(?P<wall>\d+\.\d{{2}}) api_requests=(?P<api>\d+) "
    rf"n8_over_n2={NUMBER} n20_over_n2={NUMBER} peak_mb_n20={NUMBER} api_per_pair={NUMBER} "
    rf"serial_rtts_n2=(?P<rtts2>{NUMBER}) serial_rtts_n20={NUMBER} n20_over_n2_inproc={NUMBER} "
    rf"floor_s_n20={NUMBER} n20_over_n2_net={NUMBER} lab_floor_n20_over_n2={NUMBER} "
    rf"suite_ms_per_pair={NUMBER}$"
)


def _log(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_request_log_counts_sessions_per_source(tmp_path: Path) -> None:
    exec_path = "/api/v1/namespaces/{}/pods/{}/exec"
    rows = [
        ("cluster-1", "/api/v1/namespaces/sample", 201, 10.000, 1.0),
        ("cluster-1", exec_path.format("istio-system", "istiod-x"), 101, 10.100, 5.0),
        ("cluster-1", exec_path.format("sample", "sleep-a"), 101, 10.500, 200.0),  # 10.3 .. 10.5
        ("cluster-2", exec_path.format("sample", "sleep-b"), 101, 10.600, 100.0),  # 10.5 .. 10.6
        ("cluster-2", exec_path.format("sample", "sleep-b"), 404, 10.700, 1.0),  # refused: no session
        ("cluster-2", exec_path.format("sample", "helloworld-v2-c"), 101, 10.650, 10.0),  # stats, no calls
    ]
    log = _log(
        tmp_path, [{"cluster": c, "path": p, "status": s, "ts": t, "ms": ms} for c, p, s, t, ms in rows]
    )
    counts = bench.read_request_log(log)
    assert (counts.api_requests, counts.exec_sessions) == (6, 4)
    assert counts.source_execs == {"cluster-1/sleep-a": 1, "cluster-2/sleep-b": 1}
    assert counts.traffic_s == pytest.approx(0.35)  # the servers' stats readings are part of the step
    assert bench.read_request_log(tmp_path / "missing.jsonl") == LogCounts()


def test_session_seconds_reads_pytests_closing_line() -> None:
    assert bench.session_seconds("...\n36 passed in 1.23s\n") == 1.23
    assert bench.session_seconds("== 2 failed, 34 passed in 12.50s (0:00:12) ==") == 12.5
    assert bench.session_seconds("no closing line") is None


def _result(config: Config, wall: float, per_source: int = 1, api: int = 100) -> Result:
    return Result(config, wall, 0, api_requests=api, source_execs={"cluster-1/sleep": per_source})


def test_figures_are_worst_case_wall_ratios() -> None:
    default = Config(2, 50)
    configs = plan([2, 4], [20, 1000], 200, default)
    assert configs[0] == default and Config(2, 200, batch=1) in configs and len(configs) == 6
    walls = {
        Config(2, 50): 2.0, Config(2, 20): 2.0, Config(2, 1000): 3.0,
        Config(4, 20): 4.0, Config(4, 1000): 5.0, Config(2, 200, 1): 10.0,
    }  # fmt: skip
    results = {c: _result(c, w, per_source=200 if c.batch else 1) for c, w in walls.items()}
    results[Config(2, 200)] = _result(Config(2, 200), 2.5)
    figs = figures(results, [2, 4], [20, 1000], 200, default)
    assert figs == {
        "execs_per_source": 1.0,  # the naive run's 200 per source is its design, not counted
        "r1000_over_r20": 1.5,
        "n4_over_n2": 2.0,
        "batched_over_naive": None,  # measured over the round trip only, and this plan has none
        "wall_s": 2.0,
        "api_requests": 100.0,
        "n8_over_n2": None,
        "n20_over_n2": None,
        "peak_mb_n20": None,
        "api_per_pair": None,
        "serial_rtts_n2": None,
        "serial_rtts_n20": None,
        "n20_over_n2_inproc": None,
        "floor_s_n20": None,
        "n20_over_n2_net": None,
        "lab_floor_n20_over_n2": None,
        "suite_ms_per_pair": None,
        "traffic_batched_over_naive": None,  # no traffic step timed in these made-up results
        "loopback_batched_over_naive": 0.25,  # beside the targets: it measured the machine's exec cost
        "rtt_ms": None,
    }
    line = final_line(figs)
    assert FINAL.match(line), line
    assert any("batched over naive on loopback, no round trip: 0.25" in t for t in target_lines(figs))


def test_batched_over_naive_is_measured_over_the_round_trip() -> None:
    default = Config(2, 50)
    configs = plan([2], [50], 200, default, rtt_ms=20)
    slow = [Config(2, 200, 0, 20), Config(2, 200, 1, 20)]
    assert configs == [default, Config(2, 200, batch=1), *slow]
    assert slow[0].pytest_args()[-1] == "--lab-latency=20" and slow[1].mode == "naive@20ms"
    walls = {default: 1.0, Config(2, 200): 1.0, Config(2, 200, 1): 2.0, slow[0]: 3.0, slow[1]: 30.0}
    figs = figures({c: _result(c, w) for c, w in walls.items()}, [2], [50], 200, default)
    assert figs["batched_over_naive"] == 0.1 and figs["loopback_batched_over_naive"] == 0.5
    assert figs["rtt_ms"] == 20
    assert "batched_over_naive=0.10" in final_line(figs)
    assert any("batched_over_naive = 0.10 (target <= 0.2): met" in t for t in target_lines(figs))


def _scale(n: int, rtt: float = 20, apart: bool = True) -> Config:
    return Config(n, 0, 0, rtt, apart=apart)


def test_fleet_figures_compare_default_runs_with_the_lab_apart() -> None:
    default = Config(2, 50)
    configs = plan([2], [50], 0, default, scale=[2, 8, 20])
    fleet = [_scale(2), _scale(8), _scale(20), _scale(2, 0), _scale(2, 60), _scale(20, 0), _scale(20, 60)]
    inproc = [_scale(2, apart=False), _scale(20, apart=False)]
    assert configs == [default, *fleet, *inproc]
    assert not any(a.startswith("--requests") for a in _scale(20).pytest_args()), "the suite's own default"
    walls = {_scale(2): 3.0, _scale(8): 7.5, _scale(20): 12.0, _scale(2, 0): 2.0, _scale(2, 60): 4.4,
             _scale(20, 0): 6.0, _scale(20, 60): 10.5, inproc[0]: 3.5, inproc[1]: 21.0}  # fmt: skip
    results = {c: _result(c, w, api=100) for c, w in {default: 2.0, **walls}.items()}
    results[_scale(20)].api_requests = 100 + 378 * 3
    results[_scale(20)].peak_mb = 480.0
    results[_scale(2)].floor_s, results[_scale(20)].floor_s = 0.5, 4.5
    results[_scale(20)].lab_cpu_s = 9.0
    results[_scale(2)].cpu_s, results[_scale(20)].cpu_s = 0.5, 8.06
    figs = figures(results, [2], [50], 0, default)
    assert figs["n8_over_n2"] == 2.5 and figs["n20_over_n2"] == 4.0 and figs["peak_mb_n20"] == 480.0
    assert figs["api_per_pair"] == 3.0
    assert figs["serial_rtts_n2"] == pytest.approx(40.0) and figs["serial_rtts_n20"] == pytest.approx(75.0)
    assert figs["n20_over_n2_inproc"] == 6.0, "the in-process runs, kept for comparison"
    assert figs["n20_over_n2_net"] == 3.0 and figs["floor_s_n20"] == 4.5  # (12 - 4.5) / (3 - 0.5)
    assert figs["lab_floor_n20_over_n2"] == 3.0, "the lab's 9 s of CPU over the 2-cluster run's 3 s"
    assert figs["suite_ms_per_pair"] == pytest.approx(20.0)  # (8.06 - 0.5) s / 378 pairs
    lines = target_lines(figs)
    assert "  n8_over_n2 = 2.50 (target <= 2): MISSED" in lines
    assert "  n20_over_n2 = 4.00 (target <= 4): met" in lines
    assert "  peak_mb_n20 = 480.00 (target <= 500): met" in lines
    assert "  n20_over_n2_net = 3.00 (target <= 4): met" in lines
    assert "  serial_rtts_n20 = 75.00 (target <= 1.5 x serial_rtts_n2 = 60.00): MISSED" in lines
    assert any("the lab in the suite's process (--lab): 6.00; not a target" in t for t in lines)
    line = final_line(figs)
    assert FINAL.match(line), line
    assert "api_per_pair=3.00 serial_rtts_n2=40.00 serial_rtts_n20=75.00" in line
    assert line.endswith(
        "n20_over_n2_inproc=6.00 floor_s_n20=4.50 n20_over_n2_net=3.00 lab_floor_n20_over_n2=3.00 "
        "suite_ms_per_pair=20.00"
    )
    assert any("no suite can make n20_over_n2 smaller on this machine" in t for t in lines)


def test_a_run_with_the_lab_apart_names_no_lab_option() -> None:
    """The bench gives it --kubeconfig and the lab's contexts; --lab would start a second lab."""
    args = _scale(20, 60).pytest_args()
    assert not any(a.startswith("--lab") for a in args), args
    assert _scale(20, 60).mode == "batched@60ms,apart"
    assert "--lab-latency=60" in _scale(20, 60, apart=False).pytest_args()
    lab = bench.LabProcess(Path("/k"), ["ctx-a", "ctx-b"])
    assert lab.suite_args() == ["--kubeconfig=/k", "--ctx=ctx-a", "--ctx=ctx-b"]


def test_net_ratio_needs_both_floors_and_a_run_longer_than_its_floor() -> None:
    n2, n20 = _result(_scale(2), 3.0), _result(_scale(20), 12.0)
    assert figures({_scale(2): n2, _scale(20): n20}, [2], [50], 0, Config(2, 50))["n20_over_n2_net"] is None
    n2.floor_s, n20.floor_s = 3.0, 4.0
    assert figures({_scale(2): n2, _scale(20): n20}, [2], [50], 0, Config(2, 50))["n20_over_n2_net"] is None


def test_tests_run_reads_pytests_closing_line() -> None:
    assert bench.tests_run("x\n1800 passed, 3 warnings in 25.1s\n") == 1800
    assert bench.tests_run("== 2 failed, 33 passed, 1 skipped in 1.20s ==") == 36
    assert bench.tests_run("no tests ran in 0.01s") is None


@pytest.mark.selftest_slow
def test_lab_apart_serves_its_contexts_and_is_stopped_by_pid(tmp_path: Path) -> None:
    with bench.lab_apart(Config(2, 0, 0, 0, apart=True), tmp_path, tmp_path / "requests.jsonl") as lab:
        assert len(lab.contexts) == 2 and lab.kubeconfig.exists() and lab.pid is not None
        os.kill(lab.pid, 0)  # up while inside
    with pytest.raises(ProcessLookupError):
        os.kill(lab.pid, 0)  # stopped and reaped on the way out
    assert lab.cpu_s is not None and lab.cpu_s > 0, "os.wait4 gave the lab's CPU"


def test_per_pair_requests_say_what_they_are_for() -> None:
    client, lab_istiod, kubectl = "OpenAPI-Generator/37", "Python/3.11 aiohttp/3.14", "kubectl/1.30"
    entries = [
        {"method": "POST", "path": "/api/v1/namespaces/istio-system/secrets", "user_agent": client},
        {"method": "GET", "path": "/api/v1/namespaces/istio-system/secrets/istio-remote-secret-c3",
         "user_agent": client},
        {"method": "GET", "path": "/api/v1/pods", "user_agent": lab_istiod},
        {"method": "GET", "path": "/api/v1/namespaces/sample/pods/sleep-x/exec", "user_agent": kubectl},
    ]  # fmt: skip
    kinds = [bench.request_kind(e) for e in entries]
    assert kinds == [
        "suite POST /api/v1/namespaces/istio-system/secrets",
        "suite GET /api/v1/namespaces/istio-system/secrets/NAME",
        "istiod GET /api/v1/pods",
        "suite GET /api/v1/namespaces/sample/pods/NAME/exec",
    ]
    n2, n20 = _result(_scale(2), 1.0), _result(_scale(20), 2.0)
    n2.kinds = {kinds[0]: 2, kinds[1]: 2, kinds[2]: 10}
    n20.kinds = {kinds[0]: 380, kinds[1]: 380, kinds[2]: 388, kinds[3]: 20}
    grown = per_pair_api_requests({_scale(2): n2, _scale(20): n20})
    assert grown == [(kinds[2], 1.0), (kinds[1], 1.0), (kinds[0], 1.0)], "per-cluster requests are not listed"
    lines = per_pair_lines(grown)
    assert "not the suite: B's istiod lists A's API server" in lines[0]
    assert "is A's secret in B" in lines[1] and "create A's remote secret in B" in lines[2]


def test_a_reduced_matrix_says_n_a() -> None:
    default = Config(2, 10)
    figs = figures({default: _result(default, 3.0)}, [2], [10], 0, default)
    line = final_line(figs)
    assert line == (
        "bench: execs_per_source=1 r1000_over_r20=n/a n4_over_n2=n/a batched_over_naive=n/a "
        "wall_s=3.00 api_requests=100 n8_over_n2=n/a n20_over_n2=n/a peak_mb_n20=n/a api_per_pair=n/a "
        "serial_rtts_n2=n/a serial_rtts_n20=n/a n20_over_n2_inproc=n/a floor_s_n20=n/a n20_over_n2_net=n/a "
        "lab_floor_n20_over_n2=n/a suite_ms_per_pair=n/a"
    )
    assert FINAL.match(line)


@pytest.mark.selftest_slow
def test_tiny_bench_end_to_end(tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "meshconform.bench",
        # --requests is a floor: 2 clusters need 22 calls per source to judge a miss, so ask for more
        "--clusters", "2", "--requests", "25,30", "--naive-requests", "25", "--default-requests", "30",
        "--cold", "default", "--repeat", "1", "--workdir", str(tmp_path), "--scale", "2,3",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines[0].split()[:3] == ["clusters", "requests", "mode"], proc.stdout
    assert sum(1 for line in lines if line.startswith("bench:")) == 1, proc.stdout
    final = FINAL.match(lines[-1])
    assert final, f"last line is not the bench line: {lines[-1]!r}"
    assert final["execs"] == "1", proc.stdout
    assert int(final["api"]) > 0
    naive = [line.split() for line in lines if " naive " in line]
    assert naive and naive[0][-2] == "25", f"the naive run opens one exec per call: {naive}"
    slow = [line.split() for line in lines if " naive@20ms " in line]
    assert slow and slow[0][-2] == "25" and slow[0][-1] == "passed", f"the 20 ms round-trip run: {slow}"
    fleet = [line.split() for line in lines if line.split()[1:3] == ["default", "batched@60ms,apart"]]
    assert len(fleet) == 2 and all(f[-1] == "passed" for f in fleet), f"the 60 ms default runs: {fleet}"
    apart = next(f for f in fleet if f[0] == "2")
    assert apart[6] != "-" and int(apart[9]) > 0, f"the lab's CPU and its request log, apart: {apart}"
    counts = []
    for n in (2, 3):  # each floor as many trivial tests as its run, both in the one driver process
        runs = tmp_path / f"n{n}-r0-batched@20ms,apart"
        tests = bench.tests_run((runs / "warm-1" / "output.txt").read_text())
        floor = bench.tests_run((runs / "floor-0" / "output.txt").read_text())
        assert tests and floor == tests, f"pytest alone ran as many trivial tests as the {n}-cluster run"
        counts.append(tests)
    assert counts[0] < counts[1]
    assert final["rtts2"] != "n/a", lines[-1]
    memory = re.compile(r"suite process peak RSS at 3 clusters, lab apart: \d+ MB \(exit 0\)")
    assert any(memory.search(line) for line in lines), proc.stdout
