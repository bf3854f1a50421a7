"""curl batch: the command, and parsing its output into a Tally; retakes of a sample that misses
a version."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from meshconform.checks import statistics
from meshconform.mesh import hello_calls, sampling
from meshconform.mesh.facts import Tally
from meshconform.run import pipeline
from meshconform.run.config import RunConfig


def reply(version, pod, code="200"):
    return f"Hello version: {version}, instance: {pod}\n\nmeshconform code={code}\n"


def test_command_is_one_curl_over_a_glob():
    cmd = hello_calls.curl_command("sample", 50)
    assert cmd[0] == "curl" and cmd[-1] == "http://helloworld.sample:5000/hello?[1-50]"
    assert "-w" in cmd and "%{http_code}" in cmd[cmd.index("-w") + 1]
    assert cmd[cmd.index("-m") + 1] == str(hello_calls.CALL_TIMEOUT)


def test_batches_cover_all_requests():
    assert hello_calls.batches(50, 0) == [(1, 50)]
    assert hello_calls.batches(50, 20) == [(1, 20), (21, 20), (41, 10)]


def test_parse_tallies_versions_pods_codes():
    out = reply("v1", "helloworld-v1-a") * 3 + reply("v2", "helloworld-v2-b") * 2
    t = hello_calls.parse("cluster-1", out)
    assert t.calls == 5 and t.by_status == {"200": 5}
    assert t.by_version == {"v1": 3, "v2": 2}
    assert t.by_pod == {"helloworld-v1-a": 3, "helloworld-v2-b": 2}
    assert t.malformed == 0 and not t.errors


def test_parse_counts_failures_and_keeps_a_few_errors():
    out = (
        reply("v1", "p")
        + "\nmeshconform code=000\n"
        + "upstream connect error\nmeshconform code=503\n"
    )
    err = "curl: (28) Operation timed out after 5001 milliseconds with 0 bytes received\n"
    t = hello_calls.parse("cluster-1", out, err)
    assert t.calls == 3 and t.by_status == {"200": 1, "000": 1, "503": 1}
    assert t.by_version == {"v1": 1}
    assert "503: upstream connect error" in t.errors and any("curl: (28)" in e for e in t.errors)


def test_parse_flags_malformed_200():
    t = hello_calls.parse("cluster-1", "<html>proxy page</html>\nmeshconform code=200\n")
    assert t.malformed == 1 and t.by_version == {}


def test_parse_copes_with_literal_backslash_n():
    one = "Hello version: {}, instance: p\\nmeshconform code=200\\n"
    out = one.format("v1") + one.format("v2")
    t = hello_calls.parse("c", out)
    assert t.by_version == {"v1": 1, "v2": 1}


def test_error_pages_are_summarised():
    page = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Server Error</h1>"
    t = hello_calls.parse("c", page + "\nmeshconform code=500\n")
    assert t.errors == ["500: 500 Internal Server Error"]
    t = hello_calls.parse(
        "c", "upstream connect error or disconnect/reset before headers\nmeshconform code=503\n"
    )
    assert t.errors == ["503: upstream connect error or disconnect/reset before headers"]


def test_a_retaken_sample_keeps_earlier_failures():
    first = hello_calls.parse("c", reply("v1", "p") + "oops\nmeshconform code=503\n")
    second = hello_calls.parse("c", reply("v1", "p") + reply("v2", "q"))
    hello_calls.keep_failures(second, first)
    assert second.by_status == {"200": 2, "503": 1} and second.calls == 3
    assert second.by_version == {"v1": 1, "v2": 1} and "503: oops" in second.errors


# -- retakes: more evidence, not the same too-small question ---------------------------------------


def _take(calls: int, answered: dict[str, int]) -> Tally:
    ok = sum(answered.values())
    status = {"200": ok, **({"503": calls - ok} if calls > ok else {})}
    errors = ["503: no healthy upstream"] if calls > ok else []
    return Tally("cluster-1", calls, status, dict(answered), errors=errors)


def _retaken(monkeypatch: pytest.MonkeyPatch, takes: list[Tally]) -> tuple[Tally, list[int]]:
    asked: list[int] = []

    def send(cluster: object, ns: str, pod: str, container: str, calls: int, batch: int = 0) -> Tally:
        asked.append(calls)
        return takes[len(asked) - 1]

    monkeypatch.setattr(pipeline.hello_calls, "send", send)
    monkeypatch.setattr(pipeline, "TRAFFIC_RETRY_SECONDS", 0.0)
    found = [sampling.Target("v1", "cluster-1", 0.5), sampling.Target("v2", "cluster-2", 0.5)]
    plan = sampling.plan_calls(found, 2, floor=50)
    cfg = RunConfig(contexts=("c1",), cluster_names=("cluster-1",))
    source: Any = SimpleNamespace(name="cluster-1")
    stop = threading.Event()
    return pipeline.take_until_reached(cfg, source, "sleep-x", "sleep", plan, {"v1", "v2"}, stop), asked


def test_a_retake_after_too_few_answers_sends_enough_and_keeps_the_failures(monkeypatch):
    first = _take(50, {"v1": 10})  # 40 failed: 10 answers cannot tell whether v2 is reachable
    tally, asked = _retaken(monkeypatch, [first, _take(110, {"v1": 55, "v2": 55})])
    assert asked == [50, 110]  # 22 answers are needed; at 1 answer in 5 that is 110 calls
    assert tally.takes == [50, 110] and tally.by_version == {"v1": 55, "v2": 55}
    assert tally.by_status == {"200": 110, "503": 40} and tally.calls == 150


def test_a_conclusive_miss_is_asked_again_at_the_same_size_and_judged_on_the_last_take(monkeypatch):
    tally, asked = _retaken(monkeypatch, [_take(50, {"v1": 50}) for _ in range(3)])
    assert asked == [50, 50, 50] and tally.takes == [50, 50, 50]
    assert tally.by_version == {"v1": 50}  # the last take's counts: earlier ones saw an older mesh
    assert statistics.reached([sampling.Target("v2", "cluster-2", 0.5)], 4)(tally) is not None
