"""What to do about each failing check, and where Istio's or ASM's documentation explains it.

A failure message says what is wrong and where; the hint adds the likely fix in general terms and
the documentation page a person would open next, as `istioctl analyze` gives a doc link per
message code and Linkerd's `check` a hint per failure. Each check also has an *area*, which says
which facts it judged (evidence.py) and which diagnostics are worth gathering when it fails
(mesh/diagnostics.py). Every URL is a published page of istio.io or cloud.google.com.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Area = Literal["reach", "control", "trust", "names", "join", "injection", "traffic"]


@dataclass(frozen=True)
class Doc:
    title: str
    url: str


@dataclass(frozen=True)
class Hint:
    area: Area
    fix: str
    docs: tuple[Doc, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        return {"fix": self.fix, "docs": [{"title": d.title, "url": d.url} for d in self.docs]}

    def line(self) -> str:
        """One line for a terminal or a JUnit message: the fix, then the first page."""
        return f"hint: {self.fix}" + (f" (see {self.docs[0].url})" if self.docs else "")


ISTIO = "https://istio.io/latest/docs"
VERIFY = Doc("Istio: Verify the multicluster installation", f"{ISTIO}/setup/install/multicluster/verify/")
MC_TROUBLESHOOT = Doc("Istio: Troubleshooting Multicluster", f"{ISTIO}/ops/diagnostic-tools/multicluster/")
MULTI_PRIMARY = Doc(
    "Istio: Install Multi-Primary (Enable Endpoint Discovery)",
    f"{ISTIO}/setup/install/multicluster/multi-primary/",
)
MULTI_NETWORK = Doc(
    "Istio: Install Multi-Primary on different networks",
    f"{ISTIO}/setup/install/multicluster/multi-primary_multi-network/",
)
PRIMARY_REMOTE = Doc(
    "Istio: Install Primary-Remote", f"{ISTIO}/setup/install/multicluster/primary-remote/"
)
PRIMARY_REMOTE_NETWORKS = Doc(
    "Istio: Install Primary-Remote on different networks",
    f"{ISTIO}/setup/install/multicluster/primary-remote_multi-network/",
)
BEFORE = Doc(
    "Istio: Multicluster, before you begin (API server access, trust)",
    f"{ISTIO}/setup/install/multicluster/before-you-begin/",
)
PLUGIN_CA = Doc("Istio: Plug in CA Certificates", f"{ISTIO}/tasks/security/cert-management/plugin-ca-cert/")
INJECTION = Doc("Istio: Sidecar Injection Problems", f"{ISTIO}/ops/common-problems/injection/")
PROXY_CMD = Doc("Istio: Debugging Envoy and Istiod", f"{ISTIO}/ops/diagnostic-tools/proxy-cmd/")
CANARY = Doc("Istio: Canary Upgrades (revisions)", f"{ISTIO}/setup/upgrade/canary/")
SUPPORTED = Doc("Istio: Supported Releases", f"{ISTIO}/releases/supported-releases/")
CSM_PLATFORMS = Doc(
    "Cloud Service Mesh: Supported platforms", "https://cloud.google.com/service-mesh/docs/supported-platforms"
)
LOCALITY = Doc("Istio: Locality Load Balancing", f"{ISTIO}/tasks/traffic-management/locality-load-balancing/")
ASM_MULTICLUSTER = Doc(
    "Cloud Service Mesh: Resolving multi-cluster issues",
    "https://cloud.google.com/service-mesh/docs/troubleshooting/troubleshoot-multi-cluster",
)
ASM_GKE_MULTICLUSTER = Doc(
    "Anthos Service Mesh 1.10: Set up a multi-cluster mesh on GKE (prerequisites)",
    "https://cloud.google.com/service-mesh/v1.10/docs/gke-install-multi-cluster",
)
CSM_PROVISION = Doc(
    "Cloud Service Mesh: Provision a managed control plane on GKE",
    "https://cloud.google.com/service-mesh/docs/onboarding/provision-control-plane",
)
CSM_MANAGED_TROUBLESHOOT = Doc(
    "Cloud Service Mesh: Resolving managed Cloud Service Mesh issues",
    "https://cloud.google.com/service-mesh/docs/troubleshooting/troubleshoot-managed-service-mesh",
)
CSM_MULTICLUSTER_MODE = Doc(
    "Cloud Service Mesh: Migrate from Istio secrets to multicluster_mode",
    "https://cloud.google.com/service-mesh/docs/migrate/modernization-configuration-updates",
)
GKE_KUBECTL = Doc(
    "GKE: Install kubectl and configure cluster access",
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl",
)

HINTS: dict[str, Hint] = {
    "test_api_server_answers": Hint(
        "reach",
        "nothing else can be checked in this cluster until its API server answers the context's "
        "credentials: 401/403: refresh the credentials (gcloud "
        "container clusters get-credentials); refused or timed out: fix the server address or the network "
        "path (authorized networks), the message's kubectl command shows what kubectl sees; 5xx: the "
        "control plane itself is unhealthy",
        (GKE_KUBECTL, BEFORE),
    ),
    "test_revision_everywhere": Hint(
        "control",
        "every cluster needs the same istiod revision, so that the namespace label istio.io/rev=REV injects "
        "the same proxies everywhere: install it (asmcli / istioctl --set revision=REV) or pass --revision",
        (CANARY, ASM_GKE_MULTICLUSTER),
    ),
    "test_managed_revision_ready": Hint(
        "control",
        "Google provisions a managed revision from the fleet: read the ControlPlaneRevision's conditions "
        "(kubectl -n istio-system describe controlplanerevision REV) and the fleet's state "
        "(gcloud container fleet mesh describe); a Stalled revision names its cause there",
        (CSM_PROVISION, CSM_MANAGED_TROUBLESHOOT),
    ),
    "test_managed_data_plane": Hint(
        "control",
        "the managed data plane needs mdp-controller and istio-cni-node Ready in kube-system: read their "
        "events (kubectl -n kube-system describe deployment mdp-controller, daemonset istio-cni-node); "
        "both need the node capacity Google's provisioning page lists",
        (CSM_PROVISION, CSM_MANAGED_TROUBLESHOOT),
    ),
    "test_endpoint_discovery_declared": Hint(
        "join",
        "declare endpoint discovery the same way in every cluster: multicluster_mode: connected in "
        "ConfigMap istio-system/asm-options of each, and no Istio remote secrets where the control plane "
        "is TRAFFIC_DIRECTOR",
        (CSM_MULTICLUSTER_MODE,),
    ),
    "test_istiod_ready": Hint(
        "control",
        "read istiod's events and log in the diagnostics; a crash at start is usually its mesh config "
        "or its CA certificates (cacerts)",
        (PROXY_CMD, PLUGIN_CA),
    ),
    "test_istiod_version": Hint(
        "control",
        "multi-cluster endpoint discovery as the guide sets it up needs 1.6.8 or later: upgrade with a "
        "canary revision and move the namespaces over",
        (ASM_GKE_MULTICLUSTER, CANARY),
    ),
    "test_kubernetes_version_supported": Hint(
        "control",
        "each Istio / Cloud Service Mesh minor supports a window of Kubernetes versions: upgrade the "
        "cluster or the mesh so that the pair is supported, one minor at a time",
        (SUPPORTED, CSM_PLATFORMS),
    ),
    "test_control_planes_within_one_minor": Hint(
        "control",
        "clusters of one mesh are upgraded one minor at a time: install the next minor as a canary "
        "revision in the cluster that lags, move its namespaces over, then continue",
        (SUPPORTED, CANARY),
    ),
    "test_proxies_within_skew": Hint(
        "injection",
        "a proxy may be one minor behind its istiod, never ahead: restart the workloads after the "
        "control plane upgrade (kubectl rollout restart deployment -n NS) so that they are injected anew",
        (SUPPORTED, CANARY),
    ),
    "test_root_ca_shared": Hint(
        "trust",
        "cross-cluster mTLS needs one root of trust: plug intermediate CAs signed by one root into Secret "
        "cacerts in istio-system of every cluster, then restart istiod and the workloads",
        (PLUGIN_CA, BEFORE),
    ),
    "test_trust_domain_and_mesh_id": Hint(
        "trust",
        "proxies accept identities of their own trust domain only, and one mesh ID joins the clusters: "
        "use the same meshConfig.trustDomain and values.global.meshID in every cluster",
        (MULTI_PRIMARY, BEFORE),
    ),
    "test_network_declared": Hint(
        "trust",
        "istiod puts a cluster's endpoints on the network of istio-system's topology.istio.io/network label, "
        "its sidecars on the install's values.global.network: give both, and the east-west gateway, the "
        "network the cluster's pods are really on",
        (MULTI_NETWORK, MULTI_PRIMARY),
    ),
    "test_east_west_gateway": Hint(
        "trust",
        "clusters on other networks reach this one only through an east-west gateway of its network: "
        "install it with samples/multicluster/gen-eastwest-gateway.sh --network NET and wait for the load "
        "balancer's address (kubectl -n istio-system get service istio-eastwestgateway); a NodePort or "
        "externally-fronted gateway is declared by address in mesh config meshNetworks instead",
        (MULTI_NETWORK, MC_TROUBLESHOOT),
    ),
    "test_cross_network_gateway": Hint(
        "trust",
        "the east-west gateway opens port 15443 only for a Gateway in AUTO_PASSTHROUGH mode: apply "
        "samples/multicluster/expose-services.yaml in istio-system",
        (MULTI_NETWORK, MC_TROUBLESHOOT),
    ),
    "test_sidecar_routes_networks_through_gateways": Hint(
        "traffic",
        "istiod sends a sidecar another network's endpoints as that network's gateway address: compare "
        "istioctl proxy-config endpoints of the sleep pod with the gateways' addresses, and check istiod's "
        "meshNetworks and the gateways' topology.istio.io/network labels",
        (MULTI_NETWORK, PROXY_CMD),
    ),
    "test_control_plane_exposed": Hint(
        "control",
        "remote clusters reach the primary's istiod through its east-west gateway: install it with "
        "samples/multicluster/gen-eastwest-gateway.sh, wait for its address, and apply "
        "samples/multicluster/expose-istiod.yaml (ports 15012 and 15017, tls PASSTHROUGH)",
        (PRIMARY_REMOTE, PRIMARY_REMOTE_NETWORKS),
    ),
    "test_remote_uses_primary": Hint(
        "control",
        "a remote's injector and discovery address come from its remote profile: reinstall it with "
        "global.remotePilotAddress set to the primary's east-west gateway address and "
        "istiodRemote.injectionPath=/inject/cluster/NAME/net/NETWORK, and annotate its istio-system "
        "with topology.istio.io/controlPlaneClusters=PRIMARY",
        (PRIMARY_REMOTE, PRIMARY_REMOTE_NETWORKS),
    ),
    "test_cluster_names_unique": Hint(
        "names",
        "give every cluster its own name: values.global.multiCluster.clusterName at install and the same "
        "value as --name of istioctl x create-remote-secret",
        (MULTI_PRIMARY, MC_TROUBLESHOOT),
    ),
    "test_remote_secret_present": Hint(
        "join",
        "until B holds A's remote secret, B's istiod knows no endpoint in A and calls from B never reach "
        "A's version (see the traffic matrix); once it is applied, istioctl remote-clusters in B lists A "
        "as synced",
        (MULTI_PRIMARY, ASM_MULTICLUSTER),
    ),
    "test_remote_secret_targets_cluster": Hint(
        "join",
        "recreate the secret so that its server and CA are A's current ones (--join replace, or "
        "create-remote-secret --server=URL when istiod reaches A at another address)",
        (MC_TROUBLESHOOT, ASM_MULTICLUSTER),
    ),
    "test_remote_secret_credentials": Hint(
        "join",
        "istiod in B watches A's pods, services and endpoint slices with this token: reinstall Istio's "
        "base RBAC in A (istio-reader-service-account and its ClusterRoleBinding), then recreate the secret",
        (MULTI_PRIMARY, MC_TROUBLESHOOT),
    ),
    "test_istiod_synced": Hint(
        "join",
        "istiod in B must reach A's API server from inside B: check the server in the secret, firewalls "
        "or authorized networks (private GKE clusters), and istiod's log in the diagnostics",
        (VERIFY, ASM_MULTICLUSTER),
    ),
    "test_sidecar_synced": Hint(
        "join",
        "a control plane sends a sidecar the other clusters' endpoints once it discovers them: "
        "with multicluster_mode: connected every cluster must be registered to the same fleet host "
        "project; with remote secrets its control plane (managed, or an istiod too old to report its "
        "sync) must reach the other API servers",
        (CSM_MULTICLUSTER_MODE, CSM_PROVISION, ASM_MULTICLUSTER),
    ),
    "test_injector_selects_namespace": Hint(
        "injection",
        "the revision needs its injector (MutatingWebhookConfiguration labelled istio.io/rev=REV; "
        "reinstall the revision if it is missing) and the namespace its label (kubectl label namespace NS "
        "istio.io/rev=REV istio-injection-); then restart the namespace's pods",
        (INJECTION, CANARY),
    ),
    "test_sample_pods_injected_and_ready": Hint(
        "injection",
        "read the pod events and the istio-proxy log in the diagnostics; a proxy that never gets ready "
        "usually cannot reach istiod or has no certificate yet",
        (INJECTION, PROXY_CMD),
    ),
    "test_injected_by_revision": Hint(
        "injection",
        "pods keep the proxy they were created with: remove an old revision's injector that still "
        "matches, or relabel the namespace, then restart them (kubectl rollout restart deployment -n NS) "
        "so that the revision's injector injects them",
        (CANARY, INJECTION),
    ),
    "test_hello_calls_succeed": Hint(
        "traffic",
        "compare the failed replies with the sidecar's endpoints in the diagnostics; errors with healthy "
        "endpoints point at mTLS (trust) or at the callee itself",
        (VERIFY, PROXY_CMD),
    ),
    "test_calls_reach_every_cluster": Hint(
        "traffic",
        "if the caller's sidecar lists no endpoint in the unreached cluster (see the diagnostics), "
        "endpoint discovery is broken (remote secret, istiod sync); if it lists healthy ones, pods cannot "
        "reach each other across clusters (firewall, routes) or a DestinationRule's localityLbSetting "
        "keeps calls local",
        (MC_TROUBLESHOOT, LOCALITY),
    ),
    "test_answers_come_from_this_run": Hint(
        "traffic",
        "a cluster of the mesh that the run was not given (or a leftover deployment) serves helloworld in "
        "the test namespace, and istiod merges it with ours; find it in the caller's endpoints (the "
        "diagnostics), remove it, or run with a --namespace of its own; a pod of the run that answers as "
        "another version has its SERVICE_VERSION or image rewritten: compare the pod with its Deployment",
        (MC_TROUBLESHOOT, VERIFY),
    ),
    "test_calls_arrive_over_mtls": Hint(
        "traffic",
        "the receiving sidecars did not count the calls as arriving over mutual TLS from the caller's "
        "sleep identity: in plaintext, a caller bypasses its sidecar (outbound interception) or a "
        "DestinationRule sets tls.mode DISABLE, and a PeerAuthentication other than the run's STRICT one "
        "lets it in; from another "
        "identity or none at all, the answers came from a pod or cluster not under test; unreadable, "
        "enable Istio's request metrics (Telemetry API) and grant pods/exec on the helloworld pods",
        (
            Doc("Istio: Standard Metrics", f"{ISTIO}/reference/config/metrics/"),
            Doc("Istio: Mutual TLS Migration", f"{ISTIO}/tasks/security/authentication/mtls-migration/"),
        ),
    ),
    "test_split_follows_replicas": Hint(
        "traffic",
        "locality load balancing or unhealthy endpoints skew the split; compare the sidecar's endpoints "
        "in the diagnostics with the replicas",
        (LOCALITY, MC_TROUBLESHOOT),
    ),
}


def hint_for(check: str) -> Hint | None:
    """The hint of a check by its name (`test_x`) or id (`test_x[target]`)."""
    return HINTS.get(check.split("[", 1)[0])


def area_of(check: str) -> Area | None:
    hint = hint_for(check)
    return hint.area if hint else None
