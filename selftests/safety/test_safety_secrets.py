"""No secret in any output, under the settings a person debugging a failure turns on.

selftests/report/test_redaction.py searches report.html, junit.xml, summary.json, a DEBUG log
file and the terminal of two runs for the lab's decoded tokens and PEM key markers. This adds what
it does not cover:
- the live log at DEBUG on the terminal (`-o log_cli=true --log-level=DEBUG`, which also makes the
  captured logs of failing tests DEBUG, and so the report's), junit.xml with every test's captured
  log and output (`-o junit_logging=all -o junit_log_passing_tests=true`), under xdist (`-n 2`, the
  workers' logs travel to the controller), and a join fault whose diagnostics read remote secrets;
- a kubeconfig whose users also carry a client certificate and private key (GKE's legacy client
  auth): neither the key nor its base64 may appear;
- secrets as the API holds them: the base64 `data` of every token, key and embedded kubeconfig in
  any Secret of any cluster (a dumped Secret object shows these, not the decoded token).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from safety_support import run_suite
from support import LabEnv, Run

pytestmark = pytest.mark.selftest_slow

KEY_MARKERS = ("PRIVATE KEY-----", "BEGIN RSA PRIVATE", "BEGIN EC PRIVATE", "BEGIN OPENSSH PRIVATE")
DEBUG = ["-o", "log_cli=true", "--log-level=DEBUG"]
DEBUG += ["-o", "junit_logging=all", "-o", "junit_log_passing_tests=true"]


def with_client_keys(lab: LabEnv, tmp_path: Path) -> tuple[Path, set[str]]:
    """The lab's kubeconfig with a client certificate and key added to every user."""
    doc = yaml.safe_load(lab.kubeconfig.read_text())
    issuer = trustme.CA()
    secrets: set[str] = set()
    for user in doc["users"]:
        cert = issuer.issue_cert(f"user-{len(secrets)}.users.example")
        key_pem = cert.private_key_pem.bytes()
        user["user"]["client-certificate-data"] = base64.b64encode(cert.cert_chain_pems[0].bytes()).decode()
        user["user"]["client-key-data"] = base64.b64encode(key_pem).decode()
        secrets.add(user["user"]["client-key-data"])
        secrets |= {line for line in key_pem.decode().splitlines() if len(line) > 40}  # its body
        secrets.add(user["user"]["token"])
    path = tmp_path / "kubeconfig-with-keys"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path, secrets


def secret_material(lab: LabEnv) -> set[str]:
    """Tokens, private keys and embedded kubeconfigs held in Secrets: decoded, and base64 as the
    API shows them (a dumped Secret object would show the latter)."""
    found: set[str] = set()
    for ctx in lab.contexts:
        for secret in lab.core(ctx).list_secret_for_all_namespaces().items:
            for key, value in (secret.data or {}).items():
                text = base64.b64decode(value).decode("utf-8", "replace")
                if key == "token":
                    found |= {value, text.strip()}
                elif "PRIVATE KEY" in text:
                    found |= {value, *(line for line in text.splitlines() if len(line) > 40)}
                elif "users:" in text:
                    found |= {value, *kubeconfig_tokens(text)}
    return found


def kubeconfig_tokens(text: str) -> set[str]:
    doc = yaml.safe_load(text) or {}
    return {str(u["user"]["token"]) for u in doc.get("users") or [] if (u.get("user") or {}).get("token")}


def outputs(run: Run, report_dir: Path) -> dict[str, str]:
    files = {str(p): p.read_text(errors="replace") for p in report_dir.rglob("*") if p.is_file()}
    return {**files, "terminal": run.output}


def leaks(texts: dict[str, str], secrets: set[str]) -> list[tuple[str, str]]:
    found = [(name, f"{s[:6]}...") for name, text in texts.items() for s in secrets if s in text]
    found += [(name, marker) for name, text in texts.items() for marker in KEY_MARKERS if marker in text]
    return found


@pytest.fixture(params=["create-xdist", "verify-stale-secret"])
def scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LabEnv, list[str], int]]:
    if request.param == "create-xdist":
        with LabEnv.start(tmp_path) as lab:
            yield lab, ["--join=create", "--keep", "-n", "2"], 0
    else:
        with LabEnv.start(tmp_path, faults=("stale-secret:cluster-1->cluster-2",)) as lab:
            yield lab, ["--join=verify"], 1


def test_no_secret_in_debug_outputs(scenario: tuple[LabEnv, list[str], int], tmp_path: Path) -> None:
    lab, args, expected = scenario
    kubeconfig, secrets = with_client_keys(lab, tmp_path)
    reports = tmp_path / "reports"
    contexts = [f"--ctx={c}" for c in lab.contexts]
    run = run_suite(reports, f"--kubeconfig={kubeconfig}", *contexts, "--requests=5", *args, *DEBUG)
    assert run.returncode == expected, run.tail()
    junit = (reports / "junit.xml").read_text()
    # xdist has no live log: the workers' DEBUG records reach junit.xml through junit_logging=all.
    shown = junit if "-n" in args else run.output
    assert "DEBUG" in shown and "urllib3" in shown, "no DEBUG record was written: nothing was searched"
    if expected:
        assert "Diagnostics gathered at failure" in (reports / "report.html").read_text()
    secrets |= secret_material(lab)
    minted = {s for s in secrets if s.startswith("eyJ")}  # the reader tokens the suite asked for
    assert len(minted) >= (2 if "create" in args[0] else 0), "the run minted no token to look for"
    assert leaks({"probe": f"x{max(secrets, key=len)}x"}, secrets), "the search itself finds nothing"
    texts = outputs(run, reports)
    assert {str(reports / name) for name in ("junit.xml", "summary.json", "report.html")} <= set(texts)
    assert leaks(texts, {s for s in secrets if len(s) >= 16}) == []


def test_repr_of_a_failing_call_holds_no_credentials(tmp_path: Path) -> None:
    """The error a call raises (and so any message built from it) carries neither the bearer token
    nor the client key, even when the server refuses the credentials."""
    from meshconform.kube import errors
    from meshconform.kube.client import Cluster

    with LabEnv.start(tmp_path) as lab:
        kubeconfig, secrets = with_client_keys(lab, tmp_path)
        doc: dict[str, Any] = yaml.safe_load(kubeconfig.read_text())
        doc["users"][0]["user"]["token"] = wrong = "revoked-" + "x" * 40
        kubeconfig.write_text(yaml.safe_dump(doc))
        cluster = Cluster.connect(lab.contexts[0], "cluster-1", str(kubeconfig))
        with pytest.raises(errors.Unauthorized) as caught:
            cluster.read("GET namespace kube-system", cluster.core.read_namespace, "kube-system")
        text = f"{caught.value!s} {caught.value!r} {vars(caught.value)!r}"
        assert leaks({"error": text}, {s for s in secrets | {wrong} if len(s) >= 16}) == [], text
