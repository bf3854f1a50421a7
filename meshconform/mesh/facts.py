"""What a run learned about the mesh, as plain dataclasses that round-trip through JSON.

The facts are gathered once per run (by one xdist worker, under a file lock) and every check
reads them, so they must survive a trip through a file. They never hold a token, a key or a
kubeconfig: where evidence needs one, a fingerprint stands in.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


@dataclass
class IstiodPod:
    name: str
    revision: str
    ready: bool
    phase: str
    image: str = ""
    version: str | None = None
    cluster_id: str | None = None
    state: str = ""  # as kubectl get pods shows it, e.g. `istiod-x 0/1 Running (discovery CrashLoopBackOff)`
    # Running but not Ready: the last Forbidden its discovery log shows (client-go's reflectors),
    # e.g. `services is forbidden: User "system:serviceaccount:istio-system:istiod-REV" cannot list ...`
    forbidden: str | None = None


@dataclass
class Webhook:
    name: str
    namespace_selector: dict[str, Any] | None = None
    object_selector: dict[str, Any] | None = None
    service: str | None = None  # clientConfig.service.name (the istiod it calls), or its url
    # clientConfig as written: a remote's injector calls its primary's istiod by url, or through a
    # selector-less Service istiod[-REV] by path (Istio's remote profile, istiodRemote.injectionPath)
    url: str | None = None
    path: str | None = None  # clientConfig.service.path
    port: int | None = None  # clientConfig.service.port (443 when unset)


@dataclass
class Injector:
    name: str
    revision: str
    webhooks: list[Webhook] = field(default_factory=list)
    tag: str | None = None  # label istio.io/tag: a revision tag's webhook (istioctl tag set TAG)


@dataclass
class InjectionLabel:
    """The label the run's namespace carries for injection, and why (meshconform/mesh/injection.py)."""

    labels: dict[str, str] = field(default_factory=dict)
    why: str = ""


@dataclass
class DestinationRule:
    namespace: str
    name: str
    host: str
    locality_lb: bool = False
    outlier_detection: bool = False
    locality_disabled: bool = False  # localityLbSetting.enabled: false
    tls_mode: str | None = None  # trafficPolicy.tls.mode: DISABLE makes the callers send plain text


@dataclass
class PeerAuthn:
    """A PeerAuthentication in the run's namespace, as istiod weighs it (mesh/peer_authn.py)."""

    name: str
    mode: str  # spec.mtls.mode; UNSET when absent
    selector: dict[str, str] = field(default_factory=dict)  # spec.selector.matchLabels
    created: str = ""  # metadata.creationTimestamp: the oldest of a level wins
    ours: bool = False  # labelled with this run's id


@dataclass
class IstiodService:
    """A remote cluster's Service istio-system/istiod[-REV] as Istio's remote profile makes it:
    no selector, ports 15012 (xDS) and 443 -> 15017 (the injector), and where it leads: an
    ExternalName (remotePilotAddress a host name) or Endpoints / an EndpointSlice holding
    remotePilotAddress (an IP). Proxies of the remote dial it for discovery; its webhook for
    injection (istio-discovery chart, remote-istiod-service.yaml, remote-istiod-endpointslices.yaml)."""

    name: str
    present: bool = False
    service_type: str = ""
    external_name: str | None = None
    ports: list[int] = field(default_factory=list)
    webhook_target: int | None = None  # the targetPort behind port 443 (15017 in the chart)
    addresses: list[str] = field(default_factory=list)  # from Endpoints and EndpointSlices
    endpoint_ports: list[int] = field(default_factory=list)


@dataclass
class NetworkGateway:
    """A Service in istio-system labelled topology.istio.io/network: how istiod finds the gateway
    that other networks reach this cluster's pods through (the east-west gateway)."""

    name: str
    network: str
    service_type: str = ""
    address: str | None = None  # status.loadBalancer.ingress[0] ip or hostname
    ports: list[int] = field(default_factory=list)
    ready_endpoints: int = 0
    traffic_port: int = 15443  # where other networks' calls enter (networking.istio.io/gatewayPort)
    selector: dict[str, str] = field(default_factory=dict)  # the Service's spec.selector: its pods' labels
    node_ports: list[int] = field(default_factory=list)  # spec.ports[].nodePort: behind a declared address
    # where the address or the network came from, when not the Service's own status and label: the
    # meshNetworks entry that names it (`meshNetworks of cluster-1: network2 gateway 192.0.2.7:31443`)
    declared: str | None = None


