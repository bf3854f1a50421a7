"""Fault effects: where each fault of the check catalogue bends the simulated mesh, and nothing else.

Every fault changes one fact of a healthy mesh; its consequences are then whatever the simulation
makes of that fact, as on a real cluster. Where each is applied:
  install plan (istio/plan.py)        revision-mismatch, old-istiod, proxy-outdated, root-ca-mismatch,
                                      root-rotation, root-rotation-incomplete, trust-domain-mismatch,
                                      multi-network, wrong-network, proxy-network-unset,
                                      ew-gateway-pending and no-cross-network-gateway (istio/eastwest.py),
                                      remote-injector-dead-istiod (the remote's istiod address)
  install (istio/__init__.py)         istiod-not-exposed (expose-istiod.yaml not applied on a primary)
  join (istio/remote_secret_exchange) no-secret, stale-secret, duplicate-cluster-name,
                                      remote-no-secret (no primary holds the remote's secret)
  start (@effect, below)              webhook-missing, reader-rbac-missing, istiod-reader-rbac-missing,
                                      kubernetes-version-unsupported (LabCluster.set_release),
                                      stale-injector, locality-lb,
                                      slow-start, telemetry-off (a Telemetry resource in istio-system),
                                      outside-cluster (its workloads; apiserver/lab_cluster.py adds
                                      the cluster, istio/remote_secret_exchange.py joins it),
                                      version-mislabel (an admission hook), tls-disabled,
                                      permissive-default (Istio objects), trust-domain-migration
                                      (mesh configs edited after istiod started)
  kubelet behaviour (below)           istiod-down (discovery crash-loops), an istiod whose account
                                      may not read the cluster never gets Ready, proxy-not-ready (istio-proxy
                                      never passes its readiness probe), mdp-down (the managed data
                                      plane controller crash-loops), cni-node-not-ready (install-cni
                                      on the first node never ready; the DaemonSet counts it)
  managed install (istio/__init__.py) revision-stalled (ControlPlaneRevision Stalled),
                                      multicluster-mode-missing (asm-options without the key);
                                      eds.connected_peers: fleet-discovery-broken (declares connected,
                                      not discovered);
                                      join: secrets-under-td (secrets left in a TRAFFIC_DIRECTOR cluster)
  run time                            api-unreachable-from (istio/multicluster.py: B's istiod cannot
                                      dial A), hello-errors, hello-localhost, partition, skew,
                                      port-15443-closed,
                                      sidecar-bypass (traffic/)
  HTTP middleware (apiserver/)        api-down, flaky-api
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import yaml

from .apiserver.lab_cluster import LabCluster
from .apiserver.store import AdmissionRequest, clone
from .controllers import of as controllers_of
from .controllers.kit import try_create
from .controllers.podstatus import CRASHLOOP, NEVER_READY
from .faults import Fault, effect
from .istio import kube_support, state
from .istio import managed_control_plane as managed
from .istio import revisions as rv
from .istio.objects import MWC, RBAC

Obj = dict[str, Any]
SLOW_START = 12.0        # slow-start: pods take 12x the ready delay (0.3s -> 3.6s): slow, within a timeout
SLOW_START_MIN = 3.0     # seconds, whatever the ready delay
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", rv.ISTIO_NS)


def _cluster(lab: Any, fault: Fault) -> LabCluster:
    return lab.clusters[fault.args[0]]         # type: ignore[no-any-return]


def _revisions(cluster: LabCluster) -> list[str]:
    return state.of(cluster).revision_names


# -- kubelet behaviours ------------------------------------------------------------------------------
def _istiod(pod: Obj) -> bool:
    meta = pod["metadata"]
    return meta.get("namespace") == rv.ISTIO_NS and (meta.get("labels") or {}).get("app") == "istiod"


def istiod_down(cluster: LabCluster, pod: Obj, container: Obj) -> str | None:
    if (
        _istiod(pod)
        and container.get("name") == "discovery"
        and cluster.faults.touches("istiod-down", cluster.name)
    ):
        return CRASHLOOP
    return None


def istiod_cannot_read(cluster: LabCluster, pod: Obj, container: Obj) -> str | None:
    """istiod's informers list and watch the whole cluster through its own account (istiod-<rev>,
    bound by ClusterRoleBinding istiod-clusterrole-<rev>-istio-system in the istio-discovery chart's
    clusterrolebinding.yaml). Without that binding every list is Forbidden, the caches never sync,
    and its readiness probe (/ready on 8080, pilot/pkg/bootstrap/server.go: ready once the caches
    synced) never passes: the pod stays 0/1 Running."""
    if not (_istiod(pod) and container.get("name") == "discovery"):
        return None
    revision = (pod["metadata"].get("labels") or {}).get("istio.io/rev", "default")
    if cluster.store.find(f"clusterrolebindings.{RBAC}", None, rv.istiod_role(revision)) is not None:
        return None
    account = pod["spec"].get("serviceAccountName") or rv.istiod(revision)
    state.of(cluster).log(revision).forbidden(f"system:serviceaccount:{rv.ISTIO_NS}:{account}")
    return NEVER_READY


def proxy_not_ready(cluster: LabCluster, pod: Obj, container: Obj) -> str | None:
    if container.get("name") == "istio-proxy" and cluster.faults.touches("proxy-not-ready", cluster.name):
        return NEVER_READY
    return None


def mdp_down(cluster: LabCluster, pod: Obj, container: Obj) -> str | None:
    labels = pod["metadata"].get("labels") or {}
    if labels.get("app") == managed.MDP and cluster.faults.touches("mdp-down", cluster.name):
        return CRASHLOOP
    return None


def cni_not_ready(cluster: LabCluster, pod: Obj, container: Obj) -> str | None:
    """install-cni on the cluster's first node never reports ready (its plugin not installed)."""
    labels = pod["metadata"].get("labels") or {}
    if labels.get("k8s-app") != managed.CNI or not cluster.faults.touches("cni-node-not-ready", cluster.name):
        return None
    nodes = sorted(n["metadata"]["name"] for n in cluster.store.iter("nodes"))
    return NEVER_READY if nodes and pod["spec"].get("nodeName") == nodes[0] else None


