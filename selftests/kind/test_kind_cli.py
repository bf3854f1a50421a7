"""``python -m meshconform.kind`` and ``nox -s kind`` as a user runs them, on a machine without kind.

Every refusal must be one line on stderr, a non-zero exit, no traceback, and take seconds. The
tools are faked by tiny scripts on a PATH the test controls, so each preflight check (missing tool,
dead docker daemon, cluster name taken) is exercised for real through subprocesses.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshconform.kind.plan import REPO_ROOT, Command, KindOptions, build_plan

FAST_S = 10.0  # "within seconds": generous for a loaded 2-core machine, far below any real step


def cli(*args: str, path: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run(
        [sys.executable, "-m", "meshconform.kind", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def fake_tool(bindir: Path, name: str, script: str) -> None:
    path = bindir / name
    path.write_text(f"#!{sys.executable}\nimport sys\n{script}\n")
    path.chmod(0o755)


@pytest.fixture
def bindir(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    return d


def assert_one_line_refusal(done: subprocess.CompletedProcess[str], elapsed: float) -> str:
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert elapsed < FAST_S
    return lines[0]


def test_no_tools_at_all_is_refused_in_one_line(bindir):
    start = time.monotonic()
    done = cli(path=str(bindir))
    line = assert_one_line_refusal(done, time.monotonic() - start)
    assert line.startswith("meshconform kind: missing on PATH: docker, kind, istioctl, kubectl ")


def test_only_the_missing_tools_are_named(bindir):
    fake_tool(bindir, "docker", "sys.exit(0)")
    fake_tool(bindir, "kubectl", "sys.exit(0)")
    start = time.monotonic()
    line = assert_one_line_refusal(cli(path=str(bindir)), time.monotonic() - start)
    assert "missing on PATH: kind, istioctl (" in line


def test_a_dead_docker_daemon_is_refused(bindir):
    fake_tool(bindir, "docker", "print('Cannot connect to the Docker daemon', file=sys.stderr); sys.exit(1)")
    for tool in ("kind", "istioctl", "kubectl"):
        fake_tool(bindir, tool, "sys.exit(0)")
    start = time.monotonic()
    line = assert_one_line_refusal(cli(path=str(bindir)), time.monotonic() - start)
    assert "docker is on PATH but its daemon does not answer" in line


def test_an_existing_cluster_is_never_touched(bindir, tmp_path):
    log = tmp_path / "kind-calls"
    fake_tool(bindir, "docker", "print('28.2.2')")
    fake_tool(bindir, "kind", f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n'); print('mc-2')")
    fake_tool(bindir, "istioctl", "sys.exit(0)")
    fake_tool(bindir, "kubectl", "sys.exit(0)")
    start = time.monotonic()
    line = assert_one_line_refusal(cli("--name-prefix", "mc", path=str(bindir)), time.monotonic() - start)
    assert "kind cluster mc-2 already exists" in line
    assert log.read_text() == "get clusters\n"  # nothing created, nothing deleted


def test_dry_run_needs_no_tools_and_prints_every_command(bindir, tmp_path):
    workdir = tmp_path / "work"
    done = cli(
        "--dry-run", "--workdir", str(workdir), "--name-prefix", "mc", "--", "-k", "traffic", path=str(bindir)
    )
    assert done.returncode == 0, done.stderr
    plan = build_plan(KindOptions(workdir=workdir, name_prefix="mc", pytest_args=("-k", "traffic")))
    commands = [s.action.argv for s in plan.steps if isinstance(s.action, Command)] + [plan.suite.argv]
    lines = [line.strip() for line in done.stdout.splitlines()]
    positions = [lines.index(shlex.join(argv)) for argv in commands]
    assert positions == sorted(positions), "commands are printed in plan order"
    assert not workdir.exists(), "a dry run writes nothing"
    assert "PRIVATE KEY" not in done.stdout


def test_bad_prefix_is_a_usage_error(bindir):
    done = cli("--dry-run", "--name-prefix", "Bad_Name", path=str(bindir))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "meshconform kind: --name-prefix 'Bad_Name' must be a lowercase DNS label of at most 40 characters"
    ]


def test_nox_kind_session_refuses_before_installing_anything(bindir):
    """``nox --no-venv`` runs the session function itself: the PATH check must come first."""
    nox = Path(sys.executable).parent / "nox"
    if not nox.exists():
        pytest.skip("nox is not installed next to this interpreter (pip install -e '.[dev]')")
    env = {**os.environ, "PATH": str(bindir)}
    start = time.monotonic()
    done = subprocess.run(
        [str(nox), "--no-venv", "-s", "kind"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert time.monotonic() - start < FAST_S
    assert "Session kind aborted: missing on PATH: docker, kind, istioctl, kubectl" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("model", "networks", "page"),
    [
        ("multi-primary", "1", "Install Multi-Primary"),
        ("multi-primary", "2", "Install Multi-Primary on different networks"),
        ("primary-remote", "1", "Install Primary-Remote"),
        ("primary-remote", "2", "Install Primary-Remote on different networks"),
    ],
)
def test_dry_run_prints_each_models_steps_in_order(bindir, tmp_path, model, networks, page):
    workdir = tmp_path / "work"
    args = ("--workdir", str(workdir), "--name-prefix", "mc", "--model", model, "--networks", networks)
    done = cli("--dry-run", *args, path=str(bindir))
    assert done.returncode == 0, done.stderr
    plan = build_plan(KindOptions(workdir=workdir, name_prefix="mc", model=model, networks=int(networks)))
    commands = [s.action.argv for s in plan.steps if isinstance(s.action, Command)] + [plan.suite.argv]
    lines = [line.strip() for line in done.stdout.splitlines()]
    positions = [lines.index(shlex.join(argv)) for argv in commands]
    assert positions == sorted(positions), "commands are printed in plan order"
    nets = "one network" if networks == "1" else "2 networks"
    assert f'model: {model} on {nets}, per istio.io "{page}"' in done.stdout
    assert not workdir.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "remote"), "--model 'remote': choose multi-primary or primary-remote"),
        (("--networks", "3"), "--networks 3: the kind path has 2 clusters, dealt round-robin onto"),
        (("--networks", "two"), "argument --networks: invalid int value: 'two'"),
        (("--model", "primary-remote", "--revision", "rev"), "--revision with --model primary-remote is not"),
        (("--clusters", "3"), "unrecognized arguments: --clusters 3"),
    ],
)
def test_bad_model_options_are_one_line_usage_errors(bindir, args, message):
    start = time.monotonic()
    done = cli("--dry-run", *args, path=str(bindir))
    line = assert_one_line_refusal(done, time.monotonic() - start)
    assert line.startswith("meshconform kind: ") and message in line


def test_a_taken_load_balancer_container_is_never_touched(bindir, tmp_path):
    log = tmp_path / "docker-calls"
    record = f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')"
    fake_tool(bindir, "docker", f"{record}; print('mc-cloud-provider-kind')")
    fake_tool(bindir, "kind", "print('other')")
    fake_tool(bindir, "istioctl", "sys.exit(0)")
    fake_tool(bindir, "kubectl", "sys.exit(0)")
    start = time.monotonic()
    done = cli("--name-prefix", "mc", "--networks", "2", path=str(bindir))
    line = assert_one_line_refusal(done, time.monotonic() - start)
    name = "mc-cloud-provider-kind"
    assert f"container {name} already exists; remove it (docker rm -f {name})" in line
    # asked, never run or stopped
    assert log.read_text() == "info --format {{.ServerVersion}}\nps -a --format {{.Names}}\n"
