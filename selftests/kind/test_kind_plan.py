"""The kind plan: the exact commands in order, and an executor that always tears down.

The command list below is the contract with docker, kind, kubectl and istioctl: every flag in it was
checked against the tools' sources or docs (kind create/delete cluster, istio.io plug-in CA and
multi-primary guides, istio prow/lib.sh for routes). Execution is tested with a fake runner, so
ordering, placeholder filling and cleanup-after-failure are checked without docker.
"""

from __future__ import annotations

import re
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


# --- Istio's four multicluster models (--model, --networks) ---------------------------------------


def label(argv: tuple[str, ...]) -> str:
    """A short name for one command of the plan, so that a model's order reads like its page."""
    ctx = argv[argv.index("--context") + 1].removeprefix("kind-") if "--context" in argv else ""
    if argv[:3] == ("kind", "create", "cluster"):
        return f"create {argv[4]}"
    if argv[:2] == ("docker", "inspect"):
        return f"ip {argv[-1].removesuffix('-control-plane')}"
    if argv[:2] == ("docker", "exec"):
        return f"route {argv[2].removesuffix('-control-plane')} {argv[6]}"
    if argv[:2] == ("docker", "run"):
        return f"start {argv[argv.index('--name') + 1]}"
    if argv[:2] == ("istioctl", "install"):
        config = Path(argv[argv.index("-f") + 1])
        return f"install {ctx} {config.parent.name}/{config.name}" + (" --set" if "--set" in argv else "")
    if argv[:2] == ("istioctl", "create-remote-secret"):
        return f"remote-secret {ctx}"
    verb = argv[5:]  # kubectl --kubeconfig K --context C VERB ...
    if verb[:2] == ("apply", "-n"):
        return f"apply {ctx} {Path(argv[-1]).name}"
    return " ".join([verb[0], ctx, *verb[1:2]])


MODEL_ORDERS = {
    ("multi-primary", 2): [
        "create mc-1", "ip mc-1", "create mc-2", "ip mc-2",
        "start mc-cloud-provider-kind", "label mc-1 node", "label mc-2 node",
        "create mc-1 namespace", "label mc-1 namespace", "create mc-1 secret",
        "create mc-2 namespace", "label mc-2 namespace", "create mc-2 secret",
        "install mc-1 multi-primary_multi-network/cluster-1.yaml",
        "install mc-1 istio/eastwest-network1.yaml", "wait mc-1 -n", "get mc-1 -n",
        "apply mc-1 expose-services.yaml",
        "install mc-2 multi-primary_multi-network/cluster-2.yaml",
        "install mc-2 istio/eastwest-network2.yaml", "wait mc-2 -n", "get mc-2 -n",
        "apply mc-2 expose-services.yaml",
    ],
    ("primary-remote", 1): [
        "create mc-1", "ip mc-1", "create mc-2", "ip mc-2",
        "route mc-1 10.20.0.0/16", "route mc-1 10.255.20.0/24",
        "route mc-2 10.10.0.0/16", "route mc-2 10.255.10.0/24",
        "start mc-cloud-provider-kind", "label mc-1 node",
        "create mc-1 namespace", "label mc-1 namespace", "create mc-1 secret",
        "create mc-2 namespace", "label mc-2 namespace", "annotate mc-2 namespace",
        "install mc-1 primary-remote/cluster-1.yaml",
        "install mc-1 istio/eastwest-network1.yaml", "wait mc-1 -n", "get mc-1 -n",
        "apply mc-1 expose-istiod.yaml",
        "install mc-2 primary-remote/cluster-2.yaml --set",
        "remote-secret mc-2", "apply mc-1 -f",
    ],
    ("primary-remote", 2): [
        "create mc-1", "ip mc-1", "create mc-2", "ip mc-2",
        "start mc-cloud-provider-kind", "label mc-1 node", "label mc-2 node",
        "create mc-1 namespace", "label mc-1 namespace", "create mc-1 secret",
        "create mc-2 namespace", "label mc-2 namespace", "annotate mc-2 namespace",
        "install mc-1 primary-remote_multi-network/cluster-1.yaml",
        "install mc-1 istio/eastwest-network1.yaml", "wait mc-1 -n", "get mc-1 -n",
        "apply mc-1 expose-istiod.yaml",
        "install mc-2 primary-remote_multi-network/cluster-2.yaml --set",
        "remote-secret mc-2", "apply mc-1 -f",
        "install mc-2 istio/eastwest-network2.yaml", "wait mc-2 -n", "get mc-2 -n",
        "apply mc-1 expose-services.yaml",
    ],
}  # fmt: skip


def model_plan(tmp_path, name, networks, **kw):
    return build_plan(options(tmp_path, model=name, networks=networks, **kw))


def commands(plan):
    return [s.action.argv for s in plan.steps if isinstance(s.action, Command)]


