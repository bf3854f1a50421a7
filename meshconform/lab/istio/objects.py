"""What `istioctl install` (ASM 1.7, revisioned, multi-primary) leaves in a cluster, object by object.

Shapes from the istio-discovery chart of that era (templates/deployment.yaml, service.yaml,
mutatingwebhook.yaml, configmap.yaml, reader-clusterrole*.yaml) and the base chart: istiod-<rev>
Deployment (labels app=istiod, istio=istiod, istio.io/rev; container `discovery`), Service
istiod-<rev>, mesh and injector ConfigMaps, the revision's MutatingWebhookConfiguration with the
apiserver's defaults filled in (matchPolicy, objectSelector {}, timeoutSeconds, reinvocationPolicy,
port 443), istio-reader-service-account with its ClusterRole/Binding, the `cacerts` plug-in CA
Secret and the Istio CRDs. istio-system carries topology.istio.io/network.
"""

from __future__ import annotations

import base64
from typing import Any

from ..resources import RESOURCES
from . import meshconfig as mc
from . import revisions as rv
from .pki import Intermediate

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
MWC = "mutatingwebhookconfigurations.admissionregistration.k8s.io"
READER_SA = "istio-reader-service-account"
NETWORK_LABEL = "topology.istio.io/network"


def _labels(rev: str, **extra: str) -> dict[str, str]:
    return {
        "app": "istiod",
        "istio.io/rev": rv.label(rev),
        "install.operator.istio.io/owning-resource": "unknown",
        "operator.istio.io/component": "Pilot",
        "release": "istio",
        **extra,
    }


def namespace(network: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": rv.ISTIO_NS, "labels": {NETWORK_LABEL: network}},
    }


