"""Field tables for the Kubernetes protobuf messages that kubectl's typed clients POST.

kubectl >= 1.2x builds the objects of `kubectl create namespace|secret|configmap|deployment|
serviceaccount|service|role|rolebinding|clusterrole|clusterrolebinding|token` and `kubectl auth
can-i` as typed Go structs and sends them as application/vnd.kubernetes.protobuf; protobuf.py reads
those bodies with these tables. Only the messages and fields those commands fill (plus a few cheap
neighbours) are listed; any other field number is skipped, as an older apiserver skips fields it
does not know. Field numbers are from the go-to-protobuf generated.proto files:

- meta:   k8s.io/apimachinery pkg/apis/meta/v1/generated.proto (ObjectMeta, OwnerReference,
          LabelSelector, DeleteOptions, Preconditions, Time = {1: seconds, 2: nanos})
- core:   k8s.io/api core/v1/generated.proto (Namespace ... Container, ServiceSpec, ServicePort);
          resource.Quantity is {1: string} (pkg/api/resource/generated.proto) and IntOrString is
          {1: type, 2: intVal, 3: strVal} (pkg/util/intstr/generated.proto)
- apps:   k8s.io/api apps/v1/generated.proto (Deployment, DeploymentSpec, DeploymentStrategy)
- rbac:   k8s.io/api rbac/v1/generated.proto; policy: policy/v1/generated.proto (Eviction)
- authentication/v1 (TokenRequest), authorization/v1 (SelfSubject{Access,Rules}Review)

Spec syntax, one string per field: "jsonName[:TYPE][?]". TYPE is string (the default), bytes, int,
bool, Time, Quantity, IntOrString or a message name; "[]T" is a repeated field, "{}T" a
map<string, T>, "*" as the name inlines the message's fields into the parent (Go's `json:",inline"`
embedding, e.g. LocalObjectReference in SecretKeySelector). "?" marks a Go pointer field: gogo
writes those only when set, so a zero there is meaningful (replicas: 0) and is kept, where the
zero of a plain field is what JSON's omitempty would have left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

SCALARS = frozenset({"string", "bytes", "int", "bool", "Time", "Quantity", "IntOrString"})

_META: dict[str, dict[int, str]] = {
    "ObjectMeta": {
        1: "name",
        2: "generateName",
        3: "namespace",
        5: "uid",
        6: "resourceVersion",
        7: "generation:int",
        8: "creationTimestamp:Time",
        9: "deletionTimestamp:Time",
        10: "deletionGracePeriodSeconds:int?",
        11: "labels:{}string",
        12: "annotations:{}string",
        13: "ownerReferences:[]OwnerReference",
        14: "finalizers:[]string",
    },
    "OwnerReference": {
        5: "apiVersion",
        1: "kind",
        3: "name",
        4: "uid",
        6: "controller:bool?",
        7: "blockOwnerDeletion:bool?",
    },
    "LabelSelector": {1: "matchLabels:{}string", 2: "matchExpressions:[]LabelSelectorRequirement"},
    "LabelSelectorRequirement": {1: "key", 2: "operator", 3: "values:[]string"},
    "DeleteOptions": {
        1: "gracePeriodSeconds:int?",
        2: "preconditions:Preconditions",
        3: "orphanDependents:bool?",
        4: "propagationPolicy:string?",
        5: "dryRun:[]string",
    },
    "Preconditions": {1: "uid:string?", 2: "resourceVersion:string?"},
}

_CORE: dict[str, dict[int, str]] = {
    "Namespace": {1: "metadata:ObjectMeta", 2: "spec:NamespaceSpec", 3: "status:NamespaceStatus"},
    "NamespaceSpec": {1: "finalizers:[]string"},
    "NamespaceStatus": {1: "phase"},
    "Secret": {
        1: "metadata:ObjectMeta",
        5: "immutable:bool?",
        2: "data:{}bytes",
        4: "stringData:{}string",
        3: "type",
    },
    "ConfigMap": {
        1: "metadata:ObjectMeta",
        4: "immutable:bool?",
        2: "data:{}string",
        3: "binaryData:{}bytes",
    },
    "ServiceAccount": {
        1: "metadata:ObjectMeta",
        2: "secrets:[]ObjectReference",
        3: "imagePullSecrets:[]LocalObjectReference",
        4: "automountServiceAccountToken:bool?",
    },
    "ObjectReference": {
        1: "kind",
        2: "namespace",
        3: "name",
        4: "uid",
        5: "apiVersion",
        6: "resourceVersion",
        7: "fieldPath",
    },
    "LocalObjectReference": {1: "name"},
    "Pod": {1: "metadata:ObjectMeta", 2: "spec:PodSpec", 3: "status:PodStatus"},
    "PodStatus": {1: "phase"},
    "PodTemplateSpec": {1: "metadata:ObjectMeta", 2: "spec:PodSpec"},
    "PodSpec": {
        20: "initContainers:[]Container",
        2: "containers:[]Container",
        3: "restartPolicy",
        4: "terminationGracePeriodSeconds:int?",
        5: "activeDeadlineSeconds:int?",
        6: "dnsPolicy",
        7: "nodeSelector:{}string",
        8: "serviceAccountName",
        9: "serviceAccount",
        21: "automountServiceAccountToken:bool?",
        10: "nodeName",
        11: "hostNetwork:bool",
        12: "hostPID:bool",
        13: "hostIPC:bool",
        27: "shareProcessNamespace:bool?",
        15: "imagePullSecrets:[]LocalObjectReference",
        16: "hostname",
        17: "subdomain",
        19: "schedulerName",
        22: "tolerations:[]Toleration",
        24: "priorityClassName",
        25: "priority:int?",
        29: "runtimeClassName:string?",
        30: "enableServiceLinks:bool?",
        31: "preemptionPolicy:string?",
        35: "setHostnameAsFQDN:bool?",
    },
    "Toleration": {1: "key", 2: "operator", 3: "value", 4: "effect", 5: "tolerationSeconds:int?"},
    "Container": {
        1: "name",
        2: "image",
        3: "command:[]string",
        4: "args:[]string",
        5: "workingDir",
        6: "ports:[]ContainerPort",
        7: "env:[]EnvVar",
        8: "resources:ResourceRequirements",
        9: "volumeMounts:[]VolumeMount",
        13: "terminationMessagePath",
        20: "terminationMessagePolicy",
        14: "imagePullPolicy",
        16: "stdin:bool",
        17: "stdinOnce:bool",
        18: "tty:bool",
    },
    "ContainerPort": {1: "name", 2: "hostPort:int", 3: "containerPort:int", 4: "protocol", 5: "hostIP"},
    "EnvVar": {1: "name", 2: "value", 3: "valueFrom:EnvVarSource"},
    "EnvVarSource": {
        1: "fieldRef:ObjectFieldSelector",
        3: "configMapKeyRef:KeySelector",
        4: "secretKeyRef:KeySelector",
    },
    "ObjectFieldSelector": {1: "apiVersion", 2: "fieldPath"},
    # ConfigMapKeySelector and SecretKeySelector share this layout
    "KeySelector": {1: "*:LocalObjectReference", 2: "key", 3: "optional:bool?"},
    "ResourceRequirements": {1: "limits:{}Quantity", 2: "requests:{}Quantity"},
    "VolumeMount": {
        1: "name",
        2: "readOnly:bool",
        3: "mountPath",
        4: "subPath",
        5: "mountPropagation:string?",
        6: "subPathExpr",
    },
    "Service": {1: "metadata:ObjectMeta", 2: "spec:ServiceSpec", 3: "status:ServiceStatus"},
    "ServiceStatus": {1: "loadBalancer:LoadBalancerStatus"},
    "LoadBalancerStatus": {},
    "ServiceSpec": {
        1: "ports:[]ServicePort",
        2: "selector:{}string",
        3: "clusterIP",
        18: "clusterIPs:[]string",
        4: "type",
        5: "externalIPs:[]string",
        7: "sessionAffinity",
        8: "loadBalancerIP",
        9: "loadBalancerSourceRanges:[]string",
        10: "externalName",
        11: "externalTrafficPolicy",
        12: "healthCheckNodePort:int",
        13: "publishNotReadyAddresses:bool",
        19: "ipFamilies:[]string",
        17: "ipFamilyPolicy:string?",
        20: "allocateLoadBalancerNodePorts:bool?",
        21: "loadBalancerClass:string?",
        22: "internalTrafficPolicy:string?",
    },
    "ServicePort": {
        1: "name",
        2: "protocol",
        6: "appProtocol:string?",
        3: "port:int",
        4: "targetPort:IntOrString",
        5: "nodePort:int",
    },
}

_GROUPS: dict[str, dict[int, str]] = {
    "Deployment": {1: "metadata:ObjectMeta", 2: "spec:DeploymentSpec", 3: "status:DeploymentStatus"},
    "DeploymentSpec": {
        1: "replicas:int?",
        2: "selector:LabelSelector",
        3: "template:PodTemplateSpec",
        4: "strategy:DeploymentStrategy",
        5: "minReadySeconds:int",
        6: "revisionHistoryLimit:int?",
        7: "paused:bool",
        9: "progressDeadlineSeconds:int?",
    },
    "DeploymentStrategy": {1: "type", 2: "rollingUpdate:RollingUpdateDeployment"},
    "RollingUpdateDeployment": {1: "maxUnavailable:IntOrString", 2: "maxSurge:IntOrString"},
    "DeploymentStatus": {
        1: "observedGeneration:int",
        2: "replicas:int",
        3: "updatedReplicas:int",
        7: "readyReplicas:int",
        4: "availableReplicas:int",
        5: "unavailableReplicas:int",
        8: "collisionCount:int?",
    },
    "Role": {1: "metadata:ObjectMeta", 2: "rules:[]PolicyRule"},
    "ClusterRole": {1: "metadata:ObjectMeta", 2: "rules:[]PolicyRule", 3: "aggregationRule:AggregationRule"},
    "AggregationRule": {1: "clusterRoleSelectors:[]LabelSelector"},
    "PolicyRule": {
        1: "verbs:[]string",
        2: "apiGroups:[]string",
        3: "resources:[]string",
        4: "resourceNames:[]string",
        5: "nonResourceURLs:[]string",
    },
    "RoleBinding": {1: "metadata:ObjectMeta", 2: "subjects:[]Subject", 3: "roleRef:RoleRef"},
    "ClusterRoleBinding": {1: "metadata:ObjectMeta", 2: "subjects:[]Subject", 3: "roleRef:RoleRef"},
    "Subject": {1: "kind", 2: "apiGroup", 3: "name", 4: "namespace"},
    "RoleRef": {1: "apiGroup", 2: "kind", 3: "name"},
    "Eviction": {1: "metadata:ObjectMeta", 2: "deleteOptions:DeleteOptions"},
    "TokenRequest": {1: "metadata:ObjectMeta", 2: "spec:TokenRequestSpec", 3: "status:TokenRequestStatus"},
    "TokenRequestSpec": {
        1: "audiences:[]string",
        4: "expirationSeconds:int?",
        3: "boundObjectRef:BoundObjectReference",
    },
    "BoundObjectReference": {1: "kind", 2: "apiVersion", 3: "name", 4: "uid"},
    "TokenRequestStatus": {1: "token", 2: "expirationTimestamp:Time"},
    "SelfSubjectAccessReview": {
        1: "metadata:ObjectMeta",
        2: "spec:SelfSubjectAccessReviewSpec",
        3: "status:SubjectAccessReviewStatus",
    },
    "SelfSubjectAccessReviewSpec": {
        1: "resourceAttributes:ResourceAttributes",
        2: "nonResourceAttributes:NonResourceAttributes",
    },
    "ResourceAttributes": {
        1: "namespace",
        2: "verb",
        3: "group",
        4: "version",
        5: "resource",
        6: "subresource",
        7: "name",
    },
    "NonResourceAttributes": {1: "path", 2: "verb"},
    "SubjectAccessReviewStatus": {1: "allowed:bool", 4: "denied:bool", 2: "reason", 3: "evaluationError"},
    "SelfSubjectRulesReview": {1: "metadata:ObjectMeta", 2: "spec:SelfSubjectRulesReviewSpec"},
    "SelfSubjectRulesReviewSpec": {1: "namespace"},
}

MESSAGES: dict[str, dict[int, str]] = {**_META, **_CORE, **_GROUPS}

# Top-level kinds a body may carry, by the runtime.Unknown envelope's kind (the apiVersion names the
# group; every kind here has one message layout across the versions kubectl sends).
KINDS = frozenset(
    {
        "Namespace",
        "Secret",
        "ConfigMap",
        "ServiceAccount",
        "Pod",
        "Service",
        "Deployment",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "Eviction",
        "DeleteOptions",
        "TokenRequest",
        "SelfSubjectAccessReview",
        "SelfSubjectRulesReview",
    }
)


@dataclass(frozen=True)
class Field:
    name: str  # JSON name; "*" for an inlined message
    type: str  # a scalar of SCALARS or a message name
    repeated: bool = False
    map: bool = False
    pointer: bool = False


def parse_spec(spec: str) -> Field:
    name, _, kind = spec.partition(":")
    kind = kind or "string"
    pointer = kind.endswith("?")
    kind = kind.rstrip("?")
    repeated, is_map = kind.startswith("[]"), kind.startswith("{}")
    kind = kind[2:] if repeated or is_map else kind
    if kind not in SCALARS and kind not in MESSAGES:
        raise ValueError(f"protoschema: {spec!r} names an unknown type {kind!r}")
    return Field(name, kind, repeated, is_map, pointer)


@cache
def message(name: str) -> dict[int, Field]:
    """The field table of one message, parsed once."""
    return {num: parse_spec(spec) for num, spec in MESSAGES[name].items()}
