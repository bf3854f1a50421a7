"""How a remote cluster reaches its primary's istiod, and how a primary exposes it: Istio's
primary-remote model, read through the API.

Istio's "Install Primary-Remote" (istio.io/latest/docs/setup/install/multicluster/primary-remote/,
and "... on different networks", primary-remote_multi-network/) installs istiod in the primary
only. The primary exposes istiod through its east-west gateway (samples/multicluster/
gen-eastwest-gateway.sh: a LoadBalancer Service with ports 15012 tls-istiod and 15017
tls-webhook) and a Gateway `istiod-gateway` passing both through (samples/multicluster/
expose-istiod.yaml: servers 15012 and 15017, protocol tls, tls.mode PASSTHROUGH, hosts "*").
The remote's istio-system is annotated topology.istio.io/controlPlaneClusters=<primary> and
installed with the remote profile (istio-discovery chart with istiodRemote.enabled, formerly the
istiod-remote chart): no istiod, but
- a selector-less Service istiod[-REV] (ports 15012, and 443 -> 15017) that leads to
  global.remotePilotAddress, the primary's east-west gateway address: an ExternalName for a host
  name, else Endpoints (istiod-remote chart, endpoints.yaml) or an EndpointSlice
  (istio-discovery chart 1.24+, remote-istiod-endpointslices.yaml) holding that IP on 15012 and
  15017. Proxies of the remote dial istiod.istio-system.svc:15012 for discovery;
- MutatingWebhookConfiguration istio-sidecar-injector[-REV] whose clientConfig is either a url
  (istiodRemote.injectionURL, e.g. https://ADDR:15017/inject/cluster/C/net/N, the external control
  plane's form) or that Service with path istiodRemote.injectionPath, /inject/cluster/C/net/N
  (istio-discovery chart templates/mutatingwebhook.yaml, Istio 1.31 dev tree).
The remote's secret goes into the primary only (istioctl create-remote-secret --context=REMOTE
--name=C | kubectl apply --context=PRIMARY). This module reads the objects; checks/remotes.py judges.
"""

from __future__ import annotations

from typing import Any

from meshconform.kube import errors
from meshconform.kube.client import Cluster, Obj
from meshconform.mesh import gateways
from meshconform.mesh.facts import IstiodService, NetworkGateway

ISTIO_NS = "istio-system"
XDS_PORT = 15012  # istiod's xDS and CA port (tls-istiod)
WEBHOOK_PORT = 15017  # istiod's injection webhook port (tls-webhook)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def service_name(revision: str) -> str:
    """The chart names the Service istiod, or istiod-REV for a revisioned install."""
    return "istiod" if revision in ("", "default") else f"istiod-{revision}"


def istiod_service(cluster: Cluster, revision: str) -> IstiodService:
    """The remote's Service istiod[-REV] and the addresses it leads to."""
    name = service_name(revision)
    fact = IstiodService(name=name)
    try:
        svc = cluster.read(
            f"GET service {ISTIO_NS}/{name}", cluster.core.read_namespaced_service, name, ISTIO_NS
        )
    except errors.NotFound:
        return fact
    spec = svc.get("spec") or {}
    fact.present = True
    fact.service_type = str(spec.get("type") or "ClusterIP")
    fact.external_name = str(spec["externalName"]) if spec.get("externalName") else None
    ports = spec.get("ports") or []
    fact.ports = [int(p["port"]) for p in ports if p.get("port")]
    fact.webhook_target = next((_target(p) for p in ports if p.get("port") == 443), None)
    _endpoints(cluster, name, fact)
    return fact


def _target(port: dict[str, Any]) -> int:
    target = str(port.get("targetPort") or port["port"])
    return int(target) if target.isdigit() else int(port["port"])  # a named targetPort: the port


def _endpoints(cluster: Cluster, name: str, fact: IstiodService) -> None:
    """Endpoints and EndpointSlices of the Service: the chart writes one or the other."""
    addresses: list[str] = []
    ports: list[int] = []
    try:
        ep = cluster.read(
            f"GET endpoints {ISTIO_NS}/{name}", cluster.core.read_namespaced_endpoints, name, ISTIO_NS
        )
        for subset in ep.get("subsets") or []:
            addresses += [str(a["ip"]) for a in subset.get("addresses") or [] if a.get("ip")]
            ports += [int(p["port"]) for p in subset.get("ports") or [] if p.get("port")]
    except errors.NotFound:
        pass
    for item in _slices(cluster, name):
        for endpoint in item.get("endpoints") or []:
            addresses += [str(a) for a in endpoint.get("addresses") or []]
        ports += [int(p["port"]) for p in item.get("ports") or [] if p.get("port")]
    fact.addresses = list(dict.fromkeys(addresses))
    fact.endpoint_ports = sorted(set(ports))


def _slices(cluster: Cluster, name: str) -> list[Obj]:
    selector = f"{SERVICE_NAME_LABEL}={name}"
    try:
        listing = cluster.read(
            f"LIST endpointslices {ISTIO_NS} -l {selector}",
            cluster.custom.list_namespaced_custom_object,
            "discovery.k8s.io",
            "v1",
            ISTIO_NS,
            "endpointslices",
            label_selector=selector,
        )
    except (errors.NotFound, errors.Forbidden):  # no such API, or not ours to list: Endpoints decide
        return []
    return list(listing.get("items") or [])


def istiod_gateway(cluster: Cluster, found: list[NetworkGateway]) -> NetworkGateway | None:
    """The east-west gateway Service that exposes istiod: the network-labelled one already read,
    else istio-eastwestgateway by name (a one-network install need not label it)."""
    labelled = next((g for g in found if g.name == gateways.EAST_WEST), None)
    if labelled is not None:
        return labelled
    try:
        svc = cluster.read(
            f"GET service {ISTIO_NS}/{gateways.EAST_WEST}",
            cluster.core.read_namespaced_service,
            gateways.EAST_WEST,
            ISTIO_NS,
        )
    except errors.NotFound:
        return None
    return gateways.service_gateway(cluster, svc)