def install(lab: Any) -> None:
    """Before istio's install creates istiod pods: the container behaviours of the kubelet faults."""
    for cluster in lab.clusters.values():
        kubelet = controllers_of(cluster).kubelet
        for hook in (istiod_down, istiod_cannot_read, proxy_not_ready, mdp_down, cni_not_ready):
            if hook not in kubelet.behaviours:
                kubelet.behaviours.append(hook)


# -- start-time effects --------------------------------------------------------------------------------
@effect("webhook-missing")
def remove_injector_webhook(lab: Any, fault: Fault) -> None:
    """The revision's MutatingWebhookConfiguration is gone: pods in C come up without a sidecar."""
    cluster = _cluster(lab, fault)
    for rev in _revisions(cluster):
        if cluster.store.find(MWC, None, rv.injector(rev)) is not None:
            cluster.store.delete(MWC, None, rv.injector(rev))


@effect("reader-rbac-missing")
def remove_reader_binding(lab: Any, fault: Fault) -> None:
    """A's istio-reader ClusterRoleBinding is gone: the reader token authenticates but may not list."""
    cluster = _cluster(lab, fault)
    for rev in _revisions(cluster):
        if cluster.store.find(f"clusterrolebindings.{RBAC}", None, rv.reader_role(rev)) is not None:
            cluster.store.delete(f"clusterrolebindings.{RBAC}", None, rv.reader_role(rev))


@effect("istiod-reader-rbac-missing")
def remove_istiod_binding(lab: Any, fault: Fault) -> None:
    """The newest revision's istiod in C started without its ClusterRoleBinding (a hand-rolled or
    half-applied install): its pods are recreated so that they start without it, as they would have.
    Why not istio-reader-clusterrole-<rev>: every revision's reader binding grants the one shared
    istio-reader-service-account, so an older revision's binding masks the newest one's absence
    (reader-rbac-missing removes them all); istiod-<rev>'s own binding is the one nothing else grants."""
    cluster = _cluster(lab, fault)
    newest = max(state.of(cluster).revisions, key=lambda rp: _version_key(rp.pilot_tag)).revision
    cluster.store.delete(f"clusterrolebindings.{RBAC}", None, rv.istiod_role(newest))
    label = rv.label(newest)
    for pod in [p for p in cluster.store.iter("pods", rv.ISTIO_NS) if _istiod(p)]:
        if (pod["metadata"].get("labels") or {}).get("istio.io/rev") == label:
            cluster.store.delete("pods", rv.ISTIO_NS, pod["metadata"]["name"])


