"""The ordered plan of the kind path: two kind clusters, one Istio mesh of a model, one suite run.

The plan is data, built without touching docker, kind or istioctl, so that ``--dry-run`` prints
exactly what a real run executes and the self-tests can assert on it. Commands are argument lists;
a value only known at run time (a control-plane container's IP) is a ``${name}`` placeholder that
an earlier command captures. The steps follow Istio's own multicluster kind setup and docs:

- clusters with distinct pod/service CIDRs and routes between their nodes for pod-to-pod traffic on
  one network: istio/istio ``prow/lib.sh`` (``connect_kind_clusters``);
- ``cacerts`` secret from one shared root: istio.io "Plug in CA Certificates";
- clusters on one network get routes between their nodes; clusters on different networks get none,
  as ``common/scripts/kind_provisioner.sh`` connects only clusters of the same network ID;
- the Istio steps of the model (``--model``, ``--networks``; ``models``) in the order of its
  istio.io install page, with the load balancer its east-west gateways need (``istio_steps``);
- the suite with ``--api-server CTX=https://<node IP>:6443``: kind's kubeconfig says 127.0.0.1,
  which istiod in the other cluster cannot reach (istioctl warns about exactly this, see
  ``istioctl/pkg/multicluster/remote_secret.go`` ``getServerFromKubeconfig``).

Which cluster is which (kind config, Istio config, clusterName, network, primary or remote) comes
from the files in ``manifests/kind`` and ``manifests/istio``, so the files a user reads are the
ones that are used; each model's Istio configs are checked against the model before anything runs.
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

from meshconform.kind.actions import (
    API_SERVER_PORT,
    ISTIO_NAMESPACE,
    REPO_ROOT,
    SECRET_PREFIX,
    Action,
    Command,
    KindCluster,
    RemovePath,
    Step,
    WriteCacerts,
)
from meshconform.kind.certs import CACERTS_FILES
from meshconform.kind.istio_steps import istio_steps, kubectl, lb_container, lb_steps, namespace_steps
from meshconform.kind.models import MULTI_PRIMARY, Model, ModelError, choose_model

REQUIRED_TOOLS = ("docker", "kind", "istioctl", "kubectl")

# Subprocess deadlines. kind create waits up to KIND_WAIT for the node itself; the rest is image
# pulls. istioctl install waits for istiod readiness on its own (--readiness-timeout, 300s).
KIND_WAIT = "180s"
KIND_CREATE_TIMEOUT_S = 600.0

_PLACEHOLDER = re.compile(r"\$\{([a-z0-9_]+)\}")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


GUIDE_MODEL = Model(MULTI_PRIMARY, 1)  # the guide's mesh, and the kind path's default


class PlanError(ValueError):
    """The plan cannot be built from the given options or manifests; the message is one line."""


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
    model: str = MULTI_PRIMARY
    networks: int = 1


@dataclass(frozen=True)
class Plan:
    workdir: Path
    kubeconfig: Path
    clusters: tuple[KindCluster, ...]
    steps: tuple[Step, ...]
    suite: Command
    keep: bool
    files: tuple[Path, ...] = field(default=())
    model: Model = GUIDE_MODEL
    lb_container: str | None = None  # the cloud-provider-kind container, when the model needs one


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PlanError(f"cannot read {path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise PlanError(f"{path} is not a YAML mapping")
    return data


def _find(data: dict[str, Any], *keys: str) -> Any:
    node: Any = data
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _get(data: dict[str, Any], path: Path, *keys: str) -> str:
    node = _find(data, *keys)
    if not isinstance(node, str) or not node:
        raise PlanError(f"{path} has no {'.'.join(keys)}")
    return node


def istio_config(manifests: Path, model: Model, index: int) -> Path:
    return manifests / "istio" / model.config_dir / f"cluster-{index}.yaml"


def load_cluster(manifests: Path, index: int, prefix: str, model: Model | None = None) -> KindCluster:
    """Read ``kind/cluster-N.yaml`` and the model's ``istio/.../cluster-N.yaml`` into one KindCluster."""
    kind_config = manifests / "kind" / f"cluster-{index}.yaml"
    istio_path = istio_config(manifests, model or GUIDE_MODEL, index)
    kind_data, istio_data = _load_yaml(kind_config), _load_yaml(istio_path)
    remote = _find(istio_data, "spec", "profile") == "remote"
    values = ("spec", "values")
    return KindCluster(
        kind_name=f"{prefix}-{index}",
        kind_config=kind_config,
        istio_config=istio_path,
        mesh_name=_get(istio_data, istio_path, *values, "global", "multiCluster", "clusterName"),
        network=_get(istio_data, istio_path, *values, "global", "network"),
        mesh_id="" if remote else _get(istio_data, istio_path, *values, "global", "meshID"),
        pod_subnet=_get(kind_data, kind_config, "networking", "podSubnet"),
        service_subnet=_get(kind_data, kind_config, "networking", "serviceSubnet"),
        remote=remote,
        injection_path=_injection_path(istio_data, istio_path) if remote else "",
    )