def deployment(facts: mc.MeshFacts, rp: mc.RevisionPlan) -> Obj:
    rev = rp.revision
    env: list[Obj] = [
        {"name": "REVISION", "value": rv.label(rev)},
        {"name": "JWT_POLICY", "value": "third-party-jwt"},
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
    ]
    env += [
        {"name": n, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": p}}}
        for n, p in (
            ("POD_NAME", "metadata.name"),
            ("POD_NAMESPACE", "metadata.namespace"),
            ("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        )
    ]
    env += [
        {"name": "KUBECONFIG", "value": "/var/run/secrets/remote/config"},
        {"name": "PILOT_ENABLE_PROTOCOL_SNIFFING_FOR_OUTBOUND", "value": "true"},
        {"name": "PILOT_ENABLE_PROTOCOL_SNIFFING_FOR_INBOUND", "value": "true"},
        {"name": "ISTIOD_ADDR", "value": f"{rv.istiod(rev)}.{rv.ISTIO_NS}.svc:15012"},
        {"name": "PILOT_ENABLE_ANALYSIS", "value": "false"},
        {"name": "CLUSTER_ID", "value": facts.cluster},
    ]
    container = {
        "name": "discovery",
        "image": rv.pilot_image(rp.pilot_tag),
        "args": [
            "discovery",
            "--monitoringAddr=:15014",
            "--log_output_level=default:info",
            "--domain",
            "cluster.local",
            "--keepaliveMaxServerConnectionAge",
            "30m",
        ],
        "ports": [{"containerPort": p, "protocol": "TCP"} for p in (8080, 15010, 15017)],
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
            "initialDelaySeconds": 1,
            "periodSeconds": 3,
            "timeoutSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "env": env,
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}},
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "runAsUser": 1337,
            "runAsGroup": 1337,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "istio-token", "mountPath": "/var/run/secrets/tokens", "readOnly": True},
            {"name": "local-certs", "mountPath": "/var/run/secrets/istio-dns"},
            {"name": "cacerts", "mountPath": "/etc/cacerts", "readOnly": True},
            {"name": "istio-kubeconfig", "mountPath": "/var/run/secrets/remote", "readOnly": True},
        ],
    }
    volumes = [
        {"name": "local-certs", "emptyDir": {"medium": "Memory"}},
        {
            "name": "istio-token",
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": "istio-ca",
                            "expirationSeconds": 43200,
                            "path": "istio-token",
                        }
                    }
                ]
            },
        },
        {"name": "cacerts", "secret": {"secretName": "cacerts", "optional": True}},
        {"name": "istio-kubeconfig", "secret": {"secretName": "istio-kubeconfig", "optional": True}},
    ]
    pod_labels = _labels(rev, istio="istiod" if rev not in ("", "default") else "pilot")
    pod_labels["sidecar.istio.io/inject"] = "false"
    pod_labels.pop("release")
    selector = {"app": "istiod", "istio.io/rev": rv.label(rev)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": rv.istiod(rev), "namespace": rv.ISTIO_NS, "labels": _labels(rev, istio="pilot")},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/port": "15014",
                        "prometheus.io/scrape": "true",
                        "sidecar.istio.io/inject": "false",
                    },
                },
                "spec": {
                    "serviceAccountName": rv.istiod(rev),
                    "securityContext": {"fsGroup": 1337},
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def service(rev: str) -> Obj:
    ports = [
        ("grpc-xds", 15010, 15010),
        ("https-dns", 15012, 15012),
        ("https-webhook", 443, 15017),
        ("http-monitoring", 15014, 15014),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": rv.istiod(rev), "namespace": rv.ISTIO_NS, "labels": _labels(rev, istio="pilot")},
        "spec": {
            "ports": [{"name": n, "port": p, "targetPort": t, "protocol": "TCP"} for n, p, t in ports],
            "selector": {"app": "istiod", "istio.io/rev": rv.label(rev)},
        },
    }


def webhook(rev: str, ca_bundle: str) -> Obj:
    if rev in ("", "default"):
        ns_selector: Obj = {"matchLabels": {"istio-injection": "enabled"}}
    else:
        ns_selector = {
            "matchExpressions": [
                {"key": "istio-injection", "operator": "DoesNotExist"},
                {"key": "istio.io/rev", "operator": "In", "values": [rev]},
            ]
        }
    hook = {
        "name": "sidecar-injector.istio.io",
        "clientConfig": {
            "service": {"name": rv.istiod(rev), "namespace": rv.ISTIO_NS, "path": "/inject", "port": 443},
            "caBundle": base64.b64encode(ca_bundle.encode()).decode(),
        },
        "rules": [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "scope": "*",
            }
        ],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": ns_selector,
        "objectSelector": {},
        "sideEffects": "None",
        "timeoutSeconds": 10,
        "admissionReviewVersions": ["v1beta1", "v1"],
        "reinvocationPolicy": "Never",
    }
    labels = {
        "app": "sidecar-injector",
        "istio.io/rev": rv.label(rev),
        "release": "istio",
        "install.operator.istio.io/owning-resource": "unknown",
        "operator.istio.io/component": "Pilot",
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": rv.injector(rev), "labels": labels},
        "webhooks": [hook],
    }


def configmaps(facts: mc.MeshFacts, rp: mc.RevisionPlan) -> list[Obj]:
    rev = rp.revision
    labels = {
        "istio.io/rev": rv.label(rev),
        "install.operator.istio.io/owning-resource": "unknown",
        "operator.istio.io/component": "Pilot",
        "release": "istio",
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": rv.mesh_configmap(rev), "namespace": rv.ISTIO_NS, "labels": labels},
            "data": {"mesh": mc.mesh(facts, rev), "meshNetworks": mc.mesh_networks(facts)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": rv.injector(rev), "namespace": rv.ISTIO_NS, "labels": labels},
            "data": {"config": mc.injector_config(), "values": mc.injector_values(facts, rp)},
        },
    ]


