"""Istio's primary-remote model: a remote cluster's objects, and the primary's istiod exposed to it.

A remote (istio.io "Install Primary-Remote", "... on different networks"; istio/istio 1.28.5) is
installed with `profile: remote`, `values.istiodRemote.injectionPath=/inject/cluster/<C>/net/<N>`
and `values.global.remotePilotAddress=<the primary's east-west gateway address>`. The
istio-discovery chart with istiodRemote.enabled (manifests/charts/istio-control/istio-discovery,
profile-remote.yaml: `configMap: false`, `omitSidecarInjectorConfigMap: true`) then renders no istiod
Deployment or selector Service, no `istio[-REV]` mesh ConfigMap and no injector ConfigMap; what it
renders is
- Service `istiod[-REV]` without a selector, ports tcp-istiod 15012 and tcp-webhook 443 -> 15017
  (templates/remote-istiod-service.yaml), and the address it points at: an EndpointSlice
  `istiod[-REV]` labelled kubernetes.io/service-name (remote-istiod-endpointslices.yaml, 1.28) or,
  before 1.28, Endpoints `istiod[-REV]` (remote-istiod-endpoints.yaml, 1.24 to 1.27), one address
  `remotePilotAddress`, ports tcp-istiod 15012 and tcp-webhook 15017;
- the injector MutatingWebhookConfiguration `istio-sidecar-injector[-REV]`, its clientConfig the
  service `istiod[-REV]` with path `injectionPath` (templates/mutatingwebhook.yaml): the API server
  calls the primary's istiod through that Service, and istiod takes `cluster` and `net` from the
  path as the sidecar's ISTIO_META_CLUSTER_ID and ISTIO_META_NETWORK (pkg/kube/inject/webhook.go
  parseInjectEnvs, URLParameterToEnv);
- the reader account and `istio-reader-clusterrole[-REV]-istio-system`, which under istiodRemote
  also lets the primary write ConfigMaps and patch webhooks (templates/reader-clusterrole.yaml);
  istiod's own ClusterRole is not rendered (clusterrole.yaml);
- istio-system annotated `topology.istio.io/controlPlaneClusters=<primary>`: the primary's istiod
  (EXTERNAL_ISTIOD=true, values.global.externalIstiod) leads that remote once it holds its secret
  (pilot/pkg/serviceregistry/kube/controller/multicluster.go checkShouldLead): it writes
  istio-ca-root-cert into its namespaces and patches its webhook's caBundle.
The primary exposes istiod on its east-west gateway (samples/multicluster/expose-istiod.yaml, or
expose-istiod-rev.yaml.tmpl for a revision): Gateway `istiod-gateway` passing TLS through on 15012
and 15017, VirtualService `istiod-vs[-REV]` routing SNI `istiod-REV.istio-system.svc` on 15012 to
istiod's 15012 and on 15017 to its 443. The remote's secret goes to the primary only
(`istioctl create-remote-secret --context=remote --name=cluster2 | kubectl apply --context=primary`).

Faults: remote-injector-dead-istiod:C (C's istiod Service points at an address no primary serves:
pod creation in an injected namespace fails, failurePolicy Fail), remote-no-secret:C (no primary
holds C's secret: C's endpoints are in no proxy's view; istio/remote_secret_exchange.py).
"""

from __future__ import annotations

from typing import Any

from ..apiserver.lab_cluster import LabCluster
from . import eastwest, objects, state, webhooks
from . import revisions as rv

Obj = dict[str, Any]
CONTROL_PLANE_CLUSTERS = "topology.istio.io/controlPlaneClusters"
GATEWAY_KIND = "gateways.networking.istio.io"
VS_KIND = "virtualservices.networking.istio.io"
ISTIOD_GATEWAY = "istiod-gateway"
ENDPOINTSLICES_SINCE = (1, 28)  # remote-istiod-endpointslices.yaml replaced remote-istiod-endpoints.yaml
ISTIOD_PORT, WEBHOOK_PORT = 15012, 15017
# TEST-NET-3 (RFC 5737), beside the gateways' 203.0.113.10+: nothing in the lab answers there.
DEAD_ADDRESS = "203.0.113.200"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# The samples say networking.istio.io/v1; the lab's API serves v1beta1 and v1alpha3 of that group
# (apiserver/resources.py), the same fields.
NETWORKING_VERSION = "networking.istio.io/v1beta1"


def injection_path(cluster: str, network: str) -> str:
    return f"/inject/cluster/{cluster}/net/{network}"


def _labels(rev: str) -> dict[str, str]:
    return {
        "istio.io/rev": rv.label(rev),
        "app.kubernetes.io/name": "istiod",
        "install.operator.istio.io/owning-resource": "unknown",
        "operator.istio.io/component": "Pilot",
        "release": "istio",
    }


def namespace(network: str, primary: str) -> Obj:
    ns = objects.namespace(network)
    ns["metadata"]["annotations"] = {CONTROL_PLANE_CLUSTERS: primary}
    return ns


