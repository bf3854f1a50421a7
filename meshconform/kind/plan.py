"""The ordered plan of the kind path: two kind clusters, one Istio mesh, one suite run.

The plan is data, built without touching docker, kind or istioctl, so that ``--dry-run`` prints
exactly what a real run executes and the self-tests can assert on it. Commands are argument lists;
a value only known at run time (a control-plane container's IP) is a ``${name}`` placeholder that
an earlier command captures. The steps follow Istio's own multicluster kind setup and docs:

- clusters with distinct pod/service CIDRs and routes between their nodes for pod-to-pod traffic on
  one network: istio/istio ``prow/lib.sh`` (``connect_kind_clusters``);
- ``cacerts`` secret from one shared root: istio.io "Plug in CA Certificates";
- network label on ``istio-system`` then ``istioctl install -f``: istio.io "Install Multi-Primary"
  (and "...on different networks" for the ``topology.istio.io/network`` label the suite reads);
- the suite with ``--api-server CTX=https://<node IP>:6443``: kind's kubeconfig says 127.0.0.1,
  which istiod in the other cluster cannot reach (istioctl warns about exactly this, see
  ``istioctl/pkg/multicluster/remote_secret.go`` ``getServerFromKubeconfig``).

Which cluster is which (kind config, Istio config, clusterName, network) comes from the files in
``manifests/kind`` and ``manifests/istio``, so the files a user reads are the ones that are used.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshconform.kind.certs import CACERTS_FILES

REPO_ROOT = Path(__file__).resolve().parents[2]
ISTIO_NAMESPACE = "istio-system"
NETWORK_LABEL = "topology.istio.io/network"
API_SERVER_PORT = 6443  # kube-apiserver's port inside a kind control-plane container
REQUIRED_TOOLS = ("docker", "kind", "istioctl", "kubectl")

# Subprocess deadlines. kind create waits up to KIND_WAIT for the node itself; the rest is image
# pulls. istioctl install waits for istiod readiness on its own (--readiness-timeout, 300s).
KIND_WAIT = "180s"
KIND_CREATE_TIMEOUT_S = 600.0
ISTIOCTL_INSTALL_TIMEOUT_S = 900.0
SHORT_TIMEOUT_S = 120.0

_PLACEHOLDER = re.compile(r"\$\{([a-z0-9_]+)\}")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class PlanError(ValueError):
    """The plan cannot be built from the given options or manifests; the message is one line."""


@dataclass(frozen=True)
class Command:
    """One external command. ``capture`` keeps its stripped stdout for later ``${capture}``."""

    argv: tuple[str, ...]
    why: str
    capture: str | None = None
    timeout: float | None = SHORT_TIMEOUT_S
    cwd: Path | None = None


@dataclass(frozen=True)
class WriteCacerts:
    """Generate the shared root and one intermediate per cluster into ``base/<cluster>/``."""

    base: Path
    clusters: tuple[str, ...]
    why: str = "generate one root CA and per-cluster intermediates (cacerts layout)"


@dataclass(frozen=True)
class RemovePath:
    """Delete a file or directory tree that the plan wrote."""

    path: Path
    why: str


Action = Command | WriteCacerts | RemovePath


@dataclass(frozen=True)
class Step:
    """A setup action and what undoes it; ``keep_skips`` undos are left alone under ``--keep``."""

    action: Action
    undo: Action | None = None
    keep_skips: bool = True


@dataclass(frozen=True)
class KindCluster:
    """One kind cluster and the mesh identity its Istio config gives it."""

    kind_name: str
    kind_config: Path
    istio_config: Path
    mesh_name: str
    network: str
    mesh_id: str
    pod_subnet: str
    service_subnet: str

    @property
    def context(self) -> str:
        return f"kind-{self.kind_name}"  # the context name kind writes into the kubeconfig

    @property
    def node(self) -> str:
        return f"{self.kind_name}-control-plane"

    @property
    def ip_var(self) -> str:
        return "ip_" + self.kind_name.replace("-", "_")


@dataclass(frozen=True)
class KindOptions:
    """What the user asked for (``python -m meshconform.kind --help``)."""

    workdir: Path
    name_prefix: str = "meshconform"
    keep: bool = False
    revision: str | None = None
    node_image: str | None = None
    pytest_args: tuple[str, ...] = ()
    manifests: Path = REPO_ROOT / "manifests"
    python: str = sys.executable


@dataclass(frozen=True)
class Plan:
    workdir: Path
    kubeconfig: Path
    clusters: tuple[KindCluster, ...]
    steps: tuple[Step, ...]
    suite: Command
    keep: bool
    files: tuple[Path, ...] = field(default=())


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PlanError(f"cannot read {path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise PlanError(f"{path} is not a YAML mapping")
    return data


def _get(data: dict[str, Any], path: Path, *keys: str) -> str:
    node: Any = data
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, str) or not node:
        raise PlanError(f"{path} has no {'.'.join(keys)}")
    return node


def load_cluster(manifests: Path, index: int, prefix: str) -> KindCluster:
    """Read ``kind/cluster-N.yaml`` and ``istio/cluster-N.yaml`` into one KindCluster."""
    kind_config = manifests / "kind" / f"cluster-{index}.yaml"
    istio_config = manifests / "istio" / f"cluster-{index}.yaml"
    kind_data, istio_data = _load_yaml(kind_config), _load_yaml(istio_config)
    return KindCluster(
        kind_name=f"{prefix}-{index}",
        kind_config=kind_config,
        istio_config=istio_config,
        mesh_name=_get(istio_data, istio_config, "spec", "values", "global", "multiCluster", "clusterName"),
        network=_get(istio_data, istio_config, "spec", "values", "global", "network"),
        mesh_id=_get(istio_data, istio_config, "spec", "values", "global", "meshID"),
        pod_subnet=_get(kind_data, kind_config, "networking", "podSubnet"),
        service_subnet=_get(kind_data, kind_config, "networking", "serviceSubnet"),
    )


def validate_clusters(clusters: tuple[KindCluster, ...]) -> None:
    """One mesh, one network, distinct names, and no CIDR shared between any two clusters."""
    if len({c.mesh_id for c in clusters}) != 1 or len({c.network for c in clusters}) != 1:
        raise PlanError(
            "the Istio configs must share one meshID and one network (multi-primary, one network)"
        )
    if len({c.mesh_name for c in clusters}) != len(clusters):
        raise PlanError("the Istio configs must give each cluster its own multiCluster.clusterName")
    subnets: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for c in clusters:
        for label, cidr in (
            (f"{c.kind_config} podSubnet", c.pod_subnet),
            (f"{c.kind_config} serviceSubnet", c.service_subnet),
        ):
            try:
                net = ipaddress.ip_network(cidr)
            except ValueError:
                raise PlanError(f"{label} {cidr!r} is not a CIDR") from None
            clash = next((other for other, seen in subnets if seen.overlaps(net)), None)
            if clash:
                raise PlanError(f"{label} {cidr} overlaps {clash}")
            subnets.append((f"{label} {cidr}", net))


def substitute(argv: tuple[str, ...], values: dict[str, str]) -> tuple[str, ...]:
    """Fill ``${name}`` placeholders from captured values; unknown names are an error."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise PlanError(f"no value captured for ${{{match.group(1)}}}")
        return values[match.group(1)]

    return tuple(_PLACEHOLDER.sub(one, arg) for arg in argv)


