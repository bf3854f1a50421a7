"""The Istio part of a kind plan, model by model, in the order of istio.io's install pages.

Every command below is one line of a page (``models.Model.page``) with ``--context`` made explicit
and the pages' pipes and shell variables turned into captured values:

- network label on ``istio-system``, then ``istioctl install -f`` with the model's IstioOperator;
- east-west gateway: ``samples/multicluster/gen-eastwest-gateway.sh --network NET | istioctl
  install -y -f -`` becomes ``istioctl install -y -f manifests/istio/eastwest-NET.yaml``, a copy of
  the script's output (istio/istio 1.30.3); then the page's "wait for the east-west gateway to be
  assigned an external IP address" as ``kubectl wait --for=jsonpath=...`` (a jsonpath without a
  value waits for any value: kubectl 1.28+, kubernetes/kubernetes#117761);
- ``expose-services.yaml`` (cross-network Gateway, AUTO_PASSTHROUGH on 15443) and
  ``expose-istiod.yaml`` (the primary's istiod on 15012/15017 for remotes), istio/istio 1.30.3;
- primary-remote: the remote's ``istio-system`` annotated ``topology.istio.io/controlPlaneClusters``,
  ``DISCOVERY_ADDRESS`` read from the primary's gateway and given to the remote's install as
  ``--set values.global.remotePilotAddress=...`` (the page writes it into the file), and
  ``istioctl create-remote-secret --context=REMOTE --name=REMOTE | kubectl apply --context=PRIMARY
  -f -`` into the primary only, with ``--server`` set to the node address because kind's
  kubeconfig says 127.0.0.1 (istioctl ``pkg/multicluster/remote_secret.go`` warns about exactly
  that). The remote needs this secret before anything is injected there: it is how the primary
  patches the remote's webhook certificates and writes its ``istio-ca-root-cert`` configmaps.

Multi-primary meshes leave the remote secrets to the suite (``--join create``), as the kind path
always has: the suite writes them the way ``istioctl create-remote-secret`` does.

LoadBalancer addresses: kind has no cloud load balancer, and the one-network multi-primary needs
none (pods reach pods through node routes). Every model with an east-west gateway runs
cloud-provider-kind (kubernetes-sigs/cloud-provider-kind v0.11.1, README "Running via Docker
Image") as one container on the kind docker network: it gives each LoadBalancer Service an address
on that network, which the other clusters' nodes reach, and it removes what it made when stopped.
kind's single node carries ``node.kubernetes.io/exclude-from-external-load-balancers``, which that
README says to remove. (Istio's own kind CI uses MetalLB instead: ``common/scripts/
kind_provisioner.sh`` ``install_metallb``, and the install pages point to MetalLB for kind; it needs
a manifest and an address pool carved out of the docker network per cluster, one container needs
neither.)
"""

from __future__ import annotations

from pathlib import Path

from meshconform.kind.actions import (
    API_SERVER_PORT,
    ISTIO_NAMESPACE,
    NETWORK_LABEL,
    Command,
    KindCluster,
    Step,
)
from meshconform.kind.models import PRIMARY_REMOTE, Model

EASTWEST_SERVICE = "istio-eastwestgateway"
CONTROL_PLANE_CLUSTERS = "topology.istio.io/controlPlaneClusters"
LB_IMAGE = "registry.k8s.io/cloud-provider-kind/cloud-controller-manager:v0.11.1"
LB_EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
LB_CITE = "kubernetes-sigs/cloud-provider-kind README"
# istioctl install waits for readiness on its own (--readiness-timeout, 300s); image pulls add more.
ISTIOCTL_INSTALL_TIMEOUT_S = 900.0
LB_ADDRESS_WAIT = "180s"  # cloud-provider-kind starts an envoy container per Service first
LB_ADDRESS_TIMEOUT_S = 240.0
LB_START_TIMEOUT_S = 600.0  # docker run pulls the image the first time


def kubectl(kubeconfig: Path, c: KindCluster, *args: str) -> tuple[str, ...]:
    return ("kubectl", "--kubeconfig", str(kubeconfig), "--context", c.context, *args)


