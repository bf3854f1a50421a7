"""istiod's /inject handler: decide with Istio's precedence, then add the sidecar.

Precedence is pkg/kube/inject/webhook.go injectRequired: never for hostNetwork pods or the ignored
system namespaces (kube-system, kube-public); the pod label sidecar.istio.io/inject, else the pod
annotation of that name (label wins when both are set), with YAML booleans (y/yes/true/on)
meaning inject; then the config's neverInjectSelector / alwaysInjectSelector; then the policy
(`enabled`: inject by default). Which revision's istiod is asked at all is the webhook's
namespaceSelector (istio-injection vs istio.io/rev), evaluated by webhooks.Dispatcher. The
injector renders with *its* ConfigMap (istio-sidecar-injector-<rev>: policy, values.revision,
values.global.tag/network/meshID) and mesh config, so a stale copy injects a stale revision.

Native sidecar or classic, as the injector of that version decides (`native_sidecar`): the
injection template knows native sidecars from 1.19 and uses them when istiod's
ENABLE_NATIVE_SIDECARS is "true" (files/injection-template.yaml 1.19.0-1.26.x; from 1.24 the pod
annotation sidecar.istio.io/nativeSidecar, "true" or "false", overrides it). From 1.27 the variable
defaults to "auto" (pilot/pkg/features/pilot.go; istio/istio#56428) and webhook.go
DetectNativeSidecar asks the nodes: the pod's node when it is already bound, else every node, must
run a kubelet of 1.33 or later (native sidecars are GA in 1.33); the annotation still wins, read
as "anything but false means native".
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..apiserver.selection import matches_label_selector
from ..apiserver.store import AdmissionRequest, clone
from . import meshconfig, template
from . import revisions as rv

Obj = dict[str, Any]
IGNORED_NAMESPACES = ("kube-system", "kube-public")
INJECT = "sidecar.istio.io/inject"
NATIVE = "sidecar.istio.io/nativeSidecar"
NATIVE_TEMPLATE_SINCE = (1, 19)     # the template's $nativeSidecar
NATIVE_ANNOTATION_SINCE = (1, 24)   # the per-pod annotation
NATIVE_AUTO_SINCE = (1, 27)         # ENABLE_NATIVE_SIDECARS=auto by default, decided by the nodes
NATIVE_MIN_KUBELET = 33             # DetectNativeSidecar's minVersion
# pkg/kube/inject/webhook.go URLParameterToEnv (1.28.5): /inject/cluster/C/net/N
URL_PARAMETER_TO_ENV = {"cluster": "ISTIO_META_CLUSTER_ID", "net": "ISTIO_META_NETWORK"}


def parse_inject_envs(path: str) -> dict[str, str]:
    """webhook.go parseInjectEnvs: `/inject/k1/v1/k2/v2` -> {ENV(k1): v1, ...}; a key without a
    value is dropped, an unknown key becomes its upper-cased self. (The deprecated `:ENV:` form is
    not modelled.)"""
    parts = path.rstrip("/").split("/", 2)
    pairs = parts[2].split("/") if len(parts) == 3 else []
    out = {}
    for i in range(0, len(pairs) - 1, 2):
        env = URL_PARAMETER_TO_ENV.get(pairs[i], pairs[i].upper())
        if env:
            out[env] = pairs[i + 1].replace("--slash--", "/")
    return out


def inject_required(pod: Obj, namespace: str, config: Obj) -> bool:
    if pod["spec"].get("hostNetwork") or namespace in IGNORED_NAMESPACES:
        return False
    meta = pod["metadata"]
    selector = (meta.get("annotations") or {}).get(INJECT, "")
    labels = meta.get("labels") or {}
    if INJECT in labels:            # "The label is the new API; if both are present we prefer the label"
        selector = labels[INJECT]
    use_default, inject = False, False
    if str(selector).lower() in ("y", "yes", "true", "on"):
        inject = True
    elif selector == "":
        use_default = True
    for key, value in (("neverInjectSelector", False), ("alwaysInjectSelector", True)):
        if not use_default:
            break
        for sel in config.get(key) or []:
            if sel and matches_label_selector(sel, labels):
                inject, use_default = value, False
                break
    policy = config.get("policy", "enabled")
    if policy == "enabled":
        return True if use_default else inject
    if policy == "disabled":
        return False if use_default else inject
    return False


def _kubelet_minor(node: Obj) -> int:
    version = str(((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""))
    parts = version.lstrip("v").split(".")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1


def nodes_support_native(nodes: list[Obj], node_name: str) -> bool:
    """webhook.go DetectNativeSidecar (auto): the pod's node if bound and known, else all nodes."""
    bound = [n for n in nodes if node_name and n["metadata"]["name"] == node_name]
    return all(_kubelet_minor(n) >= NATIVE_MIN_KUBELET for n in bound or nodes)