def _kubectl(kubeconfig: Path, c: KindCluster, *args: str) -> tuple[str, ...]:
    return ("kubectl", "--kubeconfig", str(kubeconfig), "--context", c.context, *args)


def _cluster_steps(opts: KindOptions, kubeconfig: Path, c: KindCluster) -> list[Step]:
    create: tuple[str, ...] = (
        "kind",
        "create",
        "cluster",
        "--name",
        c.kind_name,
        "--config",
        str(c.kind_config),
    )
    create += ("--kubeconfig", str(kubeconfig), "--wait", KIND_WAIT)
    if opts.node_image:
        create += ("--image", opts.node_image)
    delete = ("kind", "delete", "cluster", "--name", c.kind_name, "--kubeconfig", str(kubeconfig))
    inspect = ("docker", "inspect", "-f", "{{.NetworkSettings.Networks.kind.IPAddress}}", c.node)
    why_ip = f"internal IP of {c.node} (reachable from the other cluster)"
    return [
        Step(
            Command(create, f"create kind cluster {c.kind_name}", timeout=KIND_CREATE_TIMEOUT_S),
            undo=Command(delete, f"delete kind cluster {c.kind_name}", timeout=KIND_CREATE_TIMEOUT_S),
        ),
        Step(Command(inspect, why_ip, capture=c.ip_var)),
    ]


def _route_steps(clusters: tuple[KindCluster, ...]) -> list[Step]:
    steps = []
    for here in clusters:
        for there in clusters:
            if here is there:
                continue
            for cidr in (there.pod_subnet, there.service_subnet):
                via = f"${{{there.ip_var}}}"
                argv = ("docker", "exec", here.node, "ip", "route", "add", cidr, "via", via)
                steps.append(Step(Command(argv, f"route {there.kind_name}'s {cidr} via its node")))
    return steps


def _secret_steps(kubeconfig: Path, certs: Path, c: KindCluster) -> list[Step]:
    namespace = _kubectl(kubeconfig, c, "create", "namespace", ISTIO_NAMESPACE)
    label = _kubectl(kubeconfig, c, "label", "namespace", ISTIO_NAMESPACE, f"{NETWORK_LABEL}={c.network}")
    secret = _kubectl(kubeconfig, c, "create", "secret", "generic", "cacerts", "-n", ISTIO_NAMESPACE)
    secret += tuple(f"--from-file={certs / c.mesh_name / name}" for name in CACERTS_FILES)
    return [
        Step(Command(namespace, f"namespace {ISTIO_NAMESPACE} in {c.kind_name}")),
        Step(Command((*label, "--overwrite"), f"{c.kind_name} is on network {c.network}")),
        Step(Command(secret, f"plug the {c.mesh_name} intermediate CA into {c.kind_name}")),
    ]