def _injection_path(data: dict[str, Any], path: Path) -> str:
    return _get(data, path, "spec", "values", "istiodRemote", "injectionPath")


def validate_clusters(clusters: tuple[KindCluster, ...], model: Model | None = None) -> None:
    """One mesh, the model's networks and roles, distinct names, no CIDR shared between clusters."""
    model = model or GUIDE_MODEL
    if len({c.mesh_id for c in clusters if not c.remote}) != 1:
        raise PlanError("the Istio configs of the primaries must share one meshID")
    if len({c.mesh_name for c in clusters}) != len(clusters):
        raise PlanError("the Istio configs must give each cluster its own multiCluster.clusterName")
    for index, c in enumerate(clusters, start=1):
        _check_model(model, index, c)
    _check_subnets(clusters)


def _check_model(model: Model, index: int, c: KindCluster) -> None:
    want = model.network_of(index)
    if c.network != want:
        raise PlanError(
            f"{c.istio_config} puts {c.mesh_name} on {c.network};"
            f" {model.describe()} puts cluster-{index} on {want}"
        )
    if c.remote != model.is_remote(index):
        role = "remote" if model.is_remote(index) else "primary"
        raise PlanError(f"{c.istio_config} makes {c.mesh_name} a {c.role}; {model.name} needs a {role} there")
    path = f"/inject/cluster/{c.mesh_name}/net/{c.network}"
    if c.remote and c.injection_path != path:
        raise PlanError(f"{c.istio_config} has injectionPath {c.injection_path}; expected {path}")


def _check_subnets(clusters: tuple[KindCluster, ...]) -> None:
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
    """Pod and service routes between the nodes of clusters on the same network only."""
    steps = []
    for here in clusters:
        for there in clusters:
            if here is there or here.network != there.network:
                continue
            for cidr in (there.pod_subnet, there.service_subnet):
                via = f"${{{there.ip_var}}}"
                argv = ("docker", "exec", here.node, "ip", "route", "add", cidr, "via", via)
                steps.append(Step(Command(argv, f"route {there.kind_name}'s {cidr} via its node")))
    return steps


def _cacerts_step(kubeconfig: Path, certs: Path, c: KindCluster) -> Step:
    secret = kubectl(kubeconfig, c, "create", "secret", "generic", "cacerts", "-n", ISTIO_NAMESPACE)
    secret += tuple(f"--from-file={certs / c.mesh_name / name}" for name in CACERTS_FILES)
    return Step(Command(secret, f"plug the {c.mesh_name} intermediate CA into {c.kind_name}"))


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


def _model(opts: KindOptions) -> Model:
    if not _DNS_LABEL.match(opts.name_prefix) or len(opts.name_prefix) > 40:
        raise PlanError(
            f"--name-prefix {opts.name_prefix!r} must be a lowercase DNS label of at most 40 characters"
        )
    try:
        return choose_model(opts.model, opts.networks, opts.revision)
    except ModelError as exc:
        raise PlanError(str(exc)) from None