def native_sidecar(pod: Obj, tag: str, env: str | None, nodes: list[Obj]) -> bool:
    """Whether the injector at image tag `tag`, with istiod's ENABLE_NATIVE_SIDECARS `env` (None:
    unset), injects istio-proxy into this pod as a native sidecar."""
    if not rv.at_least(tag, NATIVE_TEMPLATE_SINCE):
        return False
    annotation = ((pod.get("metadata") or {}).get("annotations") or {}).get(NATIVE)
    if rv.at_least(tag, NATIVE_AUTO_SINCE):
        if annotation is not None:
            return str(annotation) != "false"
        mode = env if env is not None else "auto"
        if mode == "auto":
            return nodes_support_native(nodes, str(pod.get("spec", {}).get("nodeName") or ""))
        return mode == "true"
    if annotation is not None and rv.at_least(tag, NATIVE_ANNOTATION_SINCE):
        return str(annotation) == "true"
    return env == "true"


class SidecarInjector:
    """One per cluster; `handler(revision)` is what the webhook of istiod-<revision> calls."""

    def __init__(self, cluster: LabCluster) -> None:
        self.cluster, self.store = cluster, cluster.store
        self.injected = 0

    def handler(self, revision: str, envs: dict[str, str] | None = None) -> Any:
        """`envs`: what the request path sets (parse_inject_envs), over the injector's values."""
        def handle(req: AdmissionRequest) -> Obj | None:
            if req.res != "pods" or req.operation != "CREATE":
                return None
            return self.inject(
                req.obj, (req.namespace_obj or {}).get("metadata", {}).get("name", ""), revision, envs
            )

        return handle

    def params(self, revision: str, envs: dict[str, str] | None = None) -> tuple[template.Params, Obj]:
        cm = self.store.find("configmaps", rv.ISTIO_NS, rv.injector(revision))
        values, config = meshconfig.parse_values(cm), meshconfig.parse_config(cm)
        mesh = meshconfig.parse_mesh(self.store.find("configmaps", rv.ISTIO_NS, rv.mesh_configmap(revision)))
        g = values.get("global") or {}
        p = template.Params(
            revision=str(values.get("revision", revision)),
            serving_revision=revision,
            tag=str(g.get("tag") or rv.version(revision)),
            cluster_id=str((g.get("multiCluster") or {}).get("clusterName") or self.cluster.name),
            network=str(g.get("network") or ""),
            mesh_id=str((mesh.get("defaultConfig") or {}).get("meshId") or g.get("meshID") or ""),
            trust_domain=str(mesh.get("trustDomain") or "cluster.local"),
        )
        envs = envs or {}
        p = replace(
            p,
            cluster_id=envs.get("ISTIO_META_CLUSTER_ID", p.cluster_id),
            network=envs.get("ISTIO_META_NETWORK", p.network),
        )
        return p, config

    def inject(
        self, pod: Obj, namespace: str, revision: str, envs: dict[str, str] | None = None
    ) -> Obj | None:
        pod = clone(pod)
        pod.setdefault("metadata", {}).setdefault("namespace", namespace)
        p, config = self.params(revision, envs)
        if not inject_required(pod, namespace, config):
            return None
        self.injected += 1
        nodes = self.store.iter("nodes")
        p = replace(p, native=native_sidecar(pod, p.tag, self._native_env(revision), nodes))
        return template.apply(template.strip(pod), p)

    def _native_env(self, revision: str) -> str | None:
        """ENABLE_NATIVE_SIDECARS of istiod-<revision>'s discovery container (None when unset)."""
        deploy = self.store.find("deployments", rv.ISTIO_NS, rv.istiod(revision)) or {}
        spec = ((deploy.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in spec.get("containers") or []:
            for e in c.get("env") or [] if c.get("name") == "discovery" else []:
                if e.get("name") == "ENABLE_NATIVE_SIDECARS":
                    return str(e.get("value", ""))
        return None
