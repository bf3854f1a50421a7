"""No secret in any output: the lab's real tokens never appear in what a run writes.

A lab is started here, its kubeconfig passed with --kubeconfig/--ctx as for real clusters, and the
suite run twice against it: once creating remote secrets (so that reader tokens are minted
through the TokenRequest API and written into istio-system; --keep leaves them for this test to
read), once with a join fault that makes a credentials check fail (so that the diagnostics
decode the remote secrets holding those tokens). Every file the run wrote (report.html,
junit.xml, summary.json, a DEBUG log file) and its terminal output are then searched for every
token of the kubeconfig, every token inside the remote secrets and service-account token secrets,
and for PEM private key markers. None may appear.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import LabEnv, Run, run_suite

pytestmark = pytest.mark.selftest_slow

KEY_MARKERS = ("PRIVATE KEY-----", "BEGIN RSA PRIVATE", "BEGIN EC PRIVATE")


@pytest.fixture(params=["create", "verify"], ids=["join-create", "join-verify-rbac-fault"])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Path, list[str], str]]:
    faults = ("reader-rbac-missing:cluster-1",) if request.param == "verify" else ()
    with LabEnv.start(tmp_path, clusters=2, faults=faults) as env:
        yield env.lab, env.kubeconfig, env.contexts, request.param


def _kubeconfig_tokens(text: str) -> set[str]:
    doc = yaml.safe_load(text) or {}
    return {str(u["user"]["token"]) for u in doc.get("users") or [] if (u.get("user") or {}).get("token")}


def _cluster_tokens(kubeconfig: Path, context: str) -> set[str]:
    """Tokens held in istio-system: remote secrets' kubeconfigs and service-account token secrets."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig), context=context))
    found: set[str] = set()
    for secret in api.list_namespaced_secret("istio-system").items:
        for key, value in (secret.data or {}).items():
            text = base64.b64decode(value).decode("utf-8", "replace")
            if key == "token":
                found.add(text)
            elif "users:" in text:
                found |= _kubeconfig_tokens(text)
    return found


def _outputs(run: Run) -> dict[str, str]:
    files = {str(p): p.read_text(errors="replace") for p in run.report_dir.rglob("*") if p.is_file()}
    return {**files, "stdout": run.stdout, "stderr": run.stderr}


def test_no_token_or_key_in_any_output(lab: tuple[Any, Path, list[str], str], tmp_path: Path) -> None:
    _, kubeconfig, contexts, join = lab
    report_dir = tmp_path / "reports"
    args = [f"--kubeconfig={kubeconfig}", *(f"--ctx={c}" for c in contexts), f"--join={join}", "--keep"]
    args += [f"--log-file={report_dir / 'run.log'}", "--log-file-level=DEBUG", "tests"]
    run = run_suite(report_dir, *args, quiet=False)
    assert (report_dir / "summary.json").exists(), run.tail()
    if join == "verify":
        assert run.returncode == 1, "the join fault should fail the credentials check\n" + run.tail()
        assert "Diagnostics gathered at failure" in run.html
    else:
        assert run.returncode == 0, run.tail()
    secrets = _kubeconfig_tokens(kubeconfig.read_text())
    for context in contexts:
        secrets |= _cluster_tokens(kubeconfig, context)
    minted = 2 if join == "create" else 1  # reader tokens in remote secrets
    assert len(secrets) >= len(contexts) + minted, f"too few tokens found: {len(secrets)}"
    outputs = _outputs(run)
    assert any(name.endswith("run.log") for name in outputs), "no DEBUG log was written"
    leaks = [
        (name, f"token {token[:4]}...")
        for name, text in outputs.items()
        for token in secrets
        if token and token in text
    ]
    leaks += [(name, marker) for name, text in outputs.items() for marker in KEY_MARKERS if marker in text]
    assert leaks == [], f"secrets in outputs: {leaks}"
