"""The sidecar the injector adds: istio-init, istio-proxy, volumes, annotations and labels.

Built from the injection template of the istio-discovery chart (files/injection-template.yaml,
1.7/1.8) and checked against pkg/kube/inject/testdata/inject/*.injected: istio-iptables arguments,
`proxy sidecar` arguments, the environment (CA_ADDR, PROXY_CONFIG, ISTIO_META_*), port 15090
http-envoy-prom, readiness /healthz/ready on 15021, the istio-envoy/istio-data/istio-podinfo/
istio-token/istiod-ca-cert volumes, sidecar.istio.io/status (pkg/kube/inject/inject.go
SidecarInjectionStatus: `revision` from Istio 1.11, a template `version` hash before; the injected
revision moved then from the pod's istio.io/rev label to an annotation, istio/istio#33447),
prometheus merge annotations and the security.istio.io/tlsMode and service.istio.io/canonical-*
labels (pkg/kube/inject/inject.go).

Native sidecars (files/injection-template.yaml and webhook.go reorderPod, 1.28.5; testdata
native-sidecar.yaml.injected): istio-proxy moves into initContainers with `restartPolicy: Always`,
a preStop `pilot-agent request POST drain` and the startup probe, ordered istio-init, istio-proxy,
then the pod's own init containers (so they are in the mesh), and the status annotation lists it
with the init containers (`"containers":null`). Whether the injector does so is decided in
inject.py (`native_sidecar`). From 1.20 every istio-proxy has the startup probe
(values.yaml global.proxy.startupProbe: enabled, failureThreshold 600).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from . import revisions as rv

Obj = dict[str, Any]
STATUS = "sidecar.istio.io/status"
CANONICAL_NAME = "service.istio.io/canonical-name"
CANONICAL_REV = "service.istio.io/canonical-revision"
TLS_MODE = "security.istio.io/tlsMode"
VOLUMES = ["istio-envoy", "istio-data", "istio-podinfo", "istio-token", "istiod-ca-cert"]
STARTUP_PROBE_SINCE = (1, 20)
_HASHED = re.compile(r"^(.*)-[bcdfghjklmnpqrstvwxz2456789]{6,10}$")


@dataclass(frozen=True)
class Params:
    """What the template renders with: from the injector's values and mesh config."""

    revision: str            # the revision stamped on the pod (values.revision)
    serving_revision: str    # the istiod that serves this injector (its discovery address)
    tag: str
    cluster_id: str
    network: str
    mesh_id: str
    trust_domain: str
    native: bool = False     # istio-proxy as a native sidecar (an init container that keeps running)


def workload(pod: Obj) -> tuple[str, str]:
    """(workload name, owner URI) the way the injector derives them from the controller reference."""
    meta = pod["metadata"]
    ref = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    ns = meta.get("namespace", "")
    if ref is None:
        name = meta.get("name") or meta.get("generateName", "").rstrip("-")
        return name, f"kubernetes://apis/v1/namespaces/{ns}/pods/{name}"
    name, kind, api = ref["name"], ref["kind"], ref.get("apiVersion", "apps/v1")
    if kind == "ReplicaSet":
        m = _HASHED.match(name)
        if m:
            name, kind = m.group(1), "Deployment"
    return name, f"kubernetes://apis/{api}/namespaces/{ns}/{kind.lower()}s/{name}"


def canonical(pod: Obj) -> tuple[str, str]:
    labels = pod["metadata"].get("labels") or {}
    name = (
        labels.get(CANONICAL_NAME)
        or labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or workload(pod)[0]
    )
    rev = (
        labels.get(CANONICAL_REV)
        or labels.get("app.kubernetes.io/version")
        or labels.get("version")
        or "latest"
    )
    return name, rev