def _install_step(opts: KindOptions, kubeconfig: Path, c: KindCluster) -> Step:
    install: tuple[str, ...] = (
        "istioctl",
        "install",
        "--kubeconfig",
        str(kubeconfig),
        "--context",
        c.context,
    )
    install += ("-f", str(c.istio_config), "-y")
    if opts.revision:
        install += ("--set", f"revision={opts.revision}")
    why = f"install Istio ({c.mesh_name}, {c.network}) in {c.kind_name}"
    return Step(Command(install, why, timeout=ISTIOCTL_INSTALL_TIMEOUT_S))


def _suite(opts: KindOptions, kubeconfig: Path, clusters: tuple[KindCluster, ...]) -> Command:
    argv = [opts.python, "-m", "pytest", "--kubeconfig", str(kubeconfig)]
    argv += ["--ctx1", clusters[0].context, "--ctx2", clusters[1].context]
    for c in clusters:
        argv += ["--cluster-name", f"{c.context}={c.mesh_name}"]
    for c in clusters:
        argv += ["--api-server", f"{c.context}=https://${{{c.ip_var}}}:{API_SERVER_PORT}"]
    if opts.revision:
        argv += ["--revision", opts.revision]
    return Command((*argv, *opts.pytest_args), "run the conformance suite", timeout=None, cwd=REPO_ROOT)


def build_plan(opts: KindOptions) -> Plan:
    """Every step of a kind run, in order, with nothing executed."""
    if not _DNS_LABEL.match(opts.name_prefix) or len(opts.name_prefix) > 40:
        raise PlanError(
            f"--name-prefix {opts.name_prefix!r} must be a lowercase DNS label of at most 40 characters"
        )
    clusters = tuple(load_cluster(opts.manifests, i, opts.name_prefix) for i in (1, 2))
    validate_clusters(clusters)
    kubeconfig, certs = opts.workdir / "kubeconfig", opts.workdir / "certs"
    # The undo also removes the keys when a step fails before the secrets are created.
    steps = [
        Step(
            WriteCacerts(certs, tuple(c.mesh_name for c in clusters)),
            undo=RemovePath(certs, "remove the CA keys from disk"),
            keep_skips=False,
        )
    ]
    for c in clusters:
        steps += _cluster_steps(opts, kubeconfig, c)
    steps += _route_steps(clusters)
    for c in clusters:
        steps += _secret_steps(kubeconfig, certs, c)
    steps.append(Step(RemovePath(certs, "remove the CA keys from disk: the cacerts secrets hold them now")))
    steps += [_install_step(opts, kubeconfig, c) for c in clusters]
    files = (kubeconfig, *(certs / c.mesh_name / name for c in clusters for name in CACERTS_FILES))
    return Plan(
        opts.workdir, kubeconfig, clusters, tuple(steps), _suite(opts, kubeconfig, clusters), opts.keep, files
    )


def teardown(plan: Plan, started: list[Step]) -> list[Action]:
    """Undo actions for the steps that were started, newest first, minus what ``--keep`` keeps."""
    undos = [s.undo for s in reversed(started) if s.undo is not None and not (plan.keep and s.keep_skips)]
    if started and not plan.keep:
        undos.append(RemovePath(plan.kubeconfig, "remove the kubeconfig of the deleted clusters"))
    return undos


def describe(action: Action) -> list[str]:
    """How the dry run (and the live log) shows one action: intent, then the exact command."""
    if isinstance(action, Command):
        where = f" (in {action.cwd})" if action.cwd else ""
        lines = [f"# {action.why}{where}", shlex.join(action.argv)]
        if action.capture:
            lines.append(f"  -> ${{{action.capture}}}")
        return lines
    if isinstance(action, WriteCacerts):
        files = [str(action.base / c / name) for c in action.clusters for name in CACERTS_FILES]
        return [f"# {action.why}", *(f"write {path} (0600)" for path in files)]
    return [f"# {action.why}", f"remove {action.path}"]


def render(plan: Plan) -> list[str]:
    """The full ordered plan as text lines, placeholders left as ``${name}``."""
    names = ", ".join(c.kind_name for c in plan.clusters)
    lines = [
        "meshconform kind plan (dry run: nothing was executed)",
        f"workdir: {plan.workdir}",
        f"preflight: {', '.join(REQUIRED_TOOLS)} on PATH; the docker daemon answers;"
        f" no kind cluster named {names}",
    ]
    for number, step in enumerate(plan.steps, start=1):
        lines += _numbered(number, describe(step.action))
    lines += _numbered(len(plan.steps) + 1, describe(plan.suite))
    kept = " (--keep: clusters and kubeconfig are kept)" if plan.keep else ""
    lines.append(f"finally, whatever happened before{kept}:")
    for action in teardown(plan, list(plan.steps)):
        lines += _numbered(None, describe(action))
    lines.append("${name} values are captured from earlier commands at run time; keys are never printed.")
    return lines


def _numbered(number: int | None, block: list[str]) -> list[str]:
    head = f"{number:>3}. " if number is not None else "   - "
    return [head + block[0], *("     " + line for line in block[1:])]