def test_the_guides_model_is_the_default_and_its_plan_is_unchanged(tmp_path):
    plan = model_plan(tmp_path, "multi-primary", 1)
    assert commands(plan) == expected_commands(tmp_path) and plan.lb_container is None
    assert plan.steps == build_plan(options(tmp_path)).steps


@pytest.mark.parametrize(("name", "networks"), list(MODEL_ORDERS), ids=lambda v: str(v))
def test_each_model_follows_its_install_page_in_order(tmp_path, name, networks):
    plan = model_plan(tmp_path, name, networks)
    assert [label(argv) for argv in commands(plan)] == MODEL_ORDERS[(name, networks)]
    assert plan.suite.argv == suite_command(tmp_path)


def test_primary_remote_commands_are_the_pages_with_explicit_contexts(tmp_path):
    k = str(tmp_path / "kubeconfig")
    argvs = commands(model_plan(tmp_path, "primary-remote", 2))
    assert ("kubectl", "--kubeconfig", k, "--context", "kind-mc-2", "annotate", "namespace", "istio-system",
            "topology.istio.io/controlPlaneClusters=cluster-1", "--overwrite") in argvs  # fmt: skip
    assert ("istioctl", "install", "--kubeconfig", k, "--context", "kind-mc-2", "-f",
            f"{M}/istio/primary-remote_multi-network/cluster-2.yaml", "-y",
            "--set", "values.global.remotePilotAddress=${ip_eastwest_mc_1}") in argvs  # fmt: skip
    assert ("istioctl", "create-remote-secret", "--kubeconfig", k, "--context", "kind-mc-2",
            "--name=cluster-2", "--server=https://${ip_mc_2}:6443") in argvs  # fmt: skip
    assert ("kubectl", "--kubeconfig", k, "--context", "kind-mc-1", "wait", "-n", "istio-system",
            "service/istio-eastwestgateway", "--for=jsonpath={.status.loadBalancer.ingress[0].ip}",
            "--timeout=180s") in argvs  # fmt: skip
    assert ("docker", "run", "-d", "--rm", "--name", "mc-cloud-provider-kind", "--network", "kind", "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "registry.k8s.io/cloud-provider-kind/cloud-controller-manager:v0.11.1") in argvs  # fmt: skip


def test_a_remote_gets_no_ca_keys_and_the_secret_goes_to_the_primary_only(tmp_path):
    plan = model_plan(tmp_path, "primary-remote", 1)
    assert plan.steps[0].action == WriteCacerts(tmp_path / "certs", ("cluster-1",))
    steps = [s.action for s in plan.steps if isinstance(s.action, Command)]
    secret = next(a for a in steps if a.capture == "secret_mc_2")
    applied = [a for a in steps if a.stdin == "secret_mc_2"]
    assert [a.argv[4] for a in applied] == ["kind-mc-1"] and applied[0].argv[-3:] == ("apply", "-f", "-")
    assert steps.index(secret) < steps.index(applied[0])
    assert not any("cacerts" in a.argv for a in steps if "kind-mc-2" in a.argv)


@pytest.mark.parametrize(("name", "networks"), [*MODEL_ORDERS, ("multi-primary", 1)], ids=lambda v: str(v))
def test_every_placeholder_and_stdin_is_captured_earlier_in_every_model(tmp_path, name, networks):
    plan = model_plan(tmp_path, name, networks)
    captured: set[str] = set()
    for action in [*(s.action for s in plan.steps), plan.suite]:
        if isinstance(action, Command):
            needed = {m for arg in action.argv for m in re.findall(r"\$\{([a-z0-9_]+)\}", arg)}
            assert needed | ({action.stdin} if action.stdin else set()) <= captured, (action.argv, captured)
            assert not any(n.startswith("secret_") for n in needed), "a credential never goes into argv"
            captured |= {action.capture} if action.capture else set()


@pytest.mark.parametrize(("name", "networks"), list(MODEL_ORDERS), ids=lambda v: str(v))
def test_every_model_cites_its_page_and_the_dry_run_names_it(tmp_path, name, networks):
    plan = model_plan(tmp_path, name, networks)
    text = "\n".join(render(plan))
    assert f"per istio.io \"{plan.model.page}\" ({plan.model.url})" in text
    istio = [a for a in (s.action for s in plan.steps) if isinstance(a, Command) and a.argv[0] == "istioctl"]
    assert istio and all(a.cite.startswith(f'istio.io "{plan.model.page}"') for a in istio)
    assert "no container named mc-cloud-provider-kind" in text
    assert "(a credential: kept in memory, never printed)" in text or name == "multi-primary"


def test_the_load_balancer_is_stopped_first_and_kept_with_keep(tmp_path):
    plan = model_plan(tmp_path, "multi-primary", 2)
    undos = [u for u in teardown(plan, list(plan.steps)) if isinstance(u, Command)]
    assert [u.argv for u in undos] == [
        ("docker", "stop", "mc-cloud-provider-kind"),
        ("kind", "delete", "cluster", "--name", "mc-2", "--kubeconfig", f"{tmp_path}/kubeconfig"),
        ("kind", "delete", "cluster", "--name", "mc-1", "--kubeconfig", f"{tmp_path}/kubeconfig"),
    ]
    kept = model_plan(tmp_path, "multi-primary", 2, keep=True)
    keys = RemovePath(tmp_path / "certs", "remove the CA keys from disk")
    assert teardown(kept, list(kept.steps)) == [keys]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"model": "multi-remote"}, "--model 'multi-remote': choose multi-primary or primary-remote"),
        ({"networks": 3}, "--networks 3: the kind path has 2 clusters"),
        ({"networks": 0}, "--networks 0: the kind path has 2 clusters"),
        ({"model": "primary-remote", "revision": "rev"}, "--revision with --model primary-remote is not"),
    ],
)
def test_bad_model_options_are_refused(tmp_path, kw, message):
    with pytest.raises(PlanError, match=re.escape(message)):
        build_plan(options(tmp_path, **kw))


