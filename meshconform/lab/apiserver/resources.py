"""The resource table: every kind the lab serves, as the real apiserver's discovery describes it.

One row per resource drives discovery (/api, /apis/<g>/<v> APIResourceList), URL routing, RBAC
resource names, Table columns and the OpenAPI document, so the four can never disagree. Verbs,
short names and categories are those `kubectl api-resources -o wide` shows on a 1.2x cluster with
Istio 1.7 CRDs installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    name: str
    verbs: tuple[str, ...]
    kind: str = ""  # "" = the parent's kind
    group: str | None = None  # set when the subresource's kind lives in another group
    version: str | None = None


STATUS = Subresource("status", STATUS_VERBS)


@dataclass(frozen=True)
class Resource:
    group: str
    versions: tuple[str, ...]  # served versions, preferred first
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    generation: bool = False  # the registry strategy maintains metadata.generation
    stored: bool = True  # False: virtual create-only kinds (reviews, token requests)
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        """Store key: plural for core, plural.group otherwise."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_status(self) -> bool:
        return any(s.name == "status" for s in self.subresources)

    def api_version(self, version: str | None = None) -> str:
        v = version or self.versions[0]
        return f"{self.group}/{v}" if self.group else v

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


def _core(kind: str, plural: str, namespaced: bool = True, **kw: object) -> Resource:
    return Resource("", ("v1",), kind, plural, namespaced, **kw)  # type: ignore[arg-type]


_ISTIO_NET = ("v1beta1", "v1alpha3")
_ISTIO_NET_CATS = ("istio-io", "networking-istio-io")
_ISTIO_SEC_CATS = ("istio-io", "security-istio-io")
_ISTIO_TEL_CATS = ("istio-io", "telemetry-istio-io")