@dataclass
class DeclaredGateway:
    """A gateway that mesh config `meshNetworks` declares for a network (istio.mesh.v1alpha1
    Network.IstioNetworkGateway): an address istiod hands out as is, or a registryServiceName, a
    Service's FQDN whose own address istiod hands out."""

    network: str
    port: int
    address: str | None = None
    service: str | None = None


@dataclass
class GatewayServer:
    port: int
    protocol: str = ""
    tls_mode: str = ""
    hosts: list[str] = field(default_factory=list)


@dataclass
class CrossNetworkGateway:
    """A networking.istio.io Gateway in istio-system: how an east-west gateway is told to pass
    other networks' mTLS through to its pods (samples/multicluster/expose-services.yaml)."""

    name: str
    selector: dict[str, str] = field(default_factory=dict)
    servers: list[GatewayServer] = field(default_factory=list)


@dataclass
class Condition:
    """One entry of a ControlPlaneRevision's status.conditions, as the API gives it."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


@dataclass
class ManagedControlPlane:
    """What a cluster shows of Google's managed control plane (mesh/control_plane_kind.py)."""

    revisions: dict[str, list[Condition]] = field(default_factory=dict)  # ControlPlaneRevision -> conditions
    multicluster_mode: str | None = None  # asm-options ConfigMap key; None: no ConfigMap or key
    mdp_controller: str | None = None  # kube-system/mdp-controller "ready/desired", None: absent
    cni_node: str | None = None  # kube-system/istio-cni-node "ready/desired", None: absent
    cni_unready_nodes: list[str] = field(default_factory=list)  # where its pod is not Ready
    declared: str | None = None  # what --join create did to declare multicluster_mode, if anything


@dataclass
class ControlPlane:
    istiod: list[IstiodPod] = field(default_factory=list)
    deployments: dict[str, str] = field(default_factory=dict)  # istiod deployment -> revision
    revisions: list[str] = field(default_factory=list)
    mesh_config: str | None = None  # ConfigMap name it came from
    trust_domain: str | None = None
    mesh_id: str | None = None
    network: str | None = None  # the one istiod uses: istio-system's label, else the install's
    network_label: str | None = None  # istio-system's topology.istio.io/network
    install_network: str | None = None  # the injector's values.global.network: what sidecars declare
    # istio-system's topology.istio.io/controlPlaneClusters annotation: a remote cluster names the
    # primaries whose istiod controls it (Istio's "Install Primary-Remote")
    control_plane_clusters: str | None = None
    root_ca: str | None = None  # sha256 fingerprint of istio-ca-root-cert's first root
    # istio-ca-root-cert as read: True found (root_ca None then: it holds no PEM certificate),
    # False not found (istiod publishes it), None not read
    root_ca_configmap: bool | None = None
    root_cas: list[str] = field(default_factory=list)  # every root of root-cert.pem, file order
    root_pems: list[str] = field(default_factory=list)  # those roots (public certificates)
    root_note: str | None = None  # several roots: a rotation in progress
    signing_chain: list[str] = field(default_factory=list)  # cacerts cert-chain.pem, CA first
    signing_chain_note: str | None = None  # where it came from, or why it is unknown
    injectors: list[Injector] = field(default_factory=list)
    destination_rules: list[DestinationRule] = field(default_factory=list)
    gateways: list[NetworkGateway] = field(default_factory=list)
    declared_gateways: list[DeclaredGateway] = field(default_factory=list)  # the mesh config's meshNetworks
    # None: the API refused to list them
    cross_network_gateways: list[CrossNetworkGateway] | None = field(default_factory=list)
    # a remote's Service istiod[-REV] (read on remotes only: mesh/remote_control.py)
    istiod_service: IstiodService | None = None
    # the east-west gateway Service, labelled with a network or not (read on primaries): where a
    # primary exposes istiod to its remotes (samples/multicluster/expose-istiod.yaml)
    istiod_gateway: NetworkGateway | None = None