def test_revision_reaches_the_east_west_gateway_too(tmp_path):
    argvs = commands(model_plan(tmp_path, "multi-primary", 2, revision="canary"))
    installs = [a for a in argvs if a[:2] == ("istioctl", "install")]
    assert len(installs) == 4 and all(a[-2:] == ("--set", "revision=canary") for a in installs)


class ModelRunner(FakeRunner):
    """Also answers the gateway address and istioctl create-remote-secret, and records stdin."""

    SECRET = "apiVersion: v1\nkind: Secret\n# token: fake-token-for-the-test\n"

    def __init__(self):
        super().__init__()
        self.stdin: dict[tuple[str, ...], str] = {}

    def __call__(self, command, argv, stdin=None):
        if stdin is not None:
            self.stdin[argv] = stdin
        if argv[:2] == ("istioctl", "create-remote-secret"):
            self.calls.append(argv)
            return kind.Result(0, self.SECRET)
        if "jsonpath={.status.loadBalancer.ingress[0].ip}" in argv and "get" in argv:
            self.calls.append(argv)
            return kind.Result(0, "172.18.255.200")
        return super().__call__(command, argv)


def test_primary_remote_run_feeds_the_secret_on_stdin_and_never_logs_it(tmp_path, capsys):
    runner = ModelRunner()
    code, lines = run(model_plan(tmp_path, "primary-remote", 2), runner)
    assert code == 0
    k = str(tmp_path / "kubeconfig")
    apply = ("kubectl", "--kubeconfig", k, "--context", "kind-mc-1", "apply", "-f", "-")
    assert runner.stdin == {apply: ModelRunner.SECRET.strip()}
    remote_config = "primary-remote_multi-network/cluster-2.yaml"
    remote_install = next(c for c in runner.calls if remote_config in " ".join(c))
    assert remote_install[-1] == "values.global.remotePilotAddress=172.18.255.200"
    assert ("istioctl", "create-remote-secret", "--kubeconfig", k, "--context", "kind-mc-2",
            "--name=cluster-2", "--server=https://172.18.0.3:6443") in runner.calls  # fmt: skip
    assert runner.calls[-3:] == [
        ("docker", "stop", "mc-cloud-provider-kind"),
        ("kind", "delete", "cluster", "--name", "mc-2", "--kubeconfig", k),
        ("kind", "delete", "cluster", "--name", "mc-1", "--kubeconfig", k),
    ]
    out = "\n".join(lines) + capsys.readouterr().err
    assert "fake-token-for-the-test" not in out


def test_a_gateway_without_an_address_stops_the_setup(tmp_path, capsys):
    wait = ("kubectl", "--kubeconfig", f"{tmp_path}/kubeconfig", "--context", "kind-mc-1", "wait")
    runner = FakeRunner(fail_on=wait)
    code, _ = run(model_plan(tmp_path, "primary-remote", 1), runner)
    assert code == kind.EXIT_SETUP_FAILED
    assert not any(c[:2] == ("istioctl", "create-remote-secret") for c in runner.calls)
    assert runner.calls[-3][:3] == ("docker", "stop", "mc-cloud-provider-kind")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--context kind-mc-1 wait ...` failed: exit code 1" in err[0], err


def test_keep_leaves_the_load_balancer_running_and_says_how_to_stop_it(tmp_path):
    runner = ModelRunner()
    code, lines = run(model_plan(tmp_path, "multi-primary", 2, keep=True), runner)
    assert code == 0
    assert not any(c[:2] == ("docker", "stop") for c in runner.calls)
    assert "  stop the load balancer with: docker stop mc-cloud-provider-kind" in lines