def build_plan(opts: KindOptions) -> Plan:
    """Every step of a kind run, in order, with nothing executed."""
    model = _model(opts)
    clusters = tuple(load_cluster(opts.manifests, i, opts.name_prefix, model) for i in (1, 2))
    validate_clusters(clusters, model)
    kubeconfig, certs = opts.workdir / "kubeconfig", opts.workdir / "certs"
    primaries = tuple(c for c in clusters if not c.remote)  # a remote's certificates come from its primary
    # The undo also removes the keys when a step fails before the secrets are created.
    steps = [
        Step(
            WriteCacerts(certs, tuple(c.mesh_name for c in primaries)),
            undo=RemovePath(certs, "remove the CA keys from disk"),
            keep_skips=False,
        )
    ]
    for c in clusters:
        steps += _cluster_steps(opts, kubeconfig, c)
    steps += _route_steps(clusters)
    hosts = tuple(clusters[i - 1] for i in model.gateway_hosts(len(clusters)))
    lb = lb_container(opts.name_prefix) if hosts else None
    if hosts:
        steps += lb_steps(opts.name_prefix, kubeconfig, hosts)
    for c in clusters:
        steps += namespace_steps(model, kubeconfig, c, clusters[0])
        steps += [_cacerts_step(kubeconfig, certs, c)] if not c.remote else []
    steps.append(Step(RemovePath(certs, "remove the CA keys from disk: the cacerts secrets hold them now")))
    steps += istio_steps(model, kubeconfig, opts.manifests, clusters, opts.revision)
    files = (kubeconfig, *(certs / c.mesh_name / name for c in primaries for name in CACERTS_FILES))
    suite = _suite(opts, kubeconfig, clusters)
    return Plan(opts.workdir, kubeconfig, clusters, tuple(steps), suite, opts.keep, files, model, lb)


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
        lines = [f"# {action.why}{where}"]
        lines += [f"#   per {action.cite}"] if action.cite else []
        lines.append(shlex.join(action.argv))
        if action.stdin:
            lines.append(f"  <- ${{{action.stdin}}} on stdin (never printed)")
        if action.capture:
            secret = action.capture.startswith(SECRET_PREFIX)
            secret_note = " (a credential: kept in memory, never printed)" if secret else ""
            lines.append(f"  -> ${{{action.capture}}}{secret_note}")
        return lines
    if isinstance(action, WriteCacerts):
        files = [str(action.base / c / name) for c in action.clusters for name in CACERTS_FILES]
        return [f"# {action.why}", *(f"write {path} (0600)" for path in files)]
    return [f"# {action.why}", f"remove {action.path}"]


def _header(plan: Plan) -> list[str]:
    names = ", ".join(c.kind_name for c in plan.clusters)
    taken = f"no kind cluster named {names}"
    taken += f", no container named {plan.lb_container}" if plan.lb_container else ""
    roles = ", ".join(
        f"{c.kind_name} ({c.mesh_name}, {c.role}, {c.network})" for c in plan.clusters
    )
    lb = (
        f"cloud-provider-kind ({plan.lb_container}) gives the east-west gateways LoadBalancer addresses"
        " on the kind docker network"
        if plan.lb_container
        else "none needed: one network and no east-west gateway"
    )
    return [
        "meshconform kind plan (dry run: nothing was executed)",
        f"model: {plan.model.describe()}, per istio.io \"{plan.model.page}\" ({plan.model.url})",
        f"clusters: {roles}",
        f"load balancer: {lb}",
        f"workdir: {plan.workdir}",
        f"preflight: {', '.join(REQUIRED_TOOLS)} on PATH; the docker daemon answers; {taken}",
    ]


def render(plan: Plan) -> list[str]:
    """The full ordered plan as text lines, placeholders left as ``${name}``."""
    lines = _header(plan)
    for number, step in enumerate(plan.steps, start=1):
        lines += _numbered(number, describe(step.action))
    lines += _numbered(len(plan.steps) + 1, describe(plan.suite))
    kept = " (--keep: clusters, kubeconfig and load balancer are kept)" if plan.keep else ""
    lines.append(f"finally, whatever happened before{kept}:")
    for action in teardown(plan, list(plan.steps)):
        lines += _numbered(None, describe(action))
    lines.append("${name} values are captured from earlier commands at run time; keys are never printed.")
    return lines


def _numbered(number: int | None, block: list[str]) -> list[str]:
    head = f"{number:>3}. " if number is not None else "   - "
    return [head + block[0], *("     " + line for line in block[1:])]