RESOURCES: tuple[Resource, ...] = (
    _core(
        "Namespace",
        "namespaces",
        False,
        short_names=("ns",),
        verbs=NO_COLLECTION,
        subresources=(Subresource("finalize", ("update",)), STATUS),
    ),
    _core("Node", "nodes", False, short_names=("no",), subresources=(STATUS,)),
    _core(
        "Pod",
        "pods",
        short_names=("po",),
        categories=("all",),
        subresources=(
            Subresource("attach", ("create", "get"), "PodAttachOptions"),
            Subresource("eviction", CREATE_ONLY, "Eviction", "policy", "v1"),
            Subresource("exec", ("create", "get"), "PodExecOptions"),
            Subresource("log", ("get",)),
            Subresource("portforward", ("create", "get"), "PodPortForwardOptions"),
            STATUS,
        ),
    ),
    _core(
        "Service",
        "services",
        short_names=("svc",),
        categories=("all",),
        verbs=NO_COLLECTION,
        subresources=(STATUS,),
    ),
    _core("Endpoints", "endpoints", short_names=("ep",)),
    _core(
        "ServiceAccount",
        "serviceaccounts",
        short_names=("sa",),
        subresources=(Subresource("token", CREATE_ONLY, "TokenRequest", "authentication.k8s.io", "v1"),),
    ),
    _core("Secret", "secrets"),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Event", "events", short_names=("ev",)),
    Resource(
        "apps",
        ("v1",),
        "Deployment",
        "deployments",
        True,
        short_names=("deploy",),
        categories=("all",),
        generation=True,
        subresources=(Subresource("scale", STATUS_VERBS, "Scale", "autoscaling", "v1"), STATUS),
    ),
    Resource(
        "apps",
        ("v1",),
        "ReplicaSet",
        "replicasets",
        True,
        short_names=("rs",),
        categories=("all",),
        generation=True,
        subresources=(Subresource("scale", STATUS_VERBS, "Scale", "autoscaling", "v1"), STATUS),
    ),
    Resource(
        "apps",
        ("v1",),
        "DaemonSet",
        "daemonsets",
        True,
        short_names=("ds",),
        categories=("all",),
        generation=True,
        subresources=(STATUS,),
    ),
    Resource(
        "apps",
        ("v1",),
        "StatefulSet",
        "statefulsets",
        True,
        short_names=("sts",),
        categories=("all",),
        generation=True,
        subresources=(Subresource("scale", STATUS_VERBS, "Scale", "autoscaling", "v1"), STATUS),
    ),
    Resource("rbac.authorization.k8s.io", ("v1",), "Role", "roles", True),
    Resource("rbac.authorization.k8s.io", ("v1",), "RoleBinding", "rolebindings", True),
    Resource("rbac.authorization.k8s.io", ("v1",), "ClusterRole", "clusterroles", False),
    Resource("rbac.authorization.k8s.io", ("v1",), "ClusterRoleBinding", "clusterrolebindings", False),
    Resource(
        "admissionregistration.k8s.io",
        ("v1",),
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        False,
        categories=("api-extensions",),
        generation=True,
    ),
    Resource(
        "admissionregistration.k8s.io",
        ("v1",),
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        False,
        categories=("api-extensions",),
        generation=True,
    ),
    Resource(
        "apiextensions.k8s.io",
        ("v1",),
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        generation=True,
        subresources=(STATUS,),
    ),
    Resource(
        "authentication.k8s.io",
        ("v1",),
        "TokenReview",
        "tokenreviews",
        False,
        verbs=CREATE_ONLY,
        stored=False,
    ),
    Resource(
        "authorization.k8s.io",
        ("v1",),
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        True,
        verbs=CREATE_ONLY,
        stored=False,
    ),
    Resource(
        "authorization.k8s.io",
        ("v1",),
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        False,
        verbs=CREATE_ONLY,
        stored=False,
    ),
    Resource(
        "authorization.k8s.io",
        ("v1",),
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        False,
        verbs=CREATE_ONLY,
        stored=False,
    ),
    Resource(
        "authorization.k8s.io",
        ("v1",),
        "SubjectAccessReview",
        "subjectaccessreviews",
        False,
        verbs=CREATE_ONLY,
        stored=False,
    ),
    Resource("discovery.k8s.io", ("v1",), "EndpointSlice", "endpointslices", True),
    Resource(
        "networking.istio.io",
        _ISTIO_NET,
        "DestinationRule",
        "destinationrules",
        True,
        short_names=("dr",),
        categories=_ISTIO_NET_CATS,
        generation=True,
        subresources=(STATUS,),
    ),
    Resource(
        "networking.istio.io",
        _ISTIO_NET,
        "VirtualService",
        "virtualservices",
        True,
        short_names=("vs",),
        categories=_ISTIO_NET_CATS,
        generation=True,
        subresources=(STATUS,),
    ),
    Resource(
        "networking.istio.io",
        _ISTIO_NET,
        "Gateway",
        "gateways",
        True,
        short_names=("gw",),
        categories=_ISTIO_NET_CATS,
        generation=True,
        subresources=(STATUS,),
    ),
    Resource(
        "networking.istio.io",
        _ISTIO_NET,
        "ServiceEntry",
        "serviceentries",
        True,
        short_names=("se",),
        categories=_ISTIO_NET_CATS,
        generation=True,
        subresources=(STATUS,),
    ),
    Resource(
        "networking.istio.io",
        _ISTIO_NET,
        "Sidecar",
        "sidecars",
        True,
        categories=_ISTIO_NET_CATS,
        generation=True,
        subresources=(STATUS,),
    ),
    Resource(
        "security.istio.io",
        ("v1beta1",),
        "PeerAuthentication",
        "peerauthentications",
        True,
        short_names=("pa",),
        categories=_ISTIO_SEC_CATS,
        generation=True,
        subresources=(STATUS,),
    ),
    Resource(
        "security.istio.io",
        ("v1beta1",),
        "AuthorizationPolicy",
        "authorizationpolicies",
        True,
        categories=_ISTIO_SEC_CATS,
        generation=True,
        subresources=(STATUS,),
    ),
    # The Telemetry API (Istio 1.11+; manifests/charts/base/crds/crd-all.gen.yaml): v1alpha1 served.
    Resource(
        "telemetry.istio.io",
        ("v1alpha1",),
        "Telemetry",
        "telemetries",
        True,
        short_names=("telemetry",),
        categories=_ISTIO_TEL_CATS,
        generation=True,
        subresources=(STATUS,),
    ),
    # Google's managed control plane (a cluster of managed Cloud Service Mesh): one per revision in
    # istio-system (`kubectl describe controlplanerevision -n istio-system`); its CRD
    # controlplanerevisions.mesh.cloud.google.com serves v1beta1 and v1alpha1.
    Resource(
        "mesh.cloud.google.com",
        ("v1beta1", "v1alpha1"),
        "ControlPlaneRevision",
        "controlplanerevisions",
        True,
        generation=True,
        subresources=(STATUS,),
    ),
)

BY_KEY: dict[str, Resource] = {r.key: r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at /apis/<group>/<version>/<plural> (or /api/v1/<plural>)."""
    r = BY_KEY.get(f"{plural}.{group}" if group else plural)
    return r if r is not None and version in r.versions else None


def resource(key: str) -> Resource:
    """The row for a store key; KeyError names the key (a programming error, not a client one)."""
    return BY_KEY[key]


def groups() -> list[tuple[str, tuple[str, ...]]]:
    """Non-core groups in discovery order with their versions, preferred first."""
    seen: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group:
            versions = seen.setdefault(r.group, [])
            versions.extend(v for v in r.versions if v not in versions)
    return [(g, tuple(v)) for g, v in seen.items()]


def in_group_version(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and version in r.versions]
