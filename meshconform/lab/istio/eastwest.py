"""The east-west gateway a multi-network install adds to each cluster (`--lab-networks N`, N > 1).

Istio's multi-network guide installs it with `samples/multicluster/gen-eastwest-gateway.sh
--network NET | istioctl install -f -`: an ingressGateways component `istio-eastwestgateway`
labelled istio=eastwestgateway, app=istio-eastwestgateway and topology.istio.io/network=NET (the
label istiod looks for on a Service to learn a network's gateway), env ISTIO_META_ROUTER_MODE
sni-dnat and ISTIO_META_REQUESTED_NETWORK_VIEW, Service ports status-port 15021, mtls 15443,
tcp-istiod 15012, tcp-webhook 15017; then `samples/multicluster/expose-services.yaml`, a Gateway
`cross-network-gateway` passing *.local through on 15443 (AUTO_PASSTHROUGH). Object shapes follow
the gateways chart (manifests/charts/gateways/istio-ingress/templates/service.yaml,
deployment.yaml): the Service's labels are the gateway labels plus release, istio.io/rev and the
operator's labels; its selector is the gateway labels.

The Service is type LoadBalancer; the cloud's load-balancer controller fills
status.loadBalancer.ingress later, which `ingress_status` stands in for, with an address from
TEST-NET-3 (203.0.113.0/24, RFC 5737), never routable outside the lab. istiod publishes that
address as the remote network's endpoint (istio/eds.py), and the gateway's SNI routing carries the
call on to a pod of its network (traffic/envoy.py).

Faults: ew-gateway-pending:C (the load balancer never gets an address: no status written),
no-cross-network-gateway:C (expose-services.yaml was never applied in C).
"""

from __future__ import annotations

from typing import Any

from . import meshconfig
from . import revisions as rv

Obj = dict[str, Any]
NAME = "istio-eastwestgateway"
NETWORK_LABEL = "topology.istio.io/network"
GATEWAY_KIND = "gateways.networking.istio.io"
PORTS = (("status-port", 15021), ("mtls", 15443), ("tcp-istiod", 15012), ("tcp-webhook", 15017))


def gateway_labels(network: str) -> dict[str, str]:
    return {"istio": "eastwestgateway", "app": NAME, NETWORK_LABEL: network}


def _labels(network: str, revision: str) -> dict[str, str]:
    return {
        **gateway_labels(network),
        "release": "istio",
        "istio.io/rev": rv.label(revision),
        "install.operator.istio.io/owning-resource": "unknown",
        "operator.istio.io/component": "IngressGateways",
    }


def service(network: str, revision: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": rv.ISTIO_NS, "labels": _labels(network, revision)},
        "spec": {
            "type": "LoadBalancer",
            "selector": gateway_labels(network),
            "ports": [{"name": n, "port": p, "targetPort": p, "protocol": "TCP"} for n, p in PORTS],
        },
    }


def address(index: int) -> str:
    """The load-balancer address the gateway of the lab's cluster number `index` (from 0) gets."""
    return f"203.0.113.{10 + index}"


def ingress_status(svc: Obj, index: int) -> Obj:
    """What the cloud's load-balancer controller writes once the address is allocated."""
    out = {k: v for k, v in svc.items() if k != "status"}
    out["status"] = {"loadBalancer": {"ingress": [{"ip": address(index)}]}}
    return out


def deployment(mesh_values: meshconfig.MeshValues, rp: meshconfig.RevisionPlan) -> Obj:
    pod_labels = {
        **gateway_labels(mesh_values.network),
        "sidecar.istio.io/inject": "false",
        "service.istio.io/canonical-name": NAME,
    }
    container = {
        "name": "istio-proxy",
        "image": rv.proxy_image(rp.proxy_tag),
        "args": [
            "proxy",
            "router",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
            "--serviceCluster",
            NAME,
        ],
        "ports": [{"containerPort": p, "protocol": "TCP"} for _, p in PORTS]
        + [{"containerPort": 15090, "protocol": "TCP", "name": "http-envoy-prom"}],
        "env": [
            {"name": "ISTIO_META_ROUTER_MODE", "value": "sni-dnat"},
            {"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": mesh_values.network},
            {"name": "ISTIO_META_NETWORK", "value": mesh_values.network},
            {"name": "ISTIO_META_CLUSTER_ID", "value": mesh_values.cluster},
            {"name": "CA_ADDR", "value": f"{rv.istiod(rp.revision)}.{rv.ISTIO_NS}.svc:15012"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "initialDelaySeconds": 1,
            "periodSeconds": 2,
            "failureThreshold": 30,
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": NAME, "namespace": rv.ISTIO_NS, "labels": _labels(mesh_values.network, rp.revision)
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": gateway_labels(mesh_values.network)},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {"sidecar.istio.io/inject": "false"}},
                "spec": {"serviceAccountName": f"{NAME}-service-account", "containers": [container]},
            },
        },
    }


def service_account() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": f"{NAME}-service-account", "namespace": rv.ISTIO_NS, "labels": {"app": NAME}},
    }


def cross_network_gateway() -> Obj:
    """samples/multicluster/expose-services.yaml."""
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "Gateway",
        "metadata": {"name": "cross-network-gateway", "namespace": rv.ISTIO_NS},
        "spec": {
            "selector": {"istio": "eastwestgateway"},
            "servers": [
                {
                    "port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                    "tls": {"mode": "AUTO_PASSTHROUGH"},
                    "hosts": ["*.local"],
                }
            ],
        },
    }


def objects(
    mesh_values: meshconfig.MeshValues, rp: meshconfig.RevisionPlan, without_gateway: bool = False
) -> list[tuple[str, Obj]]:
    """In install order; the Service's address comes after, from `ingress_status`."""
    made: list[tuple[str, Obj]] = [
        ("serviceaccounts", service_account()),
        ("deployments.apps", deployment(mesh_values, rp)),
        ("services", service(mesh_values.network, rp.revision)),
    ]
    return made if without_gateway else [*made, (GATEWAY_KIND, cross_network_gateway())]


def passes_through(cluster_gateways: list[Obj]) -> bool:
    """Whether a Gateway selecting istio=eastwestgateway opens 15443 in AUTO_PASSTHROUGH for *.local
    hosts: without it the gateway's Envoy has no listener there (sni-dnat builds its listeners from
    Gateways only), and calls from other networks are refused."""
    for gw in cluster_gateways:
        spec = gw.get("spec") or {}
        if (spec.get("selector") or {}).get("istio") != "eastwestgateway":
            continue
        for server in spec.get("servers") or []:
            port = int((server.get("port") or {}).get("number", 0))
            mode = (server.get("tls") or {}).get("mode")
            hosts = server.get("hosts") or []
            if port == 15443 and mode == "AUTO_PASSTHROUGH" and any(h in ("*", "*.local") for h in hosts):
                return True
    return False