@dataclass
class PodFact:
    name: str
    app: str
    version: str | None
    phase: str
    ready: bool
    ready_containers: int
    total_containers: int
    has_proxy: bool
    injected_revision: str | None = None  # from the sidecar.istio.io/status annotation
    deleting: bool = False
    service_account: str | None = None  # spec.serviceAccountName: the pod's mTLS identity
    ip: str | None = None  # status.podIP
    proxy_image: str | None = None  # the injected istio-proxy's image; its tag is the proxy's version


@dataclass
class Workloads:
    namespace: str
    namespace_labels: dict[str, str] = field(default_factory=dict)
    template_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # deployment -> labels
    version: str = ""
    replicas: int = 0
    pods: list[PodFact] = field(default_factory=list)
    source_pod: str | None = None
    source_container: str | None = None
    problem: str | None = None  # rollout did not complete: why
    peer_authns: list[PeerAuthn] | None = None  # in the namespace; None: could not be listed
    server_mtls: PeerAuthn | None = None  # the policy istiod applies to helloworld; None: none (PERMISSIVE)


@dataclass
class RemoteSecret:
    """One remote secret as found in B's istio-system, and what was seen of it against A: its
    labels and keys, what its kubeconfig reached, the TLS handshake with the server it names, what
    its token may do in A. Gathering (mesh/secret_inspection.py) stops asking at the first thing
    seen that makes the next question moot; checks/join.py judges what was seen."""

    name: str
    cluster_ids: list[str] = field(default_factory=list)  # data keys
    present: bool = False
    ours: bool = False
    created_now: bool = False
    labelled: bool = False  # carries istio/multiCluster=true, the label istiod's informer selects on
    server: str | None = None
    ca_fingerprint: str | None = None
    token_fingerprint: str | None = None
    expected_server: str | None = None  # A's API server as the run knows it (--api-server, else context)
    kubeconfig_error: str | None = None  # why the kubeconfig under `cluster_id` could not be parsed
    # What the kubeconfig reached (cluster_identity.py): kube-system's UID read through its own
    # server, CA and token, or why it could not be read; A's UID through the user's context; the
    # run's cluster with that UID when it is not A.
    reached_uid: str | None = None
    reached_unknown: str | None = None
    expected_uid: str | None = None
    reached_other: str | None = None
    # A handshake with `server` trusting only the secret's CA, made where the UID did not settle it:
    # verified or not (None: not made) and the TLS error; or why the server did not answer here.
    ca_verified: bool | None = None
    ca_error: str | None = None
    server_unreachable: str | None = None  # a private endpoint: its CA cannot be checked from here
    auth: str | None = None  # how the kubeconfig authenticates: token, exec, auth-provider or none
    # What the token may do in A, asked where the kubeconfig was seen to lead to A: None when all
    # that istiod's informers need, "401" when A rejects it, else the first "VERB RESOURCE" denied.
    reader_denied: str | None = None
    # The user's server (an authenticating proxy) refused the token and the server the secret
    # names did not answer this machine either: why.
    reader_unreachable: str | None = None
    note: str | None = None
    cluster_id: str | None = None  # the data key whose kubeconfig is A's: the ID istiod gives A
    annotation: str | None = None  # the cluster annotation the tool that made it wrote, or "none"


@dataclass
class IstiodSync:
    """What one ready istiod of B said of the remote clusters it reads: `pilot-discovery request
    GET /debug/clusterz` (pilot/pkg/xds/debug.go -> ListRemoteClusters, entries of
    pkg/cluster/debug.go DebugInfo {id, secretName, syncStatus}), polled until they settled."""

    pod: str
    version: str | None = None  # the istiod's, which says whether it should serve the endpoint
    entries: list[dict[str, Any]] = field(default_factory=list)
    missing: bool = False  # answered 404 (printed with exit 0): it has no such endpoint
    error: str | None = None  # the exec failed, or what it printed was not the JSON list