def _version_key(tag: str) -> tuple[int, ...]:
    """1.29.5-asm.1 -> (1, 29, 5); an unversioned tag (latest, a digest) counts as newest."""
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", tag)
    return tuple(int(x) for x in m.groups()) if m else (99, 0, 0)


@effect("kubernetes-version-unsupported")
def unsupported_kubernetes(lab: Any, fault: Fault) -> None:
    """C runs a Kubernetes release its newest revision does not support: /version and every
    node's kubeletVersion say so (a node-pool and control-plane upgrade past the mesh, or a mesh
    installed on a cluster too old for it)."""
    cluster = _cluster(lab, fault)
    cluster.set_release(kube_support.unsupported_for(rp.pilot_tag for rp in state.of(cluster).revisions))


@effect("stale-injector")
def stale_injector(lab: Any, fault: Fault) -> None:
    """C's injector renders with values left from the previous control plane (an older revision)."""
    cluster = _cluster(lab, fault)
    rev = _revisions(cluster)[0]
    cm = cluster.store.find("configmaps", rv.ISTIO_NS, rv.injector(rev))
    if cm is None:
        return
    new = clone(cm)
    values = json.loads(new["data"]["values"])
    stale = rv.stale_for(rev)
    values["revision"] = stale
    values.setdefault("global", {})["tag"] = rv.version(stale)
    new["data"]["values"] = json.dumps(values, indent=2, sort_keys=True)
    new["metadata"].pop("resourceVersion", None)
    cluster.store.update("configmaps", new)


@effect("tag-relabelled")
def relabel_tag(lab: Any, fault: Fault) -> None:
    """C's revision tags were moved by hand (`kubectl label mutatingwebhookconfiguration
    istio-revision-tag-TAG istio.io/rev=OTHER --overwrite`) instead of `istioctl tag set TAG
    --revision OTHER --overwrite`: the label names another revision than the istiod its webhooks
    still call, so pods get the revision the label does not say."""
    cluster = _cluster(lab, fault)
    for tag, rev in state.of(cluster).tags.items():
        other = next(r for r in _revisions(cluster) if r != rev)
        hook = clone(cluster.store.get(MWC, None, rv.tag_webhook(tag)))
        hook["metadata"]["labels"]["istio.io/rev"] = rv.label(other)
        hook["metadata"].pop("resourceVersion", None)
        cluster.store.update(MWC, hook)


def locality_rule(namespace: str) -> Obj:
    """Istio's locality-failover DestinationRule (localityLbSetting needs outlierDetection to act)."""
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": f"helloworld-{namespace}", "namespace": rv.ISTIO_NS},
        "spec": {
            "host": f"helloworld.{namespace}.svc.cluster.local",
            "trafficPolicy": {
                "connectionPool": {"http": {"maxRequestsPerConnection": 1}},
                "loadBalancer": {"simple": "ROUND_ROBIN", "localityLbSetting": {"enabled": True}},
                "outlierDetection": {"consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "1m"},
            },
        },
    }


@effect("locality-lb")
def locality_lb(lab: Any, fault: Fault) -> None:
    """Every cluster carries a locality DestinationRule for helloworld in each app namespace."""
    dr = "destinationrules.networking.istio.io"
    for cluster in lab.clusters.values():
        store = cluster.store

        def add(ns: str, store: Any = store) -> None:
            if ns not in SYSTEM_NAMESPACES and store.find(dr, rv.ISTIO_NS, f"helloworld-{ns}") is None:
                try_create(store, dr, locality_rule(ns))

        def on_event(kind: str, res: str, obj: Obj, old: Obj | None, add: Any = add) -> None:
            if res == "namespaces" and kind == "ADDED":  # after the event, not inside it
                asyncio.get_running_loop().call_soon(add, obj["metadata"]["name"])

        add("sample")
        store.subscribe(on_event)


