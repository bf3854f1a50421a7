"""Path options written apart from their value (`--report-dir DIR`) work like `--report-dir=DIR`.

pytest chooses its rootdir from its first read of the command line, before any plugin has
declared options, so a separate value naming an existing path outside the project used to end the
run ("unrecognized arguments", rootdir /) or, with the options known, root it in the wrong place
(no pyproject.toml: no testpaths, the self-tests collected too). meshconform_options (the pytest11
plugin `pip install -e .` installs) declares the options early and repairs that choice; these runs
are typed as a user types them, from the repository root, with every path outside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "meshconform_options"
REFUSAL_SECONDS = 60
SUITE_SECONDS = 180

pytestmark = pytest.mark.skipif(
    PLUGIN not in {ep.name for ep in entry_points(group="pytest11")},
    reason="meshconform is not installed (pip install -e .): only the --opt=VALUE form works then",
)


def _run(*args: str, cwd: Path = ROOT, timeout: float = REFUSAL_SECONDS) -> subprocess.CompletedProcess[str]:
    """`python -m pytest ARGS`. Runs that should stop before any test pass --co: were the rootdir
    repair ever to break, a misrooted run would collect the self-tests too, and only list them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MESHCONFORM_"))}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _samples(where: Path) -> Path:
    """An Istio-style samples/ tree (helloworld/, sleep/) made from our own manifests."""
    for name in ("helloworld", "sleep"):
        (where / name).mkdir(parents=True)
        shutil.copy(ROOT / "manifests" / f"{name}.yaml", where / name / f"{name}.yaml")
    return where


def _error_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("ERROR")]


@pytest.mark.selftest_slow
def test_separate_samples_dir_and_report_dir_run_the_suite(tmp_path):
    samples, reports = _samples(tmp_path / "samples"), tmp_path / "reports"
    reports.mkdir()  # an existing directory is what misled pytest's rootdir choice
    args = ("--lab", "--samples-dir", str(samples), "--report-dir", str(reports))
    # Rooted at the repository with its pyproject.toml (testpaths = tests), checked first without
    # running anything: rooted elsewhere, the run would collect the self-tests as well.
    listed = _run("--co", "-q", *args)
    ids = [line for line in listed.stdout.splitlines() if "::" in line]
    assert ids and all(i.startswith("tests/") for i in ids), listed.stdout[-3000:] + listed.stderr[-3000:]
    run = _run("-q", *args, timeout=SUITE_SECONDS)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    options = json.loads((reports / "summary.json").read_text())["options"]
    assert options["--samples-dir"] == str(samples)
    assert options["--report-dir"] == str(reports)
    classes = {case.get("classname", "") for case in ET.parse(reports / "junit.xml").iter("testcase")}
    assert classes and all(c.startswith("tests.") for c in classes), sorted(classes)


def test_separate_kubeconfig_is_read(tmp_path):
    """An unknown context in a kubeconfig outside the repository: exit 4 naming the file's contexts."""
    kubeconfig = tmp_path / "kube" / "config"
    kubeconfig.parent.mkdir()
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: known\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: known, context: {cluster: c, user: u}}]\n"
    )
    run = _run("--co", "--kubeconfig", str(kubeconfig), "--ctx1", "nope-1", "--ctx2", "nope-2",
               "--report-dir", str(tmp_path))
    assert run.returncode == 4, run.stdout[-3000:] + run.stderr[-3000:]
    assert _error_lines(run) == ["ERROR: context 'nope-1' is not in the kubeconfig; known: known"]


def test_separate_path_under_another_pytest_project_is_refused(tmp_path):
    """pytest already took that project's configuration: one line saying to write '='."""
    other = tmp_path / "other"
    samples = _samples(other / "samples")
    (other / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-q"\n')
    run = _run("--co", "--lab", "--samples-dir", str(samples), f"--report-dir={tmp_path / 'reports'}")
    assert run.returncode == 4, run.stdout[-3000:] + run.stderr[-3000:]
    [line] = _error_lines(run)
    assert line.endswith(f"write --samples-dir={samples}"), line


def test_other_pytest_runs_only_see_the_options(tmp_path):
    """Installed, the plugin is in every pytest run of the venv: there it declares options, no more."""
    test = "def test_other(pytestconfig):\n    assert pytestconfig.option.mc_lab\n"
    (tmp_path / "test_other.py").write_text(test)
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    run = _run("-q", "--lab", "--report-dir", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "1 passed" in run.stdout
    assert not (tmp_path / "report.html").exists()
