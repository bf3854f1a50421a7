"""No credential in any output when the credential itself ends up in an error's text.

test_safety_secrets.py searches the outputs of runs whose errors never quote a credential. Here
they do, as they do in the field:
- a token file that ends in a newline (`echo $TOKEN > token`): kubectl trims it, the Python client
  sent it as read, and http.client refused the header, quoting it whole (`Invalid header value
  b'Bearer ...\\n'`) into the reach check's failure, report.html and junit.xml;
- an API server, or a proxy in front of it, whose 4xx/5xx Status message echoes the request's
  Authorization header;
- an exec credential plugin that fails and prints the token it could not use on stderr, which the
  client's loader puts into its error and preflight into its one refusal line;
- a kubeconfig entry with a misspelt field, which the client's loader quotes whole in its error,
  with the token and the client key beside it.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from safety_support import REFUSAL_SECONDS, run_suite
from support import LabEnv

pytestmark = pytest.mark.selftest_slow

LOUD = ["-l", "--tb=long", "-vv", "-rA", "-o", "log_cli=true", "--log-level=DEBUG"]
LOUD += ["-o", "junit_logging=all", "-o", "junit_log_passing_tests=true"]
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


def outputs(report_dir: Path, terminal: str) -> dict[str, str]:
    files = {str(p): p.read_text(errors="replace") for p in report_dir.rglob("*") if p.is_file()}
    return {**files, "terminal": terminal}


def shown(texts: dict[str, str], secrets: set[str]) -> list[tuple[str, str]]:
    return [(name, f"{s[:6]}...") for name, text in texts.items() for s in secrets if s in text]


def test_token_file_ending_in_a_newline_works_and_never_shows(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path) as lab:
        doc = yaml.safe_load(lab.kubeconfig.read_text())
        tokens = set()
        for i, user in enumerate(doc["users"]):
            token = user["user"].pop("token")
            tokens.add(token)
            (tmp_path / f"token-{i}").write_text(token + "\n")
            user["user"]["tokenFile"] = f"token-{i}"  # relative to the kubeconfig, as kubectl reads it
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(doc))
        reports = tmp_path / "reports"
        contexts = [f"--ctx={c}" for c in lab.contexts]
        run = run_suite(reports, f"--kubeconfig={kubeconfig}", *contexts, "--requests=5", *LOUD)
    assert shown(outputs(reports, run.output), tokens) == []
    assert run.returncode == 0 and "Traceback" not in run.output, run.tail()


@pytest.fixture
def echo_server() -> Iterator[tuple[str, list[int]]]:
    """Plain HTTP that answers every request with the status in `codes[0]` and a Status whose
    message quotes the request's Authorization header."""
    codes = [500]

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            message = f"upstream refused: Authorization: {self.headers.get('Authorization')}"
            body = json.dumps({"kind": "Status", "reason": "InternalError", "message": message}).encode()
            self.send_response(codes[0])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", codes
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("code", "token"),
    [
        (500, JWT),
        (403, JWT),
        (401, "opaque-token-" + "q" * 40),
        (200, JWT + "\n"),
        (200, "opaque\nline-2" * 3),
    ],
    ids=["500-echo", "403-echo", "401-echo-opaque", "newline-in-jwt", "newline-in-opaque"],
)
def test_an_error_quoting_the_authorization_header_holds_no_token(
    echo_server: tuple[str, list[int]], code: int, token: str
) -> None:
    from kubernetes import client

    from meshconform.kube import errors
    from meshconform.kube.client import Cluster

    url, codes = echo_server
    codes[0] = code
    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"authorization": "Bearer " + token}
    cluster = Cluster("ctx", "cluster-1", configuration)
    cluster.attempts = 1
    with pytest.raises(errors.KubeError) as caught:
        cluster.read("GET namespace kube-system", cluster.core.read_namespace, "kube-system")
        if code == 200:  # http.client accepted the header: nothing was tested
            pytest.fail("the request was sent")
    text = f"{caught.value!s} {caught.value!r} {vars(caught.value)!r}"
    parts = {token.strip(), *(p for p in token.split("\n") if len(p) >= 8)}
    assert shown({"error": text}, parts) == [], text
    assert "Authorization" in text or "header" in text, f"the error no longer says what failed: {text}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path_factory.mktemp("plugin")) as target:
        yield target


@pytest.mark.parametrize("token", [JWT, "ya29.a0AfB_byC" + "x" * 60], ids=["jwt", "google-access-token"])
def test_exec_plugin_printing_its_token_is_one_line_without_it(
    lab: LabEnv, token: str, tmp_path: Path
) -> None:
    plugin = tmp_path / "auth-plugin"
    plugin.write_text(f"#!/bin/sh\necho 'error: cached token {token} has expired' >&2\nexit 1\n")
    plugin.chmod(0o755)
    doc = yaml.safe_load(lab.kubeconfig.read_text())
    user = doc["users"][1]["user"]
    del user["token"]
    user["exec"] = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(doc))
    reports = tmp_path / "reports"
    run = run_suite(reports, f"--kubeconfig={kubeconfig}", *lab.args()[1:], timeout=REFUSAL_SECONDS)
    assert run.returncode == 4 and "Traceback" not in run.output, run.tail()
    lines = [line for line in run.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot get credentials for context" in lines[0], run.tail()
    assert "has expired" in lines[0], lines[0]  # the plugin's own words are still there
    assert shown(outputs(reports, run.output), {token}) == []


def test_misspelt_user_entry_is_one_line_without_its_credentials(lab: LabEnv, tmp_path: Path) -> None:
    from test_safety_secrets import with_client_keys

    kubeconfig, secrets = with_client_keys(lab, tmp_path)
    doc = yaml.safe_load(kubeconfig.read_text())
    entry = doc["users"][1]
    entry["users"] = entry.pop("user")  # `users:` for `user:`: "Expected key user in .../{entry}"
    kubeconfig.write_text(yaml.safe_dump(doc))
    reports = tmp_path / "reports"
    run = run_suite(reports, f"--kubeconfig={kubeconfig}", *lab.args()[1:], timeout=REFUSAL_SECONDS)
    assert run.returncode == 4 and "Traceback" not in run.output, run.tail()
    lines = [line for line in run.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot load context" in lines[0] and "user" in lines[0], run.tail()
    assert len(lines[0]) < 400, lines[0]
    assert shown(outputs(reports, run.output), {s for s in secrets if len(s) >= 16}) == [], lines[0]
