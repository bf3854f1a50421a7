"""Kubeconfigs as kubectl reads them: no current-context, several files in KUBECONFIG, exec plugins.

CI systems write kubeconfigs their own way: `gcloud container clusters get-credentials` run once
per cluster into one file, a KUBECONFIG list of one file per cluster, a file with no
current-context because every command names its context, users whose token comes from an exec
credential plugin (GKE's gke-gcloud-auth-plugin). kubectl accepts each; so must the suite. Each
case runs the whole suite against a lab through such a kubeconfig and asserts it passes, and that
no token (from the files or from the plugin) reaches its output or reports.

The plugin here is a small script that prints an ExecCredential (client.authentication.k8s.io/v1)
carrying the lab's token, read from a file of its own as gcloud reads its credential store: the
kubeconfig then holds no token at all, as GKE's does.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from safety_support import run_suite
from support import LabEnv, Run

pytestmark = pytest.mark.selftest_slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path_factory.mktemp("kubeconfig-forms")) as target:
        yield target


def _doc(lab: LabEnv) -> dict:
    return yaml.safe_load(lab.kubeconfig.read_text())


def _write(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def _tokens(lab: LabEnv) -> list[str]:
    return [u["user"]["token"] for u in _doc(lab)["users"]]


def _passes(run: Run, lab: LabEnv) -> None:
    __tracebackhide__ = True
    assert run.returncode == 0, run.tail()
    outputs = [run.output] + [p.read_text() for p in run.report_dir.iterdir() if p.is_file()]
    for token in _tokens(lab):
        assert all(token not in text for text in outputs), "a token in the output or a report"
    assert json.loads((run.report_dir / "summary.json").read_text())["verdict"] == "pass"


def _ctx_args(lab: LabEnv) -> list[str]:
    return [f"--ctx1={lab.contexts[0]}", f"--ctx2={lab.contexts[1]}"]


def test_no_current_context_when_both_contexts_are_named(lab: LabEnv, tmp_path: Path) -> None:
    doc = _doc(lab)
    doc.pop("current-context", None)
    path = _write(tmp_path / "kubeconfig", doc)
    _passes(run_suite(tmp_path / "reports", f"--kubeconfig={path}", *_ctx_args(lab)), lab)


def test_several_files_in_KUBECONFIG_merged_as_kubectl_does(lab: LabEnv, tmp_path: Path) -> None:
    """One file per cluster, as a CI job writes them, behind an empty file and a missing one
    (kubectl skips both). The second file also holds a stale copy of cluster-1's entries (a wrong
    server, a revoked token) and its own current-context: the first file to name an entry wins."""
    doc = _doc(lab)
    first, second = (copy.deepcopy(doc) for _ in range(2))
    for part, i in ((first, 0), (second, 1)):
        for key in ("clusters", "users", "contexts"):
            part[key] = [doc[key][i]]
        part.pop("current-context", None)
    stale = copy.deepcopy(doc["clusters"][0])
    stale["cluster"]["server"] = "https://127.0.0.1:9"
    revoked = copy.deepcopy(doc["users"][0])
    revoked["user"]["token"] = "revoked-token-0123456789"
    second["clusters"].append(stale)
    second["users"].append(revoked)
    second["current-context"] = lab.contexts[1]
    empty = tmp_path / "empty"
    empty.write_text("\n")
    files = [empty, tmp_path / "missing", _write(tmp_path / "one", first), _write(tmp_path / "two", second)]
    env = {"KUBECONFIG": os.pathsep.join(map(str, files))}
    _passes(run_suite(tmp_path / "reports", *_ctx_args(lab), env=env), lab)


def _plugin(tmp: Path, token: str, name: str) -> Path:
    """An exec credential plugin that prints the lab's token, kept in a file of its own."""
    store = tmp / f"{name}.credential"
    store.write_text(token)
    store.chmod(0o600)
    script = tmp / f"{name}-auth-plugin"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "info = json.loads(os.environ.get('KUBERNETES_EXEC_INFO') or '{}')\n"
        "version = info.get('apiVersion') or 'client.authentication.k8s.io/v1'\n"
        f"token = open({str(store)!r}).read().strip()\n"
        "json.dump({'apiVersion': version, 'kind': 'ExecCredential',"
        " 'status': {'token': token}}, sys.stdout)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_exec_credential_plugin_supplies_the_tokens(lab: LabEnv, tmp_path: Path) -> None:
    doc = _doc(lab)
    for i, user in enumerate(doc["users"]):
        token = user["user"].pop("token")
        user["user"]["exec"] = {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(_plugin(tmp_path, token, f"cluster-{i + 1}")),
            "interactiveMode": "Never",
            "provideClusterInfo": True,
        }
    path = _write(tmp_path / "kubeconfig", doc)
    assert not any(token in path.read_text() for token in _tokens(lab))
    _passes(run_suite(tmp_path / "reports", f"--kubeconfig={path}", *_ctx_args(lab)), lab)