def _field(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def init_container(p: Params) -> Obj:
    return {
        "name": "istio-init",
        "image": rv.proxy_image(p.tag),
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "istio-iptables",
            "-p",
            "15001",
            "-z",
            "15006",
            "-u",
            "1337",
            "-m",
            "REDIRECT",
            "-i",
            "*",
            "-x",
            "",
            "-b",
            "*",
            "-d",
            "15090,15021,15020",
        ],
        "resources": {
            "limits": {"cpu": "100m", "memory": "50Mi"},
            "requests": {"cpu": "10m", "memory": "10Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": False,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "runAsUser": 0,
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def proxy_container(pod: Obj, p: Params) -> Obj:
    app = [c for c in pod["spec"].get("containers") or [] if c.get("name") != "istio-proxy"]
    ports = [
        {k: v for k, v in port.items() if k in ("name", "containerPort", "protocol")}
        for c in app
        for port in c.get("ports") or []
    ]
    name, owner = workload(pod)
    discovery = f"{rv.istiod(p.serving_revision)}.{rv.ISTIO_NS}.svc:15012"
    env = [
        {"name": "JWT_POLICY", "value": "third-party-jwt"},
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": discovery},
        _field("POD_NAME", "metadata.name"),
        _field("POD_NAMESPACE", "metadata.namespace"),
        _field("INSTANCE_IP", "status.podIP"),
        _field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        _field("HOST_IP", "status.hostIP"),
        _field("CANONICAL_SERVICE", f"metadata.labels['{CANONICAL_NAME}']"),
        _field("CANONICAL_REVISION", f"metadata.labels['{CANONICAL_REV}']"),
        {
            "name": "PROXY_CONFIG",
            "value": json.dumps({"discoveryAddress": discovery, "meshId": p.mesh_id}) + "\n",
        },
        {"name": "ISTIO_META_POD_PORTS", "value": json.dumps(ports, indent=4)},
        {"name": "ISTIO_META_APP_CONTAINERS", "value": ",".join(c["name"] for c in app)},
        {"name": "ISTIO_META_CLUSTER_ID", "value": p.cluster_id},
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": name},
        {"name": "ISTIO_META_OWNER", "value": owner},
        {"name": "ISTIO_META_MESH_ID", "value": p.mesh_id},
        {"name": "TRUST_DOMAIN", "value": p.trust_domain},
    ]
    if p.network:
        env.append({"name": "ISTIO_META_NETWORK", "value": p.network})
    mounts = [
        ("istiod-ca-cert", "/var/run/secrets/istio"),
        ("istio-data", "/var/lib/istio/data"),
        ("istio-envoy", "/etc/istio/proxy"),
        ("istio-token", "/var/run/secrets/tokens"),
        ("istio-podinfo", "/etc/istio/pod"),
    ]
    return {
        "name": "istio-proxy",
        "image": rv.proxy_image(p.tag),
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "proxy",
            "sidecar",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
            "--serviceCluster",
            f"{canonical(pod)[0]}.$(POD_NAMESPACE)",
            "--proxyLogLevel=warning",
            "--proxyComponentLogLevel=misc:error",
            f"--trust-domain={p.trust_domain}",
            "--concurrency",
            "2",
        ],
        "env": env,
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "initialDelaySeconds": 1,
            "periodSeconds": 2,
            "failureThreshold": 30,
            "successThreshold": 1,
            "timeoutSeconds": 3,
        },
        "resources": {
            "limits": {"cpu": "2", "memory": "1Gi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsGroup": 1337,
            "runAsNonRoot": True,
            "runAsUser": 1337,
        },
        "volumeMounts": [{"name": n, "mountPath": m} for n, m in mounts],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        **_startup(p),
    }


def _startup(p: Params) -> Obj:
    """The startup probe (1.20+) and, for a native sidecar, restartPolicy and the draining preStop."""
    out: Obj = {}
    if rv.at_least(p.tag, STARTUP_PROBE_SINCE):
        out["startupProbe"] = {
            "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "initialDelaySeconds": 0,
            "periodSeconds": 1,
            "timeoutSeconds": 3,
            "failureThreshold": 600,
            "successThreshold": 1,
        }
    if p.native:
        drain = ["pilot-agent", "request", "--debug-port=15020", "POST", "drain"]
        out |= {"restartPolicy": "Always", "lifecycle": {"preStop": {"exec": {"command": drain}}}}
    return out


def volumes() -> list[Obj]:
    return [
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", "emptyDir": {}},
        {
            "name": "istio-podinfo",
            "downwardAPI": {
                "defaultMode": 420,
                "items": [
                    {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}},
                    {
                        "path": "annotations",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"},
                    },
                ],
            },
        },
        {
            "name": "istio-token",
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": "istio-ca",
                            "expirationSeconds": 43200,
                            "path": "istio-token",
                        }
                    }
                ],
            },
        },
        {"name": "istiod-ca-cert", "configMap": {"defaultMode": 420, "name": "istio-ca-root-cert"}},
    ]


