"""Installing the suite never breaks another pytest run that declares the same option names.

The installed pytest11 plugin (meshconform_options) is in every pytest run of the environment.
pytest-kind declares `--cluster-name`; `--kubeconfig`, `--namespace`, `--keep`, `--revision` and
`--lab` are common words too. Two declarations of one name used to end pytest with argparse's
"conflicting option string" (exit 3), whichever plugin came first. Here a project declares all
six, once in its conftest.py (loaded after our plugin) and once as a plugin on PYTHONPATH loaded
with `-p` (before it): its own run passes with its own values, the suite's options still answer
to `--mc-NAME`, and the suite refuses in one line a run that used a plain name it no longer owns.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 120
NAMES = {  # name -> the other plugin's dest, and what the run passes
    "--kubeconfig": ("kind_kubeconfig", "kube.yaml"),
    "--namespace": ("kind_namespace", "kind-ns"),
    "--cluster-name": ("kind_cluster_name", "pytest-kind"),
    "--revision": ("kind_revision", "r1"),
    "--keep": ("kind_keep", True),
    "--lab": ("kind_lab", True),
}
OTHER_PLUGIN = "def pytest_addoption(parser):\n" + "".join(
    f"    parser.addoption({name!r}, dest={dest!r}"
    + (', action="store_true"' if value is True else "") + ")\n"
    for name, (dest, value) in NAMES.items()
)
OTHER_TEST = (
    "def test_own_options(pytestconfig):\n"
    "    o = pytestconfig.option\n"
    f"    assert {{d: getattr(o, d) for d, _ in {list(NAMES.values())!r}}} == {dict(NAMES.values())!r}\n"
    "    assert o.mc_kubeconfig is None and o.mc_lab is False and o.mc_namespace == 'sample'\n"
)

pytestmark = pytest.mark.skipif(
    "meshconform_options" not in {ep.name for ep in entry_points(group="pytest11")},
    reason="meshconform is not installed (pip install -e .): its options are in no other run then",
)


def _args() -> list[str]:
    out: list[str] = []
    for name, (_, value) in NAMES.items():
        out += [name] if value is True else [name, str(value)]
    return out


def _pytest(*args: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MESHCONFORM_"))}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=SECONDS)


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "other-project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (project / "test_other.py").write_text(OTHER_TEST)
    return project


def _plugin_dir(tmp_path: Path) -> Path:
    where = tmp_path / "site"
    where.mkdir()
    (where / "fake_kind_plugin.py").write_text(OTHER_PLUGIN)
    return where


def _passed(run: subprocess.CompletedProcess[str]) -> None:
    __tracebackhide__ = True
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "1 passed" in run.stdout


def test_a_conftest_declaring_the_same_names_keeps_working(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "conftest.py").write_text(OTHER_PLUGIN)
    _passed(_pytest("-q", *_args(), cwd=project))


def test_a_plugin_loaded_before_ours_keeps_working(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _passed(_pytest("-q", "-p", "fake_kind_plugin", *_args(), cwd=project, pythonpath=_plugin_dir(tmp_path)))


def test_the_suite_answers_to_its_aliases_beside_such_a_plugin(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: known, context: {cluster: c, user: u}}]\n"
    )
    args = ("--ctx1", "nope-1", "--ctx2", "nope-2", f"--report-dir={tmp_path / 'r'}")
    run = _pytest("--co", "-p", "fake_kind_plugin", f"--mc-kubeconfig={kubeconfig}", *args,
                  cwd=ROOT, pythonpath=_plugin_dir(tmp_path))
    assert run.returncode == 4, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stderr.strip() == "ERROR: context 'nope-1' is not in the kubeconfig; known: known"


def test_the_suite_refuses_a_plain_name_that_another_plugin_owns(tmp_path: Path) -> None:
    """Its value went to the other plugin: one line naming the alias, not a run on the wrong file."""
    run = _pytest("--co", "-p", "fake_kind_plugin", "--kubeconfig", "/nonexistent", "--ctx1", "a", "--ctx2",
                  "b", f"--report-dir={tmp_path / 'r'}", cwd=ROOT, pythonpath=_plugin_dir(tmp_path))
    assert run.returncode == 4, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stderr.strip() == (
        "ERROR: --kubeconfig is declared by another pytest plugin or conftest in this environment, "
        "so it is not the suite's here; write --mc-kubeconfig"
    )