def _istioctl(kubeconfig: Path, c: KindCluster, *args: str) -> tuple[str, ...]:
    return ("istioctl", "install", "--kubeconfig", str(kubeconfig), "--context", c.context, *args)


def lb_container(prefix: str) -> str:
    return f"{prefix}-cloud-provider-kind"


def lb_steps(prefix: str, kubeconfig: Path, hosts: tuple[KindCluster, ...]) -> list[Step]:
    """One cloud-provider-kind for all clusters, and gateway nodes allowed behind load balancers."""
    name = lb_container(prefix)
    run: tuple[str, ...] = ("docker", "run", "-d", "--rm", "--name", name, "--network", "kind")
    run += ("-v", "/var/run/docker.sock:/var/run/docker.sock", LB_IMAGE)
    stop = Command(("docker", "stop", name), f"stop {name} (it removes the load balancers it made)")
    why = "start cloud-provider-kind: LoadBalancer addresses on the kind network for east-west gateways"
    steps = [Step(Command(run, why, timeout=LB_START_TIMEOUT_S, cite=LB_CITE), undo=stop)]
    for c in hosts:
        label = kubectl(kubeconfig, c, "label", "node", c.node, f"{LB_EXCLUDE_LABEL}-")
        why = f"let load balancers reach {c.node} (kind's only node is a control plane)"
        steps.append(Step(Command(label, why, cite=LB_CITE)))
    return steps


def namespace_steps(model: Model, kubeconfig: Path, c: KindCluster, primary: KindCluster) -> list[Step]:
    """``istio-system`` with the network label, and a remote's control-plane annotation."""
    namespace = kubectl(kubeconfig, c, "create", "namespace", ISTIO_NAMESPACE)
    label = kubectl(kubeconfig, c, "label", "namespace", ISTIO_NAMESPACE, f"{NETWORK_LABEL}={c.network}")
    steps = [
        Step(Command(namespace, f"namespace {ISTIO_NAMESPACE} in {c.kind_name}")),
        Step(Command((*label, "--overwrite"), f"{c.kind_name} is on network {c.network}", cite=model.cite)),
    ]
    if c.remote:
        managed_by = f"{CONTROL_PLANE_CLUSTERS}={primary.mesh_name}"
        annotate = kubectl(kubeconfig, c, "annotate", "namespace", ISTIO_NAMESPACE, managed_by)
        why = f"{c.kind_name} is a remote: istiod of {primary.mesh_name} manages it once attached"
        steps.append(Step(Command((*annotate, "--overwrite"), why, cite=model.cite)))
    return steps


def install(model: Model, kubeconfig: Path, c: KindCluster, revision: str | None, *extra: str) -> Step:
    argv = _istioctl(kubeconfig, c, "-f", str(c.istio_config), "-y", *extra)
    if revision:
        argv += ("--set", f"revision={revision}")
    why = f"install Istio ({c.mesh_name}, {c.role}, {c.network}) in {c.kind_name}"
    return Step(Command(argv, why, timeout=ISTIOCTL_INSTALL_TIMEOUT_S, cite=model.cite))


def gateway_steps(
    model: Model, kubeconfig: Path, manifests: Path, c: KindCluster, revision: str | None
) -> list[Step]:
    """The east-west gateway of ``c``'s network, then its address once the load balancer gave one."""
    config = manifests / "istio" / f"eastwest-{c.network}.yaml"
    argv = _istioctl(kubeconfig, c, "-y", "-f", str(config))
    if revision:
        argv += ("--set", f"revision={revision}")  # gen-eastwest-gateway.sh --revision writes the same
    cite = f"{model.cite}; samples/multicluster/gen-eastwest-gateway.sh --network {c.network}"
    jsonpath = "{.status.loadBalancer.ingress[0].ip}"
    wait = kubectl(kubeconfig, c, "wait", "-n", ISTIO_NAMESPACE, f"service/{EASTWEST_SERVICE}")
    wait += (f"--for=jsonpath={jsonpath}", f"--timeout={LB_ADDRESS_WAIT}")
    get = kubectl(kubeconfig, c, "get", "-n", ISTIO_NAMESPACE, f"service/{EASTWEST_SERVICE}", "-o")
    why = f"east-west gateway for {c.network} in {c.kind_name}"
    address = f"{c.kind_name}'s east-west gateway address"
    return [
        Step(Command(argv, why, timeout=ISTIOCTL_INSTALL_TIMEOUT_S, cite=cite)),
        Step(Command(wait, f"wait for {address}", timeout=LB_ADDRESS_TIMEOUT_S, cite=model.cite)),
        Step(Command((*get, f"jsonpath={jsonpath}"), address, capture=c.gateway_ip_var, cite=model.cite)),
    ]


