"""The RBAC manifests of ci/rbac/ are enough, and the read-only one is read-only in istio-system.

docs/nightly.md tells a user to bind a CI identity to ci/rbac/meshconform-base.yaml (plus
meshconform-join.yaml for `--join create`) and nothing else. Here each lab cluster gets those
manifests as shipped, their subject turned into a fresh ServiceAccount (the lab authorizes every
service-account token with RBAC, as a real API server does), and the suite runs with a kubeconfig
holding only that account's tokens: a whole `--join create` run passes, making and removing the
remote secrets; `--join verify` with the base manifest alone passes against a joined lab; and a
`--join create` run with the base manifest alone fails to make the secrets, which shows the join
Role is needed and that the base one grants no write in istio-system.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from safety_support import assert_nothing_labelled, run_suite
from support import ROOT, LabEnv

pytestmark = pytest.mark.selftest_slow

RBAC_DIR = ROOT / "ci" / "rbac"
RUNNER_NS, RUNNER = "meshconform-ci", "runner"


def _manifests(*names: str) -> list[dict[str, Any]]:
    docs = [d for n in names for d in yaml.safe_load_all((RBAC_DIR / n).read_text()) if d]
    for doc in docs:
        for subject in doc.get("subjects", []):
            subject.clear()
            subject.update(kind="ServiceAccount", name=RUNNER, namespace=RUNNER_NS)
    return docs


def _grant(lab: LabEnv, context: str, docs: list[dict[str, Any]]) -> str:
    """Apply `docs` as the cluster's admin, bound to a new ServiceAccount; return its token."""
    from kubernetes import client, utils

    api = lab.api(context)
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": RUNNER_NS}})
    core.create_namespaced_service_account(RUNNER_NS, {"metadata": {"name": RUNNER}})
    for doc in docs:
        utils.create_from_dict(api, copy.deepcopy(doc))
    review = core.create_namespaced_service_account_token(
        RUNNER, RUNNER_NS, {"spec": {"expirationSeconds": 3600}}
    )
    return str(review.status.token)


def _runner_kubeconfig(lab: LabEnv, path: Path, docs: list[dict[str, Any]]) -> Path:
    """The lab's kubeconfig with each user's admin token replaced by the runner's."""
    doc = yaml.safe_load(lab.kubeconfig.read_text())
    users = {c["context"]["user"]: c["name"] for c in doc["contexts"]}
    for user in doc["users"]:
        user["user"] = {"token": _grant(lab, users[user["name"]], docs)}
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path / "lab") as target:
        yield target


@pytest.fixture
def joined_lab(tmp_path: Path) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path / "lab", joined=True) as target:
        yield target


def _args(lab: LabEnv, kubeconfig: Path) -> list[str]:
    return [f"--kubeconfig={kubeconfig}", *(f"--ctx={c}" for c in lab.contexts)]


def test_a_run_with_only_the_shipped_rbac_passes(lab: LabEnv, tmp_path: Path) -> None:
    kubeconfig = _runner_kubeconfig(lab, tmp_path / "kubeconfig", _manifests("meshconform-base.yaml",
                                                                            "meshconform-join.yaml"))
    run = run_suite(tmp_path / "reports", *_args(lab, kubeconfig))
    assert run.returncode == 0, run.tail()
    assert "46 passed" in run.stdout, run.tail()
    assert "Forbidden" not in run.output, run.tail()
    assert_nothing_labelled(lab)


def test_join_verify_with_the_read_only_rbac_passes(joined_lab: LabEnv, tmp_path: Path) -> None:
    kubeconfig = _runner_kubeconfig(joined_lab, tmp_path / "kubeconfig", _manifests("meshconform-base.yaml"))
    run = run_suite(tmp_path / "reports", *_args(joined_lab, kubeconfig), "--join=verify")
    assert run.returncode == 0, run.tail()
    assert "46 passed" in run.stdout, run.tail()
    assert_nothing_labelled(joined_lab)


def test_the_read_only_rbac_cannot_make_remote_secrets(lab: LabEnv, tmp_path: Path) -> None:
    kubeconfig = _runner_kubeconfig(lab, tmp_path / "kubeconfig", _manifests("meshconform-base.yaml"))
    run = run_suite(tmp_path / "reports", *_args(lab, kubeconfig), "--ready-timeout=10")
    assert run.returncode != 0, run.tail()
    assert "forbidden" in run.output.lower(), run.tail()
    assert_nothing_labelled(lab)