@dataclass
class SecretClaim:
    """One data key of a remote secret in a cluster's istio-system: a cluster ID its istiod
    registers, and which cluster the kubeconfig under it reaches (the kube-system namespace's UID,
    read through the key's own server, CA and token)."""

    secret: str
    cluster_id: str
    server: str | None = None
    uid: str | None = None
    reaches: str | None = None  # the run's cluster with that UID, when it is one of them
    unknown: str | None = None  # why the UID could not be read through it


@dataclass
class ClusterFacts:
    name: str
    context: str
    server: str
    # What GET /version and a SelfSubjectAccessReview (list pods in istio-system) with the
    # context's own credentials showed (checks/cluster.py judges it):
    api_error: str | None = None  # the error that stopped them: the API server did not answer
    api_unauthorized: bool = False  # it answered 401 Unauthorized to the context's credentials
    api_denied: bool = False  # the review said the context may not list those pods
    server_version: str | None = None  # GET /version gitVersion, e.g. v1.33.5-gke.1080000
    control: ControlPlane | None = None
    managed: ManagedControlPlane | None = None  # None: no ControlPlaneRevision (an in-cluster istiod)
    remote_secret_ids: dict[str, list[str]] = field(default_factory=dict)  # secret -> cluster ids
    remote_secret_claims: list[SecretClaim] = field(default_factory=list)
    # The remote clusters istiod lists in /debug/clusterz (entries with a secret), by cluster ID;
    # None where it was not read (no ready istiod of the revision, or no such endpoint).
    istiod_remotes: list[str] | None = None
    uid: str | None = None  # kube-system's UID through the context: the cluster's identity
    istiod_sync: IstiodSync | None = None  # istiod's own view of its remote clusters (the sync stage)
    # The revision this cluster is judged against (mesh/revision_choice.py), the revision tag it was
    # named by, if any (--revision TAG), and why none could be chosen.
    revision: str | None = None
    tag: str | None = None
    revision_problem: str | None = None
    injection: InjectionLabel | None = None  # chosen from the revision's webhooks before deploying
    workloads: Workloads | None = None
    deployed: bool = False  # the deploy stage created the namespace and objects
    problems: dict[str, str] = field(default_factory=dict)  # stage -> error that stopped it

    @property
    def usable(self) -> bool:
        """Its API server answered the context's credentials and lets them read istio-system: the
        later stages gather here (and the checks judge why not where it did not)."""
        return not (self.api_error or self.api_unauthorized or self.api_denied)


@dataclass
class Tally:
    source: str
    calls: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_version: dict[str, int] = field(default_factory=dict)
    by_pod: dict[str, int] = field(default_factory=dict)
    pod_versions: dict[str, list[str]] = field(default_factory=dict)  # the versions each pod answered
    malformed: int = 0
    errors: list[str] = field(default_factory=list)
    exit_codes: list[int | None] = field(default_factory=list)
    takes: list[int] = field(default_factory=list)  # calls sent per take; the counts are the last take's

    @property
    def answered(self) -> int:
        return sum(self.by_version.values())


@dataclass
class TrafficPlan:
    """How many hello calls each source sends, and why (sampling.plan_calls)."""

    calls: int  # per source, in the first take
    floor: int  # --requests
    needed: int  # answered calls after which the smallest share cannot be missed by chance
    smallest_version: str = ""
    smallest_cluster: str = ""
    smallest_share: float = 0.0
    cells: int = 1  # sources x versions: the run's budgets are split over this many
    capped: bool = False  # needed more than MAX_CALLS: a miss may not be judged
    reason: str = ""  # the sentence the progress line, summary.json and report show


@dataclass
class Received:
    """Calls one server pod's sidecar counted between the readings before and after the traffic
    step (istio_requests_total, reporter="destination"), per caller as the sidecar saw it."""

    pod: str
    source_cluster: str  # the caller proxy's cluster ID; "unknown" without metadata exchange, "" unlabelled
    source_principal: str  # spiffe://<trust domain>/ns/<ns>/sa/<sa>, "unknown" in plain text
    security: str  # connection_security_policy: mutual_tls or none
    response_code: str
    calls: int