@effect("slow-start")
def slow_start(lab: Any, fault: Fault) -> None:
    """Pods take several seconds to become ready (still well within a normal wait)."""
    for cluster in lab.clusters.values():
        kubelet = controllers_of(cluster).kubelet
        kubelet.slowdown = max(
            SLOW_START, SLOW_START_MIN / kubelet.ready_delay if kubelet.ready_delay else 1.0
        )


def telemetry_off_resource() -> Obj:
    """What an operator writes to stop request metrics mesh-wide (Istio's "Telemetry API" task,
    istio.io/latest/docs/tasks/observability/telemetry/: disable metrics with overrides)."""
    return {
        "apiVersion": "telemetry.istio.io/v1alpha1",
        "kind": "Telemetry",
        "metadata": {"name": "mesh-default", "namespace": rv.ISTIO_NS},
        "spec": {
            "metrics": [
                {
                    "providers": [{"name": "prometheus"}],
                    "overrides": [{"match": {"metric": "ALL_METRICS", "mode": "CLIENT_AND_SERVER"},
                                   "disabled": True}],
                }
            ]
        },
    }


@effect("telemetry-off")
def telemetry_off(lab: Any, fault: Fault) -> None:
    """C's root namespace holds a Telemetry that disables every Prometheus metric of its proxies."""
    try_create(_cluster(lab, fault).store, "telemetries.telemetry.istio.io", telemetry_off_resource())


OUTSIDE_NAMESPACE = "sample"  # the namespace the guide (and the suite by default) uses


def outside_workloads(version: str, revision: str) -> list[tuple[str, Obj]]:
    """helloworld as the guide deploys it, left running in a cluster of the mesh: its Service and a
    Deployment whose pods say `version` (samples/helloworld/helloworld.yaml)."""
    labels = {"app": "helloworld", "version": version}
    ns = OUTSIDE_NAMESPACE
    return [
        ("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": ns, "labels": {"istio.io/rev": revision}}}),
        ("services", {"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": "helloworld", "namespace": ns, "labels": {"app": "helloworld"}},
                      "spec": {"ports": [{"port": 5000, "name": "http"}],
                               "selector": {"app": "helloworld"}}}),
        ("deployments.apps", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"helloworld-{version}", "namespace": ns, "labels": dict(labels)},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": dict(labels)},
                "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{
                    "name": "helloworld", "image": f"docker.io/istio/examples-helloworld-{version}",
                    "ports": [{"containerPort": 5000}]}]}},
            },
        }),
    ]


@effect("outside-cluster")
def outside_cluster(lab: Any, fault: Fault) -> None:
    """A cluster of the mesh the suite is not given serves helloworld in the guide's namespace,
    with the version of the named cluster: a leftover of an earlier test, or another team's."""
    version = f"v{list(lab.clusters).index(fault.args[0]) + 1}"
    for c in lab.clusters.values():
        if c.outside:
            for res, obj in outside_workloads(version, _revisions(c)[0]):
                try_create(c.store, res, obj)


@effect("version-mislabel")
def version_mislabel(lab: Any, fault: Fault) -> None:
    """A mutating admission policy left in C (a Kyverno mutate rule of another team's test, say) pins
    SERVICE_VERSION of every app=helloworld container to the version of the next cluster: C's pods
    keep their version label and answer as another cluster's version (samples/helloworld/src/app.py
    reports SERVICE_VERSION). The suite sees it only in the answers and the pods."""
    cluster = _cluster(lab, fault)
    names = [n for n, c in lab.clusters.items() if not c.outside]
    lie = f"v{(names.index(cluster.name) + 1) % len(names) + 1}"

    def admit(req: AdmissionRequest) -> Obj | None:
        labels = (req.obj.get("metadata") or {}).get("labels") or {}
        if req.res != "pods" or req.operation != "CREATE" or labels.get("app") != "helloworld":
            return None
        pod = clone(req.obj)
        for c in pod["spec"].get("containers") or []:
            if c.get("name") == "helloworld":
                env = [e for e in c.get("env") or [] if e.get("name") != "SERVICE_VERSION"]
                c["env"] = [*env, {"name": "SERVICE_VERSION", "value": lie}]
        return pod

    cluster.store.admission.append(admit)


