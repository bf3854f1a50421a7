"""curl batch: the command, and parsing its output into a Tally."""

from __future__ import annotations

from meshconform import traffic


def reply(version, pod, code="200"):
    return f"Hello version: {version}, instance: {pod}\n\n@@meshconform code={code}@@\n"


def test_command_is_one_curl_over_a_glob():
    cmd = traffic.curl_command("sample", 50)
    assert cmd[0] == "curl" and cmd[-1] == "http://helloworld.sample:5000/hello?[1-50]"
    assert "-w" in cmd and "%{http_code}" in cmd[cmd.index("-w") + 1]
    assert cmd[cmd.index("-m") + 1] == str(traffic.CALL_TIMEOUT)


def test_batches_cover_all_requests():
    assert traffic.batches(50, 0) == [(1, 50)]
    assert traffic.batches(50, 20) == [(1, 20), (21, 20), (41, 10)]


def test_parse_tallies_versions_pods_codes():
    out = reply("v1", "helloworld-v1-a") * 3 + reply("v2", "helloworld-v2-b") * 2
    t = traffic.parse("cluster-1", out)
    assert t.requests == 5 and t.by_status == {"200": 5}
    assert t.by_version == {"v1": 3, "v2": 2}
    assert t.by_pod == {"helloworld-v1-a": 3, "helloworld-v2-b": 2}
    assert t.malformed == 0 and not t.errors


def test_parse_counts_failures_and_keeps_a_few_errors():
    out = (
        reply("v1", "p")
        + "\n@@meshconform code=000@@\n"
        + "upstream connect error\n@@meshconform code=503@@\n"
    )
    err = "curl: (28) Operation timed out after 5001 milliseconds with 0 bytes received\n"
    t = traffic.parse("cluster-1", out, err)
    assert t.requests == 3 and t.by_status == {"200": 1, "000": 1, "503": 1}
    assert t.by_version == {"v1": 1}
    assert "503: upstream connect error" in t.errors and any("curl: (28)" in e for e in t.errors)


def test_parse_flags_malformed_200():
    t = traffic.parse("cluster-1", "<html>proxy page</html>\n@@meshconform code=200@@\n")
    assert t.malformed == 1 and t.by_version == {}


def test_parse_copes_with_literal_backslash_n():
    one = "Hello version: {}, instance: p\\n@@meshconform code=200@@\\n"
    out = one.format("v1") + one.format("v2")
    t = traffic.parse("c", out)
    assert t.by_version == {"v1": 1, "v2": 1}


def test_error_pages_are_summarised():
    page = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Server Error</h1>"
    t = traffic.parse("c", page + "\n@@meshconform code=500@@\n")
    assert t.errors == ["500: 500 Internal Server Error"]
    t = traffic.parse(
        "c", "upstream connect error or disconnect/reset before headers\n@@meshconform code=503@@\n"
    )
    assert t.errors == ["503: upstream connect error or disconnect/reset before headers"]


def test_a_retaken_sample_keeps_earlier_failures():
    first = traffic.parse("c", reply("v1", "p") + "oops\n@@meshconform code=503@@\n")
    second = traffic.parse("c", reply("v1", "p") + reply("v2", "q"))
    traffic.keep_failures(second, first)
    assert second.by_status == {"200": 2, "503": 1} and second.requests == 3
    assert second.by_version == {"v1": 1, "v2": 1} and "503: oops" in second.errors