def service(rev: str) -> Obj:
    """remote-istiod-service.yaml with an IP remotePilotAddress: no selector, no type (ClusterIP)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": rv.istiod(rev), "namespace": rv.ISTIO_NS, "labels": _labels(rev)},
        "spec": {
            "ports": [
                {"port": ISTIOD_PORT, "name": "tcp-istiod", "protocol": "TCP"},
                {"port": 443, "targetPort": WEBHOOK_PORT, "name": "tcp-webhook", "protocol": "TCP"},
            ]
        },
    }


def address_object(rev: str, address: str, tag: str) -> tuple[str, Obj]:
    """Where the Service points: an EndpointSlice from 1.28, Endpoints before."""
    ports = [
        {"port": ISTIOD_PORT, "name": "tcp-istiod", "protocol": "TCP"},
        {"port": WEBHOOK_PORT, "name": "tcp-webhook", "protocol": "TCP"},
    ]
    meta = {"name": rv.istiod(rev), "namespace": rv.ISTIO_NS, "labels": _labels(rev)}
    if rv.at_least(tag, ENDPOINTSLICES_SINCE):
        meta["labels"] = {
            SERVICE_NAME_LABEL: rv.istiod(rev),
            "endpointslice.kubernetes.io/managed-by": "Helm",
            **_labels(rev),
        }
        return "endpointslices.discovery.k8s.io", {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": meta,
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address]}],
            "ports": ports,
        }
    return "endpoints", {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": meta,
        "subsets": [{"addresses": [{"ip": address}], "ports": ports}],
    }


def webhook(rev: str, ca_bundle: str, tag: str, cluster: str, network: str) -> Obj:
    """The revision's injector webhook as the remote profile renders it: the in-cluster selectors,
    clientConfig.service istiod[-REV] with the remote's injectionPath."""
    made = objects.webhook(rev, ca_bundle, tag)
    made["metadata"]["labels"]["app.kubernetes.io/name"] = "istiod"
    for hook in made["webhooks"]:
        hook["clientConfig"]["service"]["path"] = injection_path(cluster, network)
    return made


def reader_rbac(rev: str, reader: list[tuple[str, Obj]]) -> list[tuple[str, Obj]]:
    """The reader ClusterRole and binding of access.rbac (not istiod's), with istiodRemote's rules."""
    out = []
    for res, obj in reader:
        if obj["metadata"]["name"] != rv.reader_role(rev):
            continue
        if obj.get("kind") == "ClusterRole":
            obj = {**obj, "rules": [*obj["rules"], *_REMOTE_RULES]}
        out.append((res, obj))
    return out


_REMOTE_RULES: list[Obj] = [
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "watch", "update"]},
    {
        "apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["mutatingwebhookconfigurations"],
        "verbs": ["get", "list", "watch", "update", "patch"],
    },
    {
        "apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["validatingwebhookconfigurations"],
        "verbs": ["get", "list", "watch", "update"],
    },
]


def istiod_gateway() -> Obj:
    """samples/multicluster/expose-istiod.yaml's Gateway (1.28.5)."""
    servers = [
        {
            "port": {"name": name, "number": port, "protocol": "tls"},
            "tls": {"mode": "PASSTHROUGH"},
            "hosts": ["*"],
        }
        for name, port in (("tls-istiod", ISTIOD_PORT), ("tls-istiodwebhook", WEBHOOK_PORT))
    ]
    return {
        "apiVersion": NETWORKING_VERSION,
        "kind": "Gateway",
        "metadata": {"name": ISTIOD_GATEWAY, "namespace": rv.ISTIO_NS},
        "spec": {"selector": {"istio": "eastwestgateway"}, "servers": servers},
    }


def istiod_virtual_service(rev: str) -> Obj:
    """expose-istiod.yaml's `istiod-vs` (any SNI), or expose-istiod-rev.yaml.tmpl's `istiod-vs-REV`
    (SNI istiod-REV.istio-system.svc[.cluster.local]) for a revision."""
    host = f"{rv.istiod(rev)}.{rv.ISTIO_NS}.svc"
    revisioned = rv.istiod(rev) != "istiod"
    sni = [host, f"{host}.cluster.local"] if revisioned else ["*"]
    routes = [
        {
            "match": [{"port": port, "sniHosts": sni}],
            "route": [{"destination": {"host": f"{host}.cluster.local", "port": {"number": target}}}],
        }
        for port, target in ((ISTIOD_PORT, ISTIOD_PORT), (WEBHOOK_PORT, 443))
    ]
    name = f"istiod-vs-{rev}" if revisioned else "istiod-vs"
    return {
        "apiVersion": NETWORKING_VERSION,
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": rv.ISTIO_NS},
        "spec": {"hosts": ["*"], "gateways": [ISTIOD_GATEWAY], "tls": routes},
    }


def exposed(revisions: list[str]) -> list[tuple[str, Obj]]:
    """What a primary applies to expose its istiod on the east-west gateway."""
    return [(GATEWAY_KIND, istiod_gateway()), *((VS_KIND, istiod_virtual_service(r)) for r in revisions)]