def expose_step(model: Model, kubeconfig: Path, manifests: Path, c: KindCluster, what: str) -> Step:
    """``kubectl apply -n istio-system -f expose-{services,istiod}.yaml`` in ``c``."""
    config = manifests / "istio" / f"expose-{what}.yaml"
    argv = kubectl(kubeconfig, c, "apply", "-n", ISTIO_NAMESPACE, "-f", str(config))
    why = {
        "services": f"expose every *.local service on {c.kind_name}'s east-west gateway (15443)",
        "istiod": f"expose istiod of {c.kind_name} on its east-west gateway for remotes (15012, 15017)",
    }[what]
    return Step(Command(argv, why, cite=f"{model.cite}; samples/multicluster/expose-{what}.yaml"))


def attach_steps(model: Model, kubeconfig: Path, remote: KindCluster, primary: KindCluster) -> list[Step]:
    """The remote's secret into the primary only, as the page pipes istioctl into kubectl."""
    server = f"--server=https://${{{remote.ip_var}}}:{API_SERVER_PORT}"
    make: tuple[str, ...] = ("istioctl", "create-remote-secret", "--kubeconfig", str(kubeconfig))
    make += ("--context", remote.context, f"--name={remote.mesh_name}", server)
    apply = kubectl(kubeconfig, primary, "apply", "-f", "-")
    why_make = f"remote secret for {remote.mesh_name} (its API server at its node address)"
    why_apply = f"attach {remote.mesh_name} to {primary.mesh_name}: the secret into the primary only"
    return [
        Step(Command(make, why_make, capture=remote.secret_var, cite=model.cite)),
        Step(Command(apply, why_apply, stdin=remote.secret_var, cite=model.cite)),
    ]


def istio_steps(
    model: Model, kubeconfig: Path, manifests: Path, clusters: tuple[KindCluster, ...], revision: str | None
) -> list[Step]:
    """Everything after the CA secrets, in the order of the model's install page."""
    if model.name == PRIMARY_REMOTE:
        return _primary_remote(model, kubeconfig, manifests, clusters)
    steps = []
    for c in clusters:  # multi-primary: each cluster in turn, as the page does cluster1 then cluster2
        steps.append(install(model, kubeconfig, c, revision))
        if model.multi_network:
            steps += gateway_steps(model, kubeconfig, manifests, c, revision)
            steps.append(expose_step(model, kubeconfig, manifests, c, "services"))
    return steps


def _primary_remote(
    model: Model, kubeconfig: Path, manifests: Path, clusters: tuple[KindCluster, ...]
) -> list[Step]:
    primary, remotes = clusters[0], clusters[1:]
    steps = [install(model, kubeconfig, primary, None)]
    steps += gateway_steps(model, kubeconfig, manifests, primary, None)
    steps.append(expose_step(model, kubeconfig, manifests, primary, "istiod"))
    discovery = f"values.global.remotePilotAddress=${{{primary.gateway_ip_var}}}"
    for remote in remotes:
        steps.append(install(model, kubeconfig, remote, None, "--set", discovery))
        steps += attach_steps(model, kubeconfig, remote, primary)
    for index in model.gateway_hosts(len(clusters))[1:]:  # a gateway for each remote-only network
        steps += gateway_steps(model, kubeconfig, manifests, clusters[index - 1], None)
    if model.multi_network:  # the primary's istiod configures the remote's gateway too
        steps.append(expose_step(model, kubeconfig, manifests, primary, "services"))
    return steps