def mtls_off_rule() -> Obj:
    """How Istio 1.4 and earlier turned mutual TLS off mesh-wide ("Mutual TLS Migration" and the
    `values.global.mtls.enabled=false` install, istio.io/v1.4/docs/tasks/security/authentication/):
    a DestinationRule `default` in the root namespace for every host, tls mode DISABLE. Left in
    place through upgrades, it makes every sidecar of the cluster send plain text."""
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "default", "namespace": rv.ISTIO_NS},
        "spec": {"host": "*.local", "trafficPolicy": {"tls": {"mode": "DISABLE"}}},
    }


@effect("tls-disabled")
def tls_disabled(lab: Any, fault: Fault) -> None:
    """C's istio-system keeps the pre-1.5 mesh-wide DestinationRule that disables mTLS: C's sidecars
    send plain text to every other sidecar (traffic/envoy.py decides what the servers make of it)."""
    try_create(_cluster(lab, fault).store, "destinationrules.networking.istio.io", mtls_off_rule())


PEER_AUTHN = "peerauthentications.security.istio.io"


def permissive_policy(namespace: str) -> Obj:
    """The namespace-wide PeerAuthentication a platform's namespace provisioning adds to every new
    namespace (a Kyverno generate rule, say): PERMISSIVE, named `default` as Istio's docs name theirs."""
    return {
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "namespace-provisioner"}},
        "spec": {"mtls": {"mode": "PERMISSIVE"}},
    }


@effect("permissive-default")
def permissive_default(lab: Any, fault: Fault) -> None:
    """Every namespace created in C gets a PERMISSIVE `default` PeerAuthentication at once. A later
    `default` (the run's STRICT one) is refused as AlreadyExists; one under another name is younger,
    and Istio applies the oldest namespace-wide policy (pilot/pkg/security/authn
    ComposePeerAuthentication)."""
    store = _cluster(lab, fault).store

    def add(ns: str) -> None:
        if ns not in SYSTEM_NAMESPACES and store.find(PEER_AUTHN, ns, "default") is None:
            try_create(store, PEER_AUTHN, permissive_policy(ns))

    def on_event(kind: str, res: str, obj: Obj, old: Obj | None) -> None:
        if res == "namespaces" and kind == "ADDED":  # after the event, not inside it
            asyncio.get_running_loop().call_soon(add, obj["metadata"]["name"])

    store.subscribe(on_event)


NEW_TRUST_DOMAIN = "new-td.example.com"


@effect("trust-domain-migration")
def trust_domain_migration(lab: Any, fault: Fault) -> None:
    """Step one of Istio's trust domain migration (istio.io/latest/docs/tasks/security/authorization/
    authz-td-migration/) done in every cluster, the istiods not restarted: each mesh config says the
    new trustDomain, with the old one as an alias. An istiod before 1.11 goes on signing the old one
    (traffic/envoy.signing_domain), so new pods carry identities of a trust domain the mesh config no
    longer names; the aliases keep the calls working."""
    for cluster in lab.clusters.values():
        for rev in _revisions(cluster):
            cm = cluster.store.find("configmaps", rv.ISTIO_NS, rv.mesh_configmap(rev))
            if cm is None:
                continue
            new = clone(cm)
            mesh = yaml.safe_load(new["data"]["mesh"]) or {}
            old = mesh.get("trustDomain") or "cluster.local"
            mesh["trustDomain"], mesh["trustDomainAliases"] = NEW_TRUST_DOMAIN, [old]
            new["data"]["mesh"] = yaml.safe_dump(mesh, sort_keys=True)
            new["metadata"].pop("resourceVersion", None)
            cluster.store.update("configmaps", new)
