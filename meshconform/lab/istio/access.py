"""The access side of an Istio install: RBAC, the reader account, the plug-in CA Secret, the CRDs.

istiod's ClusterRole/Binding and the reader role remote istiods authenticate with
(istio-discovery templates/reader-clusterrole.yaml: istio-reader-clusterrole-<rev>-istio-system,
bound to istio-reader-service-account), the reader's legacy token Secret (what istioctl 1.7's
create-remote-secret reads), `cacerts` (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)
and a CustomResourceDefinition per Istio kind the lab serves.
"""

from __future__ import annotations

import base64
from typing import Any

from ..apiserver.resources import RESOURCES
from . import revisions as rv
from .objects import RBAC, READER_SA
from .pki import Intermediate

Obj = dict[str, Any]


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


def cacerts(ca: Intermediate, bundle_pem: str) -> Obj:
    """istio/tools/certs' layout: cert-chain.pem is the intermediate then the root that signed it;
    root-cert.pem the roots istiod trusts (`bundle_pem`: old and new during a rotation)."""
    data = {
        "ca-cert.pem": ca.cert_pem,
        "ca-key.pem": ca.key_pem,
        "root-cert.pem": bundle_pem,
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
