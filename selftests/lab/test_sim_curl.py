"""curl inside a pod: argv parsing, URL globbing, -w write-out, -o pairing, errors and exit codes.

The first half drives traffic.curl with a fake network (pure functions, no lab); the second runs
curl through a real exec in a lab pod, where DNS and the network are the lab's.
"""

from __future__ import annotations

import pytest
from sim_support import Mesh, guide_mesh

from meshconform.lab.traffic import curl, curlargs, globbing
from meshconform.lab.traffic.curl import Transfer


def fake_fetch(url: str, method: str, headers: list[str], o: curlargs.Options) -> Transfer:
    if "nohost" in url:
        return Transfer(url, method=method, error=(6, "Could not resolve host: nohost"))
    if "refused" in url:
        return Transfer(url, method=method, error=(7, "Failed to connect to refused port 80 after 0 ms: "
                                                      "Could not connect to server"))
    status = 500 if "fail" in url else 200
    return Transfer(url, status=status, body=f"body {url}\n", seconds=0.0125, remote_ip="10.7.240.1",
                    remote_port=5000, method=method, headers=[("content-type", "text/plain")])


def run(*argv: str) -> tuple[str, str, int]:
    out, err, code = curl.run(list(argv), fake_fetch)
    return out.decode(), err.decode(), code


@pytest.mark.parametrize(("pattern", "want"), [
    ("h/[1-3]", ["h/1", "h/2", "h/3"]),
    ("h/[01-03]", ["h/01", "h/02", "h/03"]),
    ("h/[1-10:4]", ["h/1", "h/5", "h/9"]),
    ("h/[a-c]", ["h/a", "h/b", "h/c"]),
    ("h/{x,y}/[1-2]", ["h/x/1", "h/x/2", "h/y/1", "h/y/2"]),
    ("h/\\[1-2\\]", ["h/[1-2]"]),
])
def test_globbing(pattern: str, want: list[str]) -> None:
    assert globbing.expand(pattern) == want


def test_glob_errors_name_the_position() -> None:
    _out, err, code = run("-sS", "http://h:5000/hello?[1-]")
    assert code == 3 and "bad range in URL position 21:" in err and err.rstrip().endswith("^")


def test_short_options_bundle_and_take_attached_values() -> None:
    o = curlargs.parse(["-sSm5", "-w", "%{http_code}", "-o/dev/null", "u1", "-H", "a: b", "u2"])
    assert (o.silent, o.show_error, o.max_time, o.write_out) == (True, True, 5.0, "%{http_code}")
    assert o.urls == [("u1", "/dev/null"), ("u2", None)] and o.headers == ["a: b"]


def test_long_options_and_output_pairing_in_order() -> None:
    o = curlargs.parse(["--output", "/dev/null", "--silent", "--max-time", "2.5", "--url", "a", "b",
                        "--no-progress-meter", "-o", "f"])
    assert o.urls == [("a", "/dev/null"), ("b", "f")] and o.max_time == 2.5 and not o.progress


def test_unknown_option_and_no_url_are_exit_2() -> None:
    _out, err, code = run("-Q", "u")
    assert code == 2 and err.startswith("curl: option -Q: is unknown\ncurl: try 'curl --help'")
    assert run("-s")[2] == 2 and "no URL specified" in run("-s")[1]
    assert run("--max-time", "x", "u")[2] == 2


def test_write_out_variables_and_escapes() -> None:
    out, err, code = run(
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{time_total} %{remote_ip}:%{remote_port}"
        " %{exitcode} %{size_download}%% %{header{content-type}}\\n",
        "http://h/ok",
    )
    assert code == 0 and err == ""
    assert out == "200 0.012500 10.7.240.1:5000 0 17% text/plain\n"
    out, err, _ = run("-s", "-w", "%{nonsense}", "http://h/")
    assert "unknown --write-out variable: 'nonsense'" in err


def test_bodies_then_write_out_per_url_and_exit_code_of_the_last_transfer() -> None:
    out, err, code = run("-sS", "-w", "[%{http_code}]\\n", "http://nohost/", "http://h/{a,b}")
    assert out == "[000]\nbody http://h/a\n[200]\nbody http://h/b\n[200]\n"
    assert err == "curl: (6) Could not resolve host: nohost\n" and code == 0
    out, err, code = run("-s", "http://h/a", "http://refused/")
    assert code == 7 and err == ""  # -s alone hides the message, not the exit code


def test_fail_and_include_and_head() -> None:
    out, err, code = run("-sSf", "http://h/fail")
    assert code == 22 and out == "" and "The requested URL returned error: 500" in err
    out, _, code = run("-si", "http://h/ok")
    assert code == 0 and out.startswith("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nbody")
    out, _, _ = run("-sI", "http://h/ok")
    assert out.startswith("HTTP/1.1 200") and "body" not in out


def test_max_time_ends_a_slow_transfer_with_28() -> None:
    out, err, code = run("-sS", "-m", "0.01", "-w", "%{http_code}", "http://h/ok")
    assert code == 28 and out == "000" and "Operation timed out after 10 milliseconds" in err


def test_progress_meter_goes_to_stderr_unless_silent() -> None:
    out, err, _ = run("http://h/ok")
    assert out == "body http://h/ok\n" and "% Total" in err


# -- through a real exec ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    m = guide_mesh(tmp_path_factory, clusters=2)
    yield m
    m.stop()


def test_exec_curl_dns_needs_the_service_in_the_callers_cluster(mesh: Mesh) -> None:
    out, err, code = mesh.curl(0, "-sS", "http://nothere.sample:5000/hello")
    assert code == 6 and "Could not resolve host: nothere.sample" in err
    for host in (
        "helloworld",
        "helloworld.sample",
        "helloworld.sample.svc",
        "helloworld.sample.svc.cluster.local",
    ):
        out, err, code = mesh.curl(0, "-sS", f"http://{host}:5000/hello")
        assert code == 0 and out.startswith("Hello version: v"), (host, err)


def test_exec_curl_exit_codes(mesh: Mesh) -> None:
    out, err, code = mesh.curl(0, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://sleep.sample/")
    assert code == 0 and out == "503"  # nothing listens behind sleep's port 80: Envoy answers 503
    out, err, code = mesh.exec(0, mesh.sleep_pod(0), "istio-proxy", ["curl", "-sS", "http://sleep.sample/"])
    assert code == 7 and "Could not connect to server" in err  # the proxy's own uid bypasses Envoy
    out, err, code = mesh.curl(0, "-sS", "ftp://helloworld.sample/")
    assert code == 1 and 'Protocol "ftp" not supported' in err
    out, err, code = mesh.curl(0, "-sS", "http://helloworld.sample:5000/nope", "-w", "%{http_code}")
    assert code == 0 and out.endswith("404") and "404 Not Found" in out
    out, err, code = mesh.exec(
        0, mesh.sleep_pod(0), "sleep", ["sh", "-c", "curl -s helloworld.sample:5000/hello"]
    )
    assert code == 0 and out.startswith("Hello version:")


def test_exec_curl_globbing_through_the_mesh(mesh: Mesh) -> None:
    calls = mesh.hello(1, 20)
    assert len(calls) == 20 and all(c.startswith("200 Hello version: v") for c in calls)
