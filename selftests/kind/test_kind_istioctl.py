"""``meshconform.mesh.istioctl.create_remote_secret`` with a stub istioctl on PATH.

The stub records its arguments and prints what the test tells it to, so the plumbing (flags, the
``x`` fallback for istioctl releases that only have ``istioctl x create-remote-secret``, parsing,
errors) is checked without clusters. The secret-safety rule is checked too: no token from istioctl's
output or errors may reach an exception message or the log.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
import yaml

from meshconform.mesh import istioctl
from meshconform.mesh.istioctl import IstioctlError, create_remote_secret

DATA = Path(__file__).parent / "data" / "istioctl-remote-secret.yaml"
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6aXN0aW8ifQ.c2lnbmF0dXJl"

STUB = """#!{python}
import json, sys
from pathlib import Path
here = Path(__file__).parent
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
legacy_only = (here / "legacy-only").exists()
if legacy_only and sys.argv[1] != "x":
    print('Error: unknown command "create-remote-secret" for "istioctl"', file=sys.stderr)
    sys.exit(1)
sys.stderr.write((here / "stderr.txt").read_text())
sys.stdout.write((here / "stdout.txt").read_text())
sys.exit(int((here / "rc.txt").read_text()))
"""


class Stub:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        (bindir / "istioctl").write_text(STUB.format(python=sys.executable))
        (bindir / "istioctl").chmod(0o755)
        self.answer(DATA.read_text())

    def answer(self, stdout: str, stderr: str = "", rc: int = 0) -> None:
        (self.bindir / "stdout.txt").write_text(stdout)
        (self.bindir / "stderr.txt").write_text(stderr)
        (self.bindir / "rc.txt").write_text(str(rc))

    def calls(self) -> list[list[str]]:
        path = self.bindir / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def stub(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    return Stub(bindir)


def test_returns_the_secret_istioctl_printed(stub):
    secret = create_remote_secret(
        "kind-mc-1", "primary", kubeconfig="/k/config", server="https://172.18.0.2:6443"
    )
    assert secret == next(d for d in yaml.safe_load_all(DATA.read_text()) if d)
    assert stub.calls() == [
        [
            "create-remote-secret",
            "--context=kind-mc-1",
            "--name=primary",
            "--kubeconfig=/k/config",
            "--server=https://172.18.0.2:6443",
        ]
    ]


def test_optional_flags_are_left_out(stub):
    create_remote_secret("gke_p_z_cluster-1", "cluster-1", None, None)
    assert stub.calls() == [["create-remote-secret", "--context=gke_p_z_cluster-1", "--name=cluster-1"]]


def test_falls_back_to_x_for_istioctl_releases_without_the_top_level_command(stub):
    (stub.bindir / "legacy-only").touch()
    secret = create_remote_secret("ctx", "primary", None, None)
    assert secret["metadata"]["name"] == "istio-remote-secret-primary"
    assert [c[:2] for c in stub.calls()] == [
        ["create-remote-secret", "--context=ctx"],
        ["x", "create-remote-secret"],
    ]


def test_missing_istioctl_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(IstioctlError) as info:
        create_remote_secret("ctx", "cluster-1", None, None)
    assert str(info.value) == "istioctl is not on PATH; install it or use --join-with native"


def test_failure_names_the_command_without_secrets(stub):
    stub.answer("", stderr=f"2024-01-01 info  Creating token\nerror: bad token {TOKEN} for reader\n", rc=1)
    with pytest.raises(IstioctlError) as info:
        create_remote_secret("ctx", "cluster-1", None, None)
    message = str(info.value)
    assert message == (
        "istioctl create-remote-secret --context=ctx --name=cluster-1 failed (exit 1): "
        "error: bad token <redacted> for reader"
    )
    assert "\n" not in message and TOKEN not in message
    assert_no_chained_exception(info.value)


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        (f"apiVersion: v1\nkind: Secret\nstringData: {{a: [{TOKEN}\n", r"is not YAML \(line \d+\)$"),
        ("# nothing\n---\n", "printed 0 Secret objects, expected exactly 1"),
        (DATA.read_text() + DATA.read_text(), "printed 2 Secret objects, expected exactly 1"),
    ],
    ids=["not-yaml", "empty", "two-secrets"],
)
def test_unusable_output_is_refused_without_quoting_it(stub, stdout, expected):
    stub.answer(stdout)
    with pytest.raises(IstioctlError, match=expected) as info:
        create_remote_secret("ctx", "cluster-1", None, None)
    assert TOKEN not in str(info.value) and "\n" not in str(info.value)
    assert_no_chained_exception(info.value)


def assert_no_chained_exception(error: BaseException) -> None:
    """A chained YAML or subprocess error would print istioctl's output in a traceback."""
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_warnings_are_logged_and_the_secret_never_is(stub, caplog):
    secret_yaml = DATA.read_text().replace("token: token", f"token: {TOKEN}")
    warning = "warn: server in Kubeconfig is https://127.0.0.1:36443. This is likely not reachable\n"
    stub.answer(secret_yaml, stderr=warning)
    with caplog.at_level(logging.DEBUG, logger=istioctl.__name__):
        secret = create_remote_secret("kind-mc-1", "primary", None, None)
    assert TOKEN in secret["stringData"]["primary"]
    assert [r.getMessage() for r in caplog.records] == [
        "istioctl create-remote-secret --context=kind-mc-1 --name=primary: " + warning.strip()
    ]
    assert TOKEN not in caplog.text