def status_annotation(p: Params, pull_secrets: list[str] | None = None) -> str:
    """SidecarInjectionStatus as the injector of version p.tag writes it, fields in its order:
    `revision` last from 1.11, before that a leading `version`, the injection template's hash
    (inject.go sidecarTemplateVersionHash). A native istio-proxy is listed with the init containers."""
    fields: Obj = {
        "initContainers": ["istio-init", "istio-proxy"] if p.native else ["istio-init"],
        "containers": None if p.native else ["istio-proxy"],
        "volumes": VOLUMES,
        "imagePullSecrets": pull_secrets,
    }
    if rv.at_least(p.tag, rv.REVISION_IN_STATUS_SINCE):
        status = {**fields, "revision": rv.label(p.revision)}
    else:
        status = {"version": hashlib.sha256(f"injection-template {p.tag}".encode()).hexdigest(), **fields}
    return json.dumps(status, separators=(",", ":"))


def apply(pod: Obj, p: Params) -> Obj:
    """Add the sidecar to `pod` (already stripped of any previous injection) and return it."""
    spec, meta = pod["spec"], pod["metadata"]
    first_app = (spec.get("containers") or [{}])[0].get("name", "")
    own_inits = spec.get("initContainers") or []
    if p.native:  # reorderPod: istio-init, istio-proxy, then the pod's own init containers
        spec["initContainers"] = [init_container(p), proxy_container(pod, p), *own_inits]
    else:  # iptables last, so the pod's own init containers are not black-holed
        spec["containers"] = [*(spec.get("containers") or []), proxy_container(pod, p)]
        spec["initContainers"] = [*own_inits, init_container(p)]
    spec["volumes"] = list(spec.get("volumes") or []) + volumes()
    spec.setdefault("securityContext", {}).setdefault("fsGroup", 1337)
    name, rev = canonical(pod)
    modern = rv.at_least(p.tag, rv.REVISION_IN_STATUS_SINCE)
    ann = meta.setdefault("annotations", {})
    ann.update(
        {
            STATUS: status_annotation(p),
            **({"istio.io/rev": rv.label(p.revision)} if modern else {}),
            "kubectl.kubernetes.io/default-container": first_app,
            "kubectl.kubernetes.io/default-logs-container": first_app,
            "prometheus.io/path": "/stats/prometheus",
            "prometheus.io/port": "15020",
            "prometheus.io/scrape": "true",
        }
    )
    labels = meta.setdefault("labels", {})
    labels.update({TLS_MODE: "istio", CANONICAL_NAME: name, CANONICAL_REV: rev})
    if not modern:  # the 1.7-1.10 template stamped the label; later injectors leave it as it was
        labels["istio.io/rev"] = rv.label(p.revision)
    return pod


def strip(pod: Obj) -> Obj:
    """Remove a previous injection (inject.go stripPod), so re-injection is idempotent."""
    try:
        prev = json.loads((pod["metadata"].get("annotations") or {}).get(STATUS) or "null")
    except ValueError:
        prev = None
    if not isinstance(prev, dict):
        return pod
    spec = pod["spec"]
    spec["containers"] = [
        c for c in spec.get("containers") or [] if c.get("name") not in prev.get("containers", [])
    ]
    spec["initContainers"] = [
        c for c in spec.get("initContainers") or [] if c.get("name") not in prev.get("initContainers", [])
    ]
    spec["volumes"] = [v for v in spec.get("volumes") or [] if v.get("name") not in prev.get("volumes", [])]
    pod["metadata"]["annotations"].pop(STATUS, None)
    return pod


def serving_revision(pod: Obj) -> str | None:
    """Which istiod a proxy talks to (its discovery address), whatever revision its labels claim."""
    for e in (proxy(pod) or {}).get("env") or []:
        if e.get("name") == "CA_ADDR":
            host = str(e.get("value", "")).split(".", 1)[0]
            return host[len("istiod-") :] if host.startswith("istiod-") else "default"
    return None


def proxy(pod: Obj) -> Obj | None:
    """The pod's istio-proxy container, classic or native."""
    spec = pod["spec"]
    return next(
        (c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
         if c.get("name") == "istio-proxy"),
        None,
    )


def proxy_status(pod: Obj) -> Obj:
    """The kubelet's status of the pod's istio-proxy (in initContainerStatuses when native)."""
    st = pod.get("status") or {}
    statuses = (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or [])
    return next((s for s in statuses if s.get("name") == "istio-proxy"), {})


def injected(pod: Obj) -> bool:
    return proxy(pod) is not None
