"""The text an ASM 1.7 install leaves in its ConfigMaps: mesh config, injector config and values.

`istio-<rev>` holds `mesh` (MeshConfig YAML, istio-discovery templates/configmap.yaml) and
`meshNetworks`; `istio-sidecar-injector-<rev>` holds `config` (policy, selectors, template) and
`values` (the chart values the template renders with: global.hub/tag, revision, network, meshID,
multiCluster.clusterName). The lab's injector reads these back, so editing them (or a stale copy,
the stale-injector fault) changes injection as it would on a real cluster.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from typing import Any

import yaml

from . import revisions as rv

Obj = dict[str, Any]
PROJECT_NUMBER = "271828182845"            # the lab's fake GCP project number (mesh IDs look like proj-N)


@dataclass(frozen=True)
class RevisionPlan:
    revision: str
    pilot_tag: str          # istiod's image tag (old-istiod lowers it)
    proxy_tag: str


@dataclass(frozen=True)
class MeshValues:
    """The chart values that place one cluster in the mesh: multiCluster.clusterName, network,
    trustDomain and meshID, rendered into its mesh config, injector values and istiod."""

    cluster: str
    network: str
    trust_domain: str
    mesh_id: str


def mesh(mesh_values: MeshValues, revision: str) -> str:
    doc: Obj = {
        "accessLogEncoding": "TEXT", "accessLogFile": "/dev/stdout", "accessLogFormat": "",
        "defaultConfig": {
            "concurrency": 2, "configPath": "./etc/istio/proxy", "connectTimeout": "10s",
            "controlPlaneAuthPolicy": "NONE",
            "discoveryAddress": f"{rv.istiod(revision)}.{rv.ISTIO_NS}.svc:15012",
            "drainDuration": "45s", "meshId": mesh_values.mesh_id, "parentShutdownDuration": "1m0s",
            "proxyAdminPort": 15000, "proxyMetadata": {}, "serviceCluster": "istio-proxy",
            "statNameLength": 189, "statusPort": 15020, "terminationDrainDuration": "5s",
            "tracing": {"zipkin": {"address": "zipkin.istio-system:9411"}}},
        "defaultDestinationRuleExportTo": ["*"], "defaultServiceExportTo": ["*"],
        "defaultVirtualServiceExportTo": ["*"], "disableEnvoyListenerLog": True,
        "enableAutoMtls": True, "enableEnvoyAccessLogService": False, "enablePrometheusMerge": True,
        "enableTracing": True, "ingressClass": "istio", "ingressControllerMode": "STRICT",
        "ingressService": "istio-ingressgateway", "localityLbSetting": {"enabled": True},
        "outboundTrafficPolicy": {"mode": "ALLOW_ANY"}, "protocolDetectionTimeout": "100ms",
        "reportBatchMaxEntries": 100, "reportBatchMaxTime": "1s", "rootNamespace": rv.ISTIO_NS,
        "sdsUdsPath": "unix:/etc/istio/proxy/SDS", "trustDomain": mesh_values.trust_domain,
        "trustDomainAliases": None,
    }
    return yaml.safe_dump(doc, sort_keys=True)


def mesh_networks(mesh_values: MeshValues) -> str:
    return yaml.safe_dump({"networks": {}})


def injector_values(mesh_values: MeshValues, rev: RevisionPlan, values_revision: str | None = None) -> str:
    tag = rev.proxy_tag
    doc = {
        "global": {
            "hub": rv.hub(tag),
            "tag": tag,
            "imagePullPolicy": "",
            "istioNamespace": rv.ISTIO_NS,
            "jwtPolicy": "third-party-jwt",
            "pilotCertProvider": "istiod",
            "meshID": mesh_values.mesh_id,
            "network": mesh_values.network,
            "trustDomain": mesh_values.trust_domain,
            "multiCluster": {"clusterName": mesh_values.cluster, "enabled": True},
            "proxy": {
                "image": "proxyv2",
                "clusterDomain": "cluster.local",
                "concurrency": 2,
                "logLevel": "warning",
                "componentLogLevel": "misc:error",
                "privileged": False,
                "readinessFailureThreshold": 30,
                "readinessInitialDelaySeconds": 1,
                "readinessPeriodSeconds": 2,
                "statusPort": 15020,
                "resources": {
                    "limits": {"cpu": "2000m", "memory": "1024Mi"},
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                },
            },
            "proxy_init": {
                "image": "proxyv2",
                "resources": {
                    "limits": {"cpu": "100m", "memory": "50Mi"},
                    "requests": {"cpu": "10m", "memory": "10Mi"},
                },
            },
        },
        "revision": values_revision if values_revision is not None else rev.revision,
        "sidecarInjectorWebhook": {
            "enableNamespacesByDefault": False,
            "objectSelector": {"autoInject": True, "enabled": False},
            "rewriteAppHTTPProbe": True,
        },
    }
    return json.dumps(doc, indent=2, sort_keys=True)


# The head of the 1.7 sidecar template, kept for people who read the ConfigMap; the lab's injector
# builds the same containers in code (istio/template.py).
_TEMPLATE_HEAD = """\
rewriteAppHTTPProbe: {{ valueOrDefault .Values.sidecarInjectorWebhook.rewriteAppHTTPProbe false }}
initContainers:
{{ if ne (annotation .ObjectMeta `sidecar.istio.io/interceptionMode` .ProxyConfig.InterceptionMode) `NONE` }}
- name: istio-init
  image: "{{ .Values.global.hub }}/{{ .Values.global.proxy_init.image }}:{{ .Values.global.tag }}"
  args:
  - istio-iptables
  ...
containers:
- name: istio-proxy
  image: "{{ .Values.global.hub }}/{{ .Values.global.proxy.image }}:{{ .Values.global.tag }}"
  ...
"""


def injector_config() -> str:
    return yaml.safe_dump(
        {
            "policy": "enabled",
            "alwaysInjectSelector": [],
            "neverInjectSelector": [],
            "injectedAnnotations": {},
            "template": _TEMPLATE_HEAD,
        },
        sort_keys=False,
    )


def parse_values(cm: Obj | None) -> Obj:
    try:
        out = json.loads(((cm or {}).get("data") or {}).get("values") or "{}")
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when there: injection parses per pod


def parse_config(cm: Obj | None) -> Obj:
    try:
        out = yaml.load(((cm or {}).get("data") or {}).get("config") or "{}", Loader=_LOADER)
    except yaml.YAMLError:
        return {}
    return out if isinstance(out, dict) else {}


def parse_mesh(cm: Obj | None) -> Obj:
    # Envoy asks for the trust domain on every simulated call: parse each mesh text once.
    return copy.deepcopy(_parse_mesh_text(((cm or {}).get("data") or {}).get("mesh") or "{}"))


@functools.lru_cache(maxsize=64)
def _parse_mesh_text(text: str) -> Obj:
    try:
        out = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError:
        return {}
    return out if isinstance(out, dict) else {}