def rbac(rev: str) -> list[tuple[str, Obj]]:
    """istiod's own role and the reader role remote istiods use (reader-clusterrole.yaml)."""
    reader_rules = [
        {
            "apiGroups": [
                "config.istio.io",
                "security.istio.io",
                "networking.istio.io",
                "authentication.istio.io",
                "rbac.istio.io",
            ],
            "resources": ["*"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": [""],
            "resources": [
                "endpoints",
                "pods",
                "services",
                "nodes",
                "replicationcontrollers",
                "namespaces",
                "secrets",
            ],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["networking.istio.io"],
            "verbs": ["get", "watch", "list"],
            "resources": ["workloadentries"],
        },
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
    ]
    istiod_rules = [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["create", "get", "list", "watch", "update"],
        },
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations"],
            "verbs": ["get", "list", "watch", "update", "patch"],
        },
    ]
    out: list[tuple[str, Obj]] = []
    for name, rules, sa in (
        (rv.reader_role(rev), reader_rules, READER_SA),
        (rv.istiod_role(rev), istiod_rules, rv.istiod(rev)),
    ):
        labels = {"app": "istio-reader" if sa == READER_SA else "istiod", "release": "istio"}
        out.append(
            (
                f"clusterroles.{RBAC}",
                {
                    "apiVersion": f"{RBAC}/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": name, "labels": labels},
                    "rules": rules,
                },
            )
        )
        out.append(
            (
                f"clusterrolebindings.{RBAC}",
                {
                    "apiVersion": f"{RBAC}/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": name, "labels": labels},
                    "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
                    "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": rv.ISTIO_NS}],
                },
            )
        )
    out.append(
        (
            "serviceaccounts",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": rv.istiod(rev),
                    "namespace": rv.ISTIO_NS,
                    "labels": {"app": "istiod", "release": "istio"},
                },
            },
        )
    )
    return out


def reader_account() -> list[tuple[str, Obj]]:
    """The reader ServiceAccount with its legacy token Secret (what istioctl 1.7 reads the token from)."""
    token = f"{READER_SA}-token-mcl4b"
    return [
        (
            "serviceaccounts",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": READER_SA,
                    "namespace": rv.ISTIO_NS,
                    "labels": {"app": "istio-reader", "release": "istio"},
                },
                "secrets": [{"name": token}],
            },
        ),
        (
            "secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/service-account-token",
                "metadata": {
                    "name": token,
                    "namespace": rv.ISTIO_NS,
                    "annotations": {"kubernetes.io/service-account.name": READER_SA},
                },
            },
        ),
    ]


def cacerts(ca: Intermediate) -> Obj:
    data = {
        "ca-cert.pem": ca.cert_pem,
        "ca-key.pem": ca.key_pem,
        "root-cert.pem": ca.root_pem,
        "cert-chain.pem": ca.chain_pem,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "cacerts", "namespace": rv.ISTIO_NS},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def crds() -> list[Obj]:
    out = []
    for r in RESOURCES:
        if not r.group.endswith("istio.io"):
            continue
        versions = [
            {
                "name": v,
                "served": True,
                "storage": i == len(r.versions) - 1,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
                "subresources": {"status": {}},
            }
            for i, v in enumerate(r.versions)
        ]
        names = {
            "kind": r.kind,
            "listKind": f"{r.kind}List",
            "plural": r.plural,
            "singular": r.singular,
            "categories": list(r.categories),
            **({"shortNames": list(r.short_names)} if r.short_names else {}),
        }
        out.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {
                    "name": f"{r.plural}.{r.group}",
                    "labels": {"app": "istio-pilot", "release": "istio"},
                },
                "spec": {"group": r.group, "names": names, "scope": "Namespaced", "versions": versions},
                "status": {
                    "acceptedNames": names,
                    "storedVersions": [r.versions[-1]],
                    "conditions": [
                        {
                            "type": "Established",
                            "status": "True",
                            "reason": "InitialNamesAccepted",
                            "message": "the initial names have been accepted",
                        }
                    ],
                },
            }
        )
    return out
