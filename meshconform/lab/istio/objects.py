"""What `istioctl install` (ASM 1.7, revisioned, multi-primary) leaves in a cluster, object by object.

Shapes from the istio-discovery chart of that era (templates/deployment.yaml, service.yaml,
mutatingwebhook.yaml, configmap.yaml, reader-clusterrole*.yaml) and the base chart: istiod-<rev>
Deployment (labels app=istiod, istio=istiod, istio.io/rev; container `discovery`), Service
istiod-<rev>, mesh and injector ConfigMaps, the revision's MutatingWebhookConfiguration with the
apiserver's defaults filled in (matchPolicy, objectSelector {}, timeoutSeconds, reinvocationPolicy,
port 443); istio-system carries topology.istio.io/network. RBAC, the reader account, `cacerts`
and the CRDs are in istio/access.py.
"""

from __future__ import annotations

import base64
from typing import Any

from . import meshconfig
from . import revisions as rv

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


def deployment(mesh_values: meshconfig.MeshValues, rp: meshconfig.RevisionPlan) -> Obj:
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
        {"name": "CLUSTER_ID", "value": mesh_values.cluster},
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


def _expr(key: str, operator: str, *values: str) -> Obj:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


def _legacy_selectors(rev: str) -> list[tuple[str, Obj, Obj]]:
    """Before Istio 1.10 (1.9 with its default useLegacySelectors: true): one webhook; a default
    revision selects `istio-injection: enabled` only, a named one `istio.io/rev In [rev]` with no
    istio-injection label. objectSelector.enabled is false by default, so the chart writes none
    and the apiserver defaults it to {}."""
    if rev in ("", "default"):
        return [("", {"matchLabels": {"istio-injection": "enabled"}}, {})]
    ns = {"matchExpressions": [_expr("istio-injection", "DoesNotExist"), _expr("istio.io/rev", "In", rev)]}
    return [("", ns, {})]


def _selectors(rev: str) -> list[tuple[str, Obj, Obj]]:
    """From Istio 1.10 (through 1.28): rev.namespace and rev.object for the revision (`default`
    for the default one), and for the default revision also namespace (istio-injection=enabled)
    and object (sidecar.istio.io/inject=true) webhooks."""
    label = rv.label(rev)
    not_off = _expr("sidecar.istio.io/inject", "NotIn", "false")
    out = [
        (
            "rev.namespace.",
            {
                "matchExpressions": [
                    _expr("istio.io/rev", "In", label),
                    _expr("istio-injection", "DoesNotExist"),
                ]
            },
            {"matchExpressions": [not_off]},
        ),
        (
            "rev.object.",
            {
                "matchExpressions": [
                    _expr("istio.io/rev", "DoesNotExist"),
                    _expr("istio-injection", "DoesNotExist"),
                ]
            },
            {"matchExpressions": [not_off, _expr("istio.io/rev", "In", label)]},
        ),
    ]
    if rev in ("", "default"):
        out += [
            (
                "namespace.",
                {"matchExpressions": [_expr("istio-injection", "In", "enabled")]},
                {"matchExpressions": [not_off]},
            ),
            (
                "object.",
                {
                    "matchExpressions": [
                        _expr("istio-injection", "DoesNotExist"),
                        _expr("istio.io/rev", "DoesNotExist"),
                    ]
                },
                {
                    "matchExpressions": [
                        _expr("sidecar.istio.io/inject", "In", "true"),
                        _expr("istio.io/rev", "DoesNotExist"),
                    ]
                },
            ),
        ]
    return out


def webhook(rev: str, ca_bundle: str, tag: str, selects: str | None = None) -> Obj:
    """The revision's MutatingWebhookConfiguration as the istio-discovery chart of version `tag`
    renders it (templates/mutatingwebhook.yaml at 1.7.3, 1.9.0 for the legacy shape; 1.10.0 and
    1.28.5 for the current one), with the apiserver's defaults filled in. `selects`: the
    istio.io/rev value its webhooks select, when not `rev` (a revision tag's)."""
    modern = rv.at_least(tag, rv.WEBHOOK_SELECTORS_SINCE)
    shapes = _selectors(selects or rev) if modern else _legacy_selectors(rev)
    hooks = [
        {
            "name": f"{prefix}sidecar-injector.istio.io",
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
            "objectSelector": object_selector,
            "sideEffects": "None",
            "timeoutSeconds": 10,
            "admissionReviewVersions": ["v1"]
            if rv.at_least(tag, (1, 23))
            else ["v1beta1", "v1"],  # v1 only: 1.23
            "reinvocationPolicy": "Never",
        }
        for prefix, ns_selector, object_selector in shapes
    ]
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
        "webhooks": hooks,
    }


def tag_webhook(tag: str, rev: str, ca_bundle: str, pilot_tag: str) -> Obj:
    """What `istioctl tag set TAG --revision REV` applies (istioctl/pkg/tag/generate.go: the
    istio-discovery chart's revision-tags template rendered with revision=REV, revisionTags=[TAG],
    the revision's own webhook's caBundle): `istio-revision-tag-TAG`, labelled istio.io/tag=TAG and
    istio.io/rev=REV, whose rev.namespace / rev.object webhooks select istio.io/rev=TAG on the
    namespace or the pod (and, for the tag `default`, istio-injection=enabled and
    sidecar.istio.io/inject=true, as the default revision's do) and call istiod-REV's /inject.
    Templates: revision-tags.yaml (1.12-1.2x), revision-tags-mwc.yaml (later; its
    revisionLabelPreference, absent before, is left at the earlier shape)."""
    made = webhook(rev, ca_bundle, pilot_tag, selects=tag)
    made["metadata"] = {
        "name": rv.tag_webhook(tag),
        "labels": {**made["metadata"]["labels"], "istio.io/tag": tag, "app.kubernetes.io/name": "istiod"},
    }
    return made


def configmaps(mesh_values: meshconfig.MeshValues, rp: meshconfig.RevisionPlan) -> list[Obj]:
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
            "data": {
                "mesh": meshconfig.mesh(mesh_values, rev),
                "meshNetworks": meshconfig.mesh_networks(mesh_values),
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": rv.injector(rev), "namespace": rv.ISTIO_NS, "labels": labels},
            "data": {
                "config": meshconfig.injector_config(),
                "values": meshconfig.injector_values(mesh_values, rp),
            },
        },
    ]
