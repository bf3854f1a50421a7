"""Control plane facts of one cluster: istiod and its revision, version, mesh config, trust.

Where each fact lives is Istio's own convention: istiod pods carry `app=istiod` and `istio.io/rev`
(the guide's step 2, `kubectl -n istio-system get pods -l app=istiod --show-labels`); the version
is the discovery container's image tag (ASM tags look like `1.7.3-asm.6`); a revisioned install
keeps its MeshConfig in ConfigMap `istio-<REV>` key `mesh` (plain `istio` for the default
revision); the network is the `topology.istio.io/network` label of the istio-system namespace;
the root of trust is ConfigMap `istio-ca-root-cert` key `root-cert.pem`; the revision's injector
is MutatingWebhookConfiguration(s) labelled `istio.io/rev=<REV>`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization

from meshconform.kube import errors
from meshconform.kube.client import REQUEST_TIMEOUT, Cluster, Obj
from meshconform.kube.fanout import at_once
from meshconform.kube.waits import pod_ready, pod_state
from meshconform.kube.yamlload import SAFE_LOADER
from meshconform.mesh import gateways, remote_control, trust
from meshconform.mesh.facts import (
    ControlPlane,
    DeclaredGateway,
    DestinationRule,
    Injector,
    IstiodPod,
    IstiodSync,
    Webhook,
)

ISTIO_NS = "istio-system"
ISTIOD_SELECTOR = "app=istiod"
REV_LABEL = "istio.io/rev"
TAG_LABEL = "istio.io/tag"  # a revision tag's webhook (istioctl tag set; mesh/revision_choice.py)
NETWORK_LABEL = "topology.istio.io/network"
CONTROL_PLANE_CLUSTERS = "topology.istio.io/controlPlaneClusters"  # a remote's primaries (primary-remote)
DEFAULT_REVISION = "default"
MIN_VERSION = (1, 6, 8)  # the guide's prerequisite: ASM 1.6.8 or later
_VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def revision_of(obj: Obj) -> str:
    return str((obj.get("metadata", {}).get("labels") or {}).get(REV_LABEL) or DEFAULT_REVISION)


def list_istiod(cluster: Cluster) -> tuple[list[IstiodPod], dict[str, str]]:
    """istiod pods and deployments in istio-system; a deployment proves a revision is installed
    even when its pods are gone."""
    reads: list[Callable[[], Obj]] = [
        lambda: cluster.read(
            f"LIST pods {ISTIO_NS} -l {ISTIOD_SELECTOR}",
            cluster.core.list_namespaced_pod,
            ISTIO_NS,
            label_selector=ISTIOD_SELECTOR,
        ),
        lambda: cluster.read(
            f"LIST deployments {ISTIO_NS} -l {ISTIOD_SELECTOR}",
            cluster.apps.list_namespaced_deployment,
            ISTIO_NS,
            label_selector=ISTIOD_SELECTOR,
        ),
    ]
    pods, deps = at_once(reads)
    istiod = [
        _istiod_pod(p) for p in pods.get("items") or [] if not p.get("metadata", {}).get("deletionTimestamp")
    ]
    deployments = {d["metadata"]["name"]: revision_of(d) for d in deps.get("items") or []}
    return istiod, deployments


def _istiod_pod(pod: Obj) -> IstiodPod:
    containers = pod.get("spec", {}).get("containers") or []
    discovery = next(
        (c for c in containers if c.get("name") == "discovery"), containers[0] if containers else {}
    )
    image = str(discovery.get("image", ""))
    env = {e.get("name"): e.get("value") for e in discovery.get("env") or []}
    return IstiodPod(
        name=pod["metadata"]["name"],
        revision=revision_of(pod),
        ready=pod_ready(pod),
        phase=str(pod.get("status", {}).get("phase", "")),
        image=image,
        version=version_from_image(image),
        cluster_id=env.get("CLUSTER_ID"),
        state=pod_state(pod),
    )


FORBIDDEN_RE = re.compile(r'\S+ is forbidden: User "[^"]+" cannot \S+ resource "[^"]*"[^\n]*')
LOG_LINES = 60  # client-go retries a forbidden list every few seconds: its error is in the tail


def why_unready(cluster: Cluster, pod: IstiodPod) -> None:
    """A Running istiod that never gets Ready is most often waiting for caches its account may not
    fill: its log says which list was Forbidden to whom (client-go's reflector errors). Read only
    for such pods, and only to explain them: the verdict is test_istiod_ready's either way."""
    if pod.ready or pod.phase != "Running":
        return
    try:
        text = cluster.read(
            f"GET pods/log {ISTIO_NS}/{pod.name} -c discovery",
            cluster.core.read_namespaced_pod_log,
            pod.name,
            ISTIO_NS,
            container="discovery",
            tail_lines=LOG_LINES,
            raw=False,
            retry=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
    except errors.KubeError:
        return  # the log could not be read: the failure says to look, without saying why
    found = FORBIDDEN_RE.findall(str(text or ""))
    pod.forbidden = found[-1] if found else None


def version_from_image(image: str) -> str | None:
    """`gcr.io/gke-release/asm/pilot:1.7.3-asm.6` -> `1.7.3-asm.6`; None for a digest or `latest`."""
    tag = image.rsplit("/", 1)[-1].partition("@")[0]
    _, sep, tag = tag.partition(":")
    return tag if sep and _VERSION_RE.match(tag) else None


def version_tuple(version: str) -> tuple[int, int, int]:
    match = _VERSION_RE.match(version)
    if not match:
        raise ValueError(f"not a version: {version!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


# An istiod answers /debug/clusterz with 404 when it predates the endpoint (Istio 1.11 added it,
# istio/istio#33799, #34086) or, from 1.10 on, when ENABLE_DEBUG_ON_HTTP=false leaves every debug
# handler unregistered (pilot/pkg/xds/debug.go AddDebugHandlers): only the first is excused.
CLUSTERZ_SINCE = (1, 11, 0)


def predates_clusterz(version: str | None) -> bool:
    """An istiod that answers 404 is excused only when its version says it has no clusterz: a
    1.11+ one (or one of unknown version) with the debug endpoints turned off is a failure."""
    try:
        return version is not None and version_tuple(version) < CLUSTERZ_SINCE
    except ValueError:
        return False


def sync_unreported(seen: IstiodSync | None) -> bool:
    """istiod answered, but is too old to say which remote clusters it synced: what its proxies
    hold is then the only evidence of the sync (a sample sidecar's clusters, read after the calls)."""
    return seen is not None and seen.missing and predates_clusterz(seen.version)


def revisions(pods: list[IstiodPod], deployments: dict[str, str]) -> list[str]:
    return sorted({p.revision for p in pods} | set(deployments.values()))


def gather(
    cluster: Cluster, revision: str, pods: list[IstiodPod], deployments: dict[str, str], hooks: list[Injector]
) -> ControlPlane:
    """The rest of the control plane, read for `revision`, once istiod and the injectors (which
    name the revision tags) were listed and the cluster's revision chosen from them."""
    facts = ControlPlane(istiod=pods, deployments=deployments, revisions=revisions(pods, deployments))
    # The reads do not depend on each other: all at once, so that the run waits one round trip
    # for them, not eight (at 100 ms from the API server, 0.7 s of every run).
    reads: list[Callable[[], Any]] = [
        lambda: mesh_config(cluster, revision),
        lambda: istio_namespace(cluster),
        lambda: injector_network(cluster, revision),
        lambda: root_ca(cluster, facts),
        lambda: signing_chain(cluster),
        lambda: destination_rules(cluster),
        lambda: gateways.find(cluster),
        lambda: gateways.cross_network(cluster),
    ]
    mesh, namespace, install, _, chain, rules, found, cross = at_once(reads)
    facts.mesh_config, facts.trust_domain, facts.mesh_id, facts.declared_gateways = mesh
    facts.network_label, facts.control_plane_clusters = namespace
    facts.install_network = install
    facts.network = facts.network_label or facts.install_network
    facts.signing_chain, facts.signing_chain_note = chain
    facts.injectors = hooks
    facts.destination_rules = rules
    facts.gateways = gateways.named(cluster, found, facts.declared_gateways)
    facts.cross_network_gateways = cross
    if facts.control_plane_clusters and not pods:  # a remote: what stands in for its istiod
        facts.istiod_service = remote_control.istiod_service(cluster, revision)
    elif pods or deployments:  # a primary: where it exposes istiod to remotes
        facts.istiod_gateway = remote_control.istiod_gateway(cluster, facts.gateways)
    return facts


def mesh_config(
    cluster: Cluster, revision: str
) -> tuple[str | None, str | None, str | None, list[DeclaredGateway]]:
    """(ConfigMap name, trustDomain, meshId, meshNetworks' gateways); Istio defaults trustDomain to
    cluster.local and meshId to the trust domain when unset. meshNetworks sits beside `mesh` in the
    same ConfigMap (istio-discovery chart, templates/configmap.yaml)."""
    found = _first_configmap(cluster, [_revisioned("istio", revision), "istio"])
    if found is None:
        return None, None, None, []
    name, data = found
    mesh = yaml.load(data.get("mesh") or "", Loader=SAFE_LOADER) or {}
    trust_domain = str(mesh.get("trustDomain") or "cluster.local")
    mesh_id = str((mesh.get("defaultConfig") or {}).get("meshId") or trust_domain)
    return name, trust_domain, mesh_id, gateways.declared(data.get("meshNetworks") or "")


def _revisioned(base: str, revision: str) -> str:
    """The name a revisioned istio-discovery chart gives an object: BASE-REV, or BASE for `default`."""
    return base if revision == DEFAULT_REVISION else f"{base}-{revision}"


def _first_configmap(cluster: Cluster, names: list[str]) -> tuple[str, dict[str, str]] | None:
    """(name, data) of the first of `names` that exists in istio-system (each asked once)."""
    for name in dict.fromkeys(names):
        try:
            cm = cluster.read(
                f"GET configmap {ISTIO_NS}/{name}", cluster.core.read_namespaced_config_map, name, ISTIO_NS
            )
        except errors.NotFound:
            continue
        return name, cm.get("data") or {}
    return None


def network(cluster: Cluster, revision: str) -> str | None:
    """The network istiod puts this cluster on: istio-system's label, else the install's."""
    return network_label(cluster) or injector_network(cluster, revision)


def istio_namespace(cluster: Cluster) -> tuple[str | None, str | None]:
    """(network label, controlPlaneClusters annotation) of istio-system, in one GET."""
    ns = cluster.read(f"GET namespace {ISTIO_NS}", cluster.core.read_namespace, ISTIO_NS)
    meta = ns.get("metadata", {})
    label = (meta.get("labels") or {}).get(NETWORK_LABEL)
    primaries = (meta.get("annotations") or {}).get(CONTROL_PLANE_CLUSTERS)
    return (str(label) if label else None), (str(primaries) if primaries else None)


def network_label(cluster: Cluster) -> str | None:
    """The istio-system label istiod reads (pilot/pkg/serviceregistry/kube/controller/network.go
    setNetworkFromNamespace); the network then falls back to the injector's values.global.network,
    the network its sidecars declare (pkg/kube/inject extractClusterAndNetwork), which is how Istio
    before 1.10 (the guide's ASM 1.6.8 and 1.7) put clusters on networks."""
    ns = cluster.read(f"GET namespace {ISTIO_NS}", cluster.core.read_namespace, ISTIO_NS)
    labelled = (ns.get("metadata", {}).get("labels") or {}).get(NETWORK_LABEL)
    return str(labelled) if labelled else None


def injector_network(cluster: Cluster, revision: str) -> str | None:
    """values.global.network of ConfigMap istio-sidecar-injector[-REV] key `values` (JSON)."""
    found = _first_configmap(cluster, [_revisioned("istio-sidecar-injector", revision)])
    if found is None:
        return None
    try:
        values = yaml.load(found[1].get("values") or "", Loader=SAFE_LOADER) or {}
    except yaml.YAMLError:
        return None
    glob = values.get("global") if isinstance(values, dict) else None
    found = glob.get("network") if isinstance(glob, dict) else None  # a hand-edited value may be anything
    return str(found) if found else None


def root_ca(cluster: Cluster, facts: ControlPlane) -> None:
    """Every root of istio-ca-root-cert's root-cert.pem (a bundle: see trust.py)."""
    try:
        cm = cluster.read(
            f"GET configmap {ISTIO_NS}/istio-ca-root-cert",
            cluster.core.read_namespaced_config_map,
            "istio-ca-root-cert",
            ISTIO_NS,
        )
    except errors.NotFound:
        facts.root_ca_configmap = False
        return
    facts.root_ca_configmap = True
    try:
        roots = trust.certs((cm.get("data") or {}).get("root-cert.pem") or "")
    except ValueError:  # no PEM certificate in it: root_ca stays None
        return
    facts.root_cas = [trust.fingerprint(r) for r in roots]
    facts.root_pems = [r.public_bytes(serialization.Encoding.PEM).decode() for r in roots]
    facts.root_ca = facts.root_cas[0]
    distinct = list(dict.fromkeys(facts.root_cas))
    if len(distinct) > 1:
        facts.root_note = (
            f"root-cert.pem holds {len(distinct)} roots ({', '.join(f[:23] for f in distinct)}): "
            "a root rotation in progress (old and new root trusted side by side)"
        )


def signing_chain(cluster: Cluster) -> tuple[list[str], str]:
    """The plugged-in CA's chain (Secret istio-system/cacerts cert-chain.pem, signing CA first):
    what every workload certificate of the cluster is followed by. Only the public certificates
    are kept: the Secret's ca-key.pem arrives with it and is dropped here, never decoded."""
    where = f"Secret {ISTIO_NS}/cacerts"
    try:
        secret = cluster.read(
            f"GET secret {ISTIO_NS}/cacerts", cluster.core.read_namespaced_secret, "cacerts", ISTIO_NS
        )
    except errors.NotFound:
        return [], f"no {where} (Mesh CA or istiod's own CA): trust judged by the root bundles"
    except errors.KubeError as exc:
        return [], f"{where} could not be read ({exc.reason or exc}): trust judged by the root bundles"
    data = secret.get("data") or {}
    for key in ("cert-chain.pem", "ca-cert.pem"):
        try:
            chain = trust.certs(base64.b64decode(data.get(key) or "").decode("ascii", "replace"))
        except ValueError:
            continue
        pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in chain]
        return pems, f"{where} {key}"
    return [], f"{where} holds no certificate chain: trust judged by the root bundles"


def injectors(cluster: Cluster) -> list[Injector]:
    listing = cluster.read(
        "LIST mutatingwebhookconfigurations", cluster.admission.list_mutating_webhook_configuration
    )
    found = []
    for item in listing.get("items") or []:
        labels = item.get("metadata", {}).get("labels") or {}
        name = item["metadata"]["name"]
        if REV_LABEL not in labels and not name.startswith("istio-sidecar-injector"):
            continue
        hooks = [_webhook(w) for w in item.get("webhooks") or []]
        tag = str(labels[TAG_LABEL]) if labels.get(TAG_LABEL) else None
        found.append(Injector(name=name, revision=revision_of(item), webhooks=hooks, tag=tag))
    return found


def _webhook(w: Obj) -> Webhook:
    config = w.get("clientConfig") or {}
    service = config.get("service") or {}
    return Webhook(
        str(w.get("name", "")),
        w.get("namespaceSelector"),
        w.get("objectSelector"),
        _calls(w),
        url=str(config["url"]) if config.get("url") else None,
        path=str(service["path"]) if service.get("path") else None,
        port=int(service["port"]) if service.get("port") else None,
    )


def _calls(hook: Obj) -> str | None:
    config = hook.get("clientConfig") or {}
    service = (config.get("service") or {}).get("name")
    return str(service) if service else (str(config["url"]) if config.get("url") else None)


def destination_rules(cluster: Cluster) -> list[DestinationRule]:
    """DestinationRules in every namespace; only used to explain where traffic went."""
    try:
        listing = cluster.read(
            "LIST destinationrules",
            cluster.custom.list_cluster_custom_object,
            "networking.istio.io",
            "v1beta1",
            "destinationrules",
        )
    except (errors.NotFound, errors.Forbidden):
        return []
    return [_destination_rule(item) for item in listing.get("items") or []]


def _destination_rule(item: dict[str, Any]) -> DestinationRule:
    spec = item.get("spec") or {}
    policy = spec.get("trafficPolicy") or {}
    lb = policy.get("loadBalancer") or {}
    return DestinationRule(
        namespace=item["metadata"].get("namespace", ""),
        name=item["metadata"]["name"],
        host=str(spec.get("host", "")),
        locality_lb="localityLbSetting" in lb,
        outlier_detection="outlierDetection" in policy,
        locality_disabled=(lb.get("localityLbSetting") or {}).get("enabled") is False,
        tls_mode=(policy.get("tls") or {}).get("mode"),
    )