@dataclass
class ServerView:
    """What a cluster's helloworld sidecars counted during the traffic step, or why it is unknown."""

    pods: list[str] = field(default_factory=list)  # the pods read twice
    received: list[Received] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # pod -> why its stats could not be read
    telemetry_off: list[str] = field(default_factory=list)  # Telemetry resources that disable metrics
    execs: int = 0


@dataclass
class ProxyHost:
    address: str
    port: int
    weight: int = 1
    connect_failures: int = 0  # Envoy's cx_connect_fail for this host since the proxy started


@dataclass
class ProxyView:
    """The hosts a source sidecar's Envoy holds for helloworld (`pilot-agent request GET clusters`),
    or why they could not be read."""

    pod: str
    cluster_name: str  # outbound|5000||helloworld.NS.svc.cluster.local
    hosts: list[ProxyHost] = field(default_factory=list)
    problem: str | None = None


@dataclass
class MeshFacts:
    run_id: str
    namespace: str
    clusters: dict[str, ClusterFacts] = field(default_factory=dict)
    revision: str | None = None  # the one every cluster is judged against; None when they differ
    revision_problem: str | None = None
    pairs: dict[str, RemoteSecret] = field(default_factory=dict)  # "A->B"
    traffic: dict[str, Tally] = field(default_factory=dict)
    curl_errors: dict[str, str] = field(default_factory=dict)  # source -> why its curl could not run
    traffic_plan: TrafficPlan | None = None
    server_view: dict[str, ServerView] = field(default_factory=dict)  # by the receiving cluster
    # Clusters of the mesh the run was not given: cluster ID -> the clusters under test whose istiod
    # registers it (/debug/clusterz or a remote secret); mesh/membership.py.
    outside: dict[str, list[str]] = field(default_factory=dict)
    # by source cluster: on several networks, and where a managed control plane serves it
    proxy_views: dict[str, ProxyView] = field(default_factory=dict)
    api: dict[str, dict[str, Any]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    stages: list[str] = field(default_factory=list)  # the stages that gathered these facts, in order
    target_version: str | None = None  # --target-version X.Y: the release an upgrade is headed for

    def cluster(self, name: str) -> ClusterFacts:
        return self.clusters[name]

    @property
    def names(self) -> list[str]:
        return list(self.clusters)

    def revision_of(self, name: str) -> str | None:
        """The revision cluster `name` is judged against (its own, in a mesh mid-upgrade); facts
        that carry only the mesh-wide one (built by hand, or older) give that."""
        c = self.clusters[name]
        return c.revision or (None if c.revision_problem else self.revision)


def pair_id(source: str, target: str) -> str:
    """`A->B` means B discovers A: A's remote secret lives in B."""
    return f"{source}->{target}"


def split_pair(pair: str) -> tuple[str, str]:
    a, _, b = pair.partition("->")
    return a, b


# -- JSON round trip ------------------------------------------------------------------------------


def to_json(obj: Any) -> str:
    """Keys in insertion order, not sorted: MeshFacts.clusters is in --ctx order, which `names`,
    the reference cluster and the report keep (sorted, cluster-10 would come before cluster-2)."""
    # orjson walks the dataclasses itself, in C: json.dumps(asdict(...), indent=1) took 0.2 s a stage
    # at 20 clusters (700 kB of facts), pure Python because of the indentation.
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def from_json(cls: type[T], text: str) -> T:
    built: T = _build(cls, json.loads(text))
    return built


def load(cls: type[T], path: Path) -> T:
    return from_json(cls, path.read_text())


def _build(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(inner[0], data) if len(inner) == 1 else data
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = _hints(tp)
        return tp(
            **{f.name: _build(hints[f.name], data[f.name]) for f in dataclasses.fields(tp) if f.name in data}
        )
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_build(item, v) for v in data]
    if origin is dict:
        _, value = typing.get_args(tp)
        return {k: _build(value, v) for k, v in data.items()}
    return data


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    # get_type_hints evaluates every string annotation on each call: uncached it was most of the
    # ~45 ms that reading a 2-cluster run's facts took, and the report reads them several times.
    return typing.get_type_hints(tp)
