"""The kind plan: the exact commands in order, and an executor that always tears down.

The command list below is the contract with docker, kind, kubectl and istioctl: every flag in it was
checked against the tools' sources or docs (kind create/delete cluster, istio.io plug-in CA and
multi-primary guides, istio prow/lib.sh for routes). Execution is tested with a fake runner, so
ordering, placeholder filling and cleanup-after-failure are checked without docker.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from meshconform.kind import cli as kind
from meshconform.kind.plan import (
    REPO_ROOT,
    Command,
    KindOptions,
    PlanError,
    RemovePath,
    WriteCacerts,
    build_plan,
    render,
    teardown,
)

M = REPO_ROOT / "manifests"
IPS = {"mc-1-control-plane": "172.18.0.2", "mc-2-control-plane": "172.18.0.3"}


def options(workdir: Path, **kw) -> KindOptions:
    return KindOptions(workdir=workdir, name_prefix="mc", python="python3", **kw)


def expected_commands(w: Path) -> list[tuple[str, ...]]:
    k = str(w / "kubeconfig")
    kc1 = ("kubectl", "--kubeconfig", k, "--context", "kind-mc-1")
    kc2 = ("kubectl", "--kubeconfig", k, "--context", "kind-mc-2")

    def from_files(cluster: str) -> tuple[str, ...]:
        names = ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")
        return tuple(f"--from-file={w}/certs/{cluster}/{n}" for n in names)

    fmt = "{{.NetworkSettings.Networks.kind.IPAddress}}"
    return [
        ("kind", "create", "cluster", "--name", "mc-1", "--config", f"{M}/kind/cluster-1.yaml",
         "--kubeconfig", k, "--wait", "180s"),
        ("docker", "inspect", "-f", fmt, "mc-1-control-plane"),
        ("kind", "create", "cluster", "--name", "mc-2", "--config", f"{M}/kind/cluster-2.yaml",
         "--kubeconfig", k, "--wait", "180s"),
        ("docker", "inspect", "-f", fmt, "mc-2-control-plane"),
        ("docker", "exec", "mc-1-control-plane", "ip", "route", "add", "10.20.0.0/16", "via", "${ip_mc_2}"),
        ("docker", "exec", "mc-1-control-plane", "ip", "route", "add", "10.255.20.0/24", "via", "${ip_mc_2}"),
        ("docker", "exec", "mc-2-control-plane", "ip", "route", "add", "10.10.0.0/16", "via", "${ip_mc_1}"),
        ("docker", "exec", "mc-2-control-plane", "ip", "route", "add", "10.255.10.0/24", "via", "${ip_mc_1}"),
        (*kc1, "create", "namespace", "istio-system"),
        (*kc1, "label", "namespace", "istio-system", "topology.istio.io/network=network1", "--overwrite"),
        (*kc1, "create", "secret", "generic", "cacerts", "-n", "istio-system", *from_files("cluster-1")),
        (*kc2, "create", "namespace", "istio-system"),
        (*kc2, "label", "namespace", "istio-system", "topology.istio.io/network=network1", "--overwrite"),
        (*kc2, "create", "secret", "generic", "cacerts", "-n", "istio-system", *from_files("cluster-2")),
        ("istioctl", "install", "--kubeconfig", k, "--context", "kind-mc-1", "-f",
         f"{M}/istio/cluster-1.yaml", "-y"),
        ("istioctl", "install", "--kubeconfig", k, "--context", "kind-mc-2", "-f",
         f"{M}/istio/cluster-2.yaml", "-y"),
    ]  # fmt: skip


def suite_command(w: Path, *extra: str) -> tuple[str, ...]:
    return (
        "python3", "-m", "pytest", "--kubeconfig", f"{w}/kubeconfig",
        "--ctx1", "kind-mc-1", "--ctx2", "kind-mc-2",
        "--cluster-name", "kind-mc-1=cluster-1", "--cluster-name", "kind-mc-2=cluster-2",
        "--api-server", "kind-mc-1=https://${ip_mc_1}:6443", "--api-server", "kind-mc-2=https://${ip_mc_2}:6443",
        *extra,
    )  # fmt: skip


def test_exact_commands_in_order(tmp_path):
    plan = build_plan(options(tmp_path, pytest_args=("-k", "traffic")))
    actions = [s.action for s in plan.steps]
    assert actions[0] == WriteCacerts(tmp_path / "certs", ("cluster-1", "cluster-2"))
    assert isinstance(actions[-3], RemovePath) and actions[-3].path == tmp_path / "certs"
    commands = [a.argv for a in actions if isinstance(a, Command)]
    assert commands == expected_commands(tmp_path)
    assert plan.suite.argv == suite_command(tmp_path, "-k", "traffic")
    assert plan.suite.cwd == REPO_ROOT and plan.suite.timeout is None


def test_keys_leave_the_disk_before_istio_is_installed(tmp_path):
    actions = [s.action for s in build_plan(options(tmp_path)).steps]
    removal = next(i for i, a in enumerate(actions) if isinstance(a, RemovePath))
    last_secret = max(i for i, a in enumerate(actions) if isinstance(a, Command) and "cacerts" in a.argv)
    first_install = min(
        i for i, a in enumerate(actions) if isinstance(a, Command) and a.argv[0] == "istioctl"
    )
    assert last_secret < removal < first_install


def test_teardown_deletes_clusters_newest_first_and_removes_files(tmp_path):
    plan = build_plan(options(tmp_path))
    undos = teardown(plan, list(plan.steps))
    assert [u.argv for u in undos if isinstance(u, Command)] == [
        ("kind", "delete", "cluster", "--name", "mc-2", "--kubeconfig", f"{tmp_path}/kubeconfig"),
        ("kind", "delete", "cluster", "--name", "mc-1", "--kubeconfig", f"{tmp_path}/kubeconfig"),
    ]
    assert [u.path for u in undos if isinstance(u, RemovePath)] == [
        tmp_path / "certs",
        tmp_path / "kubeconfig",
    ]


def test_keep_keeps_clusters_and_kubeconfig_but_never_keys(tmp_path):
    plan = build_plan(options(tmp_path, keep=True))
    assert teardown(plan, list(plan.steps)) == [
        RemovePath(tmp_path / "certs", "remove the CA keys from disk")
    ]


def test_revision_and_node_image(tmp_path):
    plan = build_plan(options(tmp_path, revision="asm-173-3", node_image="kindest/node:v1.29.2"))
    argvs = [s.action.argv for s in plan.steps if isinstance(s.action, Command)]
    creates = [a for a in argvs if a[:3] == ("kind", "create", "cluster")]
    assert all(a[-2:] == ("--image", "kindest/node:v1.29.2") for a in creates) and len(creates) == 2
    installs = [a for a in argvs if a[0] == "istioctl"]
    assert all(a[-2:] == ("--set", "revision=asm-173-3") for a in installs) and len(installs) == 2
    assert plan.suite.argv == suite_command(tmp_path, "--revision", "asm-173-3")


@pytest.mark.parametrize("prefix", ["MC", "-mc", "mc_1", "m" * 41, ""])
def test_bad_prefix_is_refused(tmp_path, prefix):
    with pytest.raises(PlanError, match="--name-prefix"):
        build_plan(KindOptions(workdir=tmp_path, name_prefix=prefix))


def test_every_placeholder_is_captured_earlier(tmp_path):
    plan = build_plan(options(tmp_path))
    captured: set[str] = set()
    for action in [*(s.action for s in plan.steps), plan.suite]:
        if isinstance(action, Command):
            for arg in action.argv:
                for name in ("ip_mc_1", "ip_mc_2"):
                    assert f"${{{name}}}" not in arg or name in captured, (arg, captured)
            if action.capture:
                captured.add(action.capture)


def test_rendered_plan_shows_every_command_and_file(tmp_path):
    plan = build_plan(options(tmp_path))
    text = "\n".join(render(plan))
    for argv in [*expected_commands(tmp_path), suite_command(tmp_path)]:
        assert shlex.join(argv) in text
    for path in plan.files[1:]:
        assert f"write {path} (0600)" in text
    assert "kind delete cluster --name mc-1" in text


class FakeRunner:
    """Records argv; answers docker inspect with an IP; fails the command matching ``fail_on``."""

    def __init__(self, fail_on: tuple[str, ...] | None = None, suite_rc: int = 0, ip: str | None = None):
        self.calls: list[tuple[str, ...]] = []
        self.fail_on, self.suite_rc, self.ip = fail_on, suite_rc, ip

    def __call__(self, command: Command, argv: tuple[str, ...]) -> kind.Result:
        self.calls.append(argv)
        if self.fail_on and argv[: len(self.fail_on)] == self.fail_on:
            return kind.Result(1)
        if argv[:2] == ("docker", "inspect"):
            return kind.Result(0, (self.ip or IPS[argv[-1]]) + "\n")
        return kind.Result(self.suite_rc if "pytest" in argv else 0)


@pytest.fixture(autouse=True)
def quick_keys(monkeypatch):
    """2048-bit keys keep the executor tests fast; the certificate tests use the real size."""
    real = kind.certs.generate_mesh_cacerts
    monkeypatch.setattr(
        kind.certs, "generate_mesh_cacerts", lambda base, clusters: real(base, clusters, 2048)
    )


def run(plan, runner):
    lines: list[str] = []
    return kind.execute(plan, runner, lines.append), lines


def test_success_runs_everything_fills_ips_and_cleans_up(tmp_path):
    plan, runner = build_plan(options(tmp_path)), FakeRunner(suite_rc=0)
    code, lines = run(plan, runner)
    assert code == 0
    filled = [tuple(a.replace("${ip_mc_1}", "172.18.0.2").replace("${ip_mc_2}", "172.18.0.3") for a in argv)
              for argv in [*expected_commands(tmp_path), suite_command(tmp_path)]]  # fmt: skip
    assert runner.calls[: len(filled)] == filled
    assert [c[:4] for c in runner.calls[len(filled) :]] == [("kind", "delete", "cluster", "--name")] * 2
    assert not (tmp_path / "certs").exists()
    assert not any("PRIVATE KEY" in line for line in lines)


def test_suite_failure_is_the_exit_code_and_clusters_are_still_deleted(tmp_path):
    runner = FakeRunner(suite_rc=1)
    code, _ = run(build_plan(options(tmp_path)), runner)
    assert code == 1
    assert runner.calls[-1][:5] == ("kind", "delete", "cluster", "--name", "mc-1")


def test_failed_install_stops_setup_and_deletes_both_clusters(tmp_path, capsys):
    runner = FakeRunner(fail_on=("istioctl", "install"))
    code, _ = run(build_plan(options(tmp_path)), runner)
    assert code == kind.EXIT_SETUP_FAILED
    assert not any("pytest" in c for c in runner.calls)
    assert [c[4] for c in runner.calls if c[:2] == ("kind", "delete")] == ["mc-2", "mc-1"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["meshconform kind: step 17 failed: `istioctl install --kubeconfig "
                   f"{tmp_path}/kubeconfig --context kind-mc-1 ...` failed: exit code 1"]  # fmt: skip
    assert not (tmp_path / "certs").exists()


def test_failed_first_create_deletes_only_what_was_started(tmp_path):
    runner = FakeRunner(fail_on=("kind", "create", "cluster", "--name", "mc-1"))
    code, _ = run(build_plan(options(tmp_path)), runner)
    assert code == kind.EXIT_SETUP_FAILED
    assert [c for c in runner.calls if c[:2] == ("kind", "delete")] == [
        ("kind", "delete", "cluster", "--name", "mc-1", "--kubeconfig", f"{tmp_path}/kubeconfig")
    ]


def test_keep_deletes_nothing_but_the_keys(tmp_path):
    runner = FakeRunner()
    code, lines = run(build_plan(options(tmp_path, keep=True)), runner)
    assert code == 0
    assert not any(c[:2] == ("kind", "delete") for c in runner.calls)
    assert not (tmp_path / "certs").exists()
    assert any("kept kind clusters mc-1, mc-2" in line for line in lines)
    rerun = next(line for line in lines if "rerun the suite" in line)
    assert "--api-server kind-mc-1=https://172.18.0.2:6443" in rerun


def test_unwritable_workdir_is_a_failed_step_not_a_traceback(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    runner = FakeRunner()
    code, _ = run(build_plan(options(blocker / "work")), runner)
    assert code == kind.EXIT_SETUP_FAILED
    assert runner.calls == []  # nothing was created, so nothing is deleted
    assert "step 1 failed: cannot write the CA files under" in capsys.readouterr().err


def test_a_bad_captured_ip_fails_the_step(tmp_path, capsys):
    code, _ = run(build_plan(options(tmp_path)), FakeRunner(ip="<no value>"))
    assert code == kind.EXIT_SETUP_FAILED
    assert "expected an IP address for ${ip_mc_1}" in capsys.readouterr().err