class DialFailed(Exception):
    """The address does not lead to a live istiod; the message is what the dialling client sees."""


def service_addresses(cluster: LabCluster, name: str) -> list[tuple[str, dict[str, int]]]:
    return webhooks.addresses(cluster.store, rv.ISTIO_NS, name)


def _gateway_at(origin: LabCluster, address: str, port: int) -> LabCluster | None:
    for c in (origin, *origin.peers.values()):
        svc = c.store.find("services", rv.ISTIO_NS, eastwest.NAME)
        ingress = (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ports = {int(p["port"]) for p in (svc or {}).get("spec", {}).get("ports") or []}
        if any(i.get("ip") == address for i in ingress) and port in ports:
            return c
    return None


def _passthrough(cluster: LabCluster, port: int) -> list[str]:
    """Names of the Gateways opening `port` in TLS PASSTHROUGH on the east-west gateway."""
    out = []
    for gw in cluster.store.iter(GATEWAY_KIND, rv.ISTIO_NS):
        spec = gw.get("spec") or {}
        if (spec.get("selector") or {}).get("istio") != "eastwestgateway":
            continue
        for server in spec.get("servers") or []:
            if int((server.get("port") or {}).get("number", 0)) == port and \
                    (server.get("tls") or {}).get("mode") == "PASSTHROUGH":
                out.append(str(gw["metadata"]["name"]))
    return out


def _routed(cluster: LabCluster, gateways: list[str], port: int, sni: str) -> str | None:
    """The istiod revision a VirtualService bound to `gateways` sends this SNI on `port` to."""
    suffix = f".{rv.ISTIO_NS}.svc.cluster.local"
    for vs in cluster.store.iter(VS_KIND, rv.ISTIO_NS):
        spec = vs.get("spec") or {}
        if not set(spec.get("gateways") or []) & set(gateways):
            continue
        for route in spec.get("tls") or []:
            if not any(int(m.get("port", 0)) == port and any(h in ("*", sni) for h in m.get("sniHosts") or [])
                       for m in route.get("match") or []):
                continue
            for dest in route.get("route") or []:
                host = str((dest.get("destination") or {}).get("host", ""))
                name = host.removesuffix(suffix)
                if host.endswith(suffix) and name.startswith("istiod"):
                    return name.removeprefix("istiod").removeprefix("-") or "default"
    return None


def reach_istiod(origin: LabCluster, address: str, port: int, sni: str) -> tuple[LabCluster, str]:
    """Follow a connection from `origin` to address:port (SNI `sni`) through an east-west gateway
    to an istiod: -> (its cluster, its revision), or DialFailed with what the client sees."""
    home = _gateway_at(origin, address, port)
    if home is None:
        raise DialFailed(f"dial tcp {address}:{port}: i/o timeout")
    ready = home.store.find("endpoints", rv.ISTIO_NS, eastwest.NAME)
    if not any(s.get("addresses") for s in (ready or {}).get("subsets") or []):
        raise DialFailed(f"dial tcp {address}:{port}: connect: connection refused")
    gateways = _passthrough(home, port)
    if not gateways:
        raise DialFailed(f"dial tcp {address}:{port}: connect: connection refused")  # no listener
    revision = _routed(home, gateways, port, sni)
    istiod = home.store.find("endpoints", rv.ISTIO_NS, rv.istiod(revision)) if revision else None
    if revision is None or not any(s.get("addresses") for s in (istiod or {}).get("subsets") or []):
        raise DialFailed("EOF")  # the gateway's Envoy closes a connection it has no upstream for
    return home, revision


def led(remote: LabCluster) -> bool:
    """Whether a primary's istiod leads this remote: a cluster its istio-system annotation names
    whose istiod has synced the remote through its secret (multicluster.go checkShouldLead; the
    lab's istiods all run EXTERNAL_ISTIOD). It then writes the remote's istio-ca-root-cert."""
    ns = remote.store.find("namespaces", None, rv.ISTIO_NS)
    named = str(((ns or {}).get("metadata", {}).get("annotations") or {}).get(CONTROL_PLANE_CLUSTERS, ""))
    for name in named.split(","):
        primary = remote.peers.get(name.strip())
        if primary is None:
            continue
        for ctl in state.of(primary).istiods.values():
            if any(rc.target is remote for rc in ctl.synced()):
                return True
    return False


def discovery(remote: LabCluster, revision: str) -> LabCluster | None:
    """The cluster whose istiod a remote's proxies of `revision` get their config from: the one its
    istiod[-REV] Service leads to on tcp-istiod (the proxy's discoveryAddress), or None."""
    for ip, ports in service_addresses(remote, rv.istiod(revision)):
        try:
            home, served = reach_istiod(
                remote, ip, ports.get("tcp-istiod", ISTIOD_PORT), f"{rv.istiod(revision)}.{rv.ISTIO_NS}.svc"
            )
        except DialFailed:
            continue
        if served == revision:
            return home
    return None
