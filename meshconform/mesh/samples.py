"""The guide's steps 3-5: namespace, helloworld vK in cluster K, sleep everywhere (clean-up: cleanup.py).

Manifests come from our manifests/ or an Istio release's samples/ (`--samples-dir`), filtered by
label the way `kubectl create -f helloworld.yaml -l version=v1` does. Istio's helloworld sample
has v1 and v2 only, so for cluster 3 and beyond we clone the v1 Deployment as vK (the app reports
its version from SERVICE_VERSION). Everything we create carries the managed-by label and this
run's id, Deployments' pod templates too; we delete only what carries both, and we never modify
or delete a namespace we did not create (the guide's `kubectl delete ns sample` would).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from meshconform.kube import errors, selectors, waits
from meshconform.kube.client import Cluster, Obj
from meshconform.kube.yamlload import SAFE_LOADER
from meshconform.mesh.facts import PodFact, Workloads

log = logging.getLogger("meshconform.mesh.samples")

MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_ID = "meshconform.io/run-id"
OWNER = "meshconform"
REPO_MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
PROXY = "istio-proxy"
STATUS_ANNOTATION = "sidecar.istio.io/status"
# Injectors older than the status annotation's `revision` field still label the pod istio.io/rev.
REV_LABEL = "istio.io/rev"
# A live run renews it on its namespace (meshconform/run/heartbeat.py); set at creation, so that the
# namespace is never without one while the run is alive.
HEARTBEAT_ANNOTATION = "meshconform.io/heartbeat"


def heartbeat_stamp(when: datetime | None = None) -> str:
    """RFC 3339 in UTC, seconds precision, as Kubernetes writes its own timestamps."""
    return (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Refused(Exception):
    """Going on would touch something that is not ours; the message says what to do instead."""


def ownership(run_id: str) -> dict[str, str]:
    return {MANAGED_BY: OWNER, RUN_ID: run_id}


def ours_selector(run_id: str | None = None) -> str:
    return f"{MANAGED_BY}={OWNER},{RUN_ID}" + (f"={run_id}" if run_id else "")


# -- manifests ------------------------------------------------------------------------------------


def load_manifest(path: Path) -> list[Obj]:
    docs = yaml.load_all(path.read_text(), Loader=SAFE_LOADER)
    return [d for d in docs if isinstance(d, dict) and d.get("kind")]


def sample_files(samples_dir: Path | None) -> tuple[Path, Path]:
    """(helloworld.yaml, sleep.yaml or its newer name curl.yaml)."""
    if samples_dir is None:
        return REPO_MANIFESTS / "helloworld.yaml", REPO_MANIFESTS / "sleep.yaml"
    sleep = samples_dir / "sleep" / "sleep.yaml"
    return (
        samples_dir / "helloworld" / "helloworld.yaml",
        sleep if sleep.is_file() else samples_dir / "curl" / "curl.yaml",
    )


def version_for(index: int) -> str:
    """Cluster K (1-based) runs helloworld vK."""
    return f"v{index + 1}"


def helloworld_objects(docs: list[Obj], version: str) -> list[Obj]:
    """The helloworld Service plus Deployment helloworld-<version>, cloned from v1 when absent."""
    objs = copy.deepcopy(selectors.select([d for d in docs if d["kind"] == "Service"], "app=helloworld"))
    deployment = selectors.select(
        [d for d in docs if d["kind"] == "Deployment"], f"app=helloworld,version={version}"
    )
    if not deployment:
        template = selectors.select(
            [d for d in docs if d["kind"] == "Deployment"], "app=helloworld,version=v1"
        )
        if not template:
            raise ValueError(
                "the helloworld manifest has no Deployment labelled app=helloworld,version=v1 to clone"
            )
        deployment = [clone_version(template[0], version)]
    return objs + copy.deepcopy(deployment)


def clone_version(v1: Obj, version: str) -> Obj:
    dep = copy.deepcopy(v1)
    dep["metadata"]["name"] = dep["metadata"]["name"].replace("-v1", f"-{version}")
    for labels in (
        dep["metadata"].setdefault("labels", {}),
        dep["spec"]["selector"].setdefault("matchLabels", {}),
        dep["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}),
    ):
        labels["version"] = version
    for container in dep["spec"]["template"]["spec"].get("containers") or []:
        env = [e for e in container.get("env") or [] if e.get("name") != "SERVICE_VERSION"]
        container["env"] = [*env, {"name": "SERVICE_VERSION", "value": version}]
    return dep


def label_objects(objs: list[Obj], run_id: str) -> list[Obj]:
    out = copy.deepcopy(objs)
    for obj in out:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(ownership(run_id))
        if obj["kind"] == "Deployment":
            obj["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update(
                ownership(run_id)
            )
    return out


def source_app(docs: list[Obj]) -> tuple[str, str]:
    """(app label, container name) of the sleep/curl Deployment that sends the test calls."""
    dep = next(d for d in docs if d["kind"] == "Deployment")
    labels = dep["spec"]["template"]["metadata"].get("labels") or {}
    return str(labels.get("app", dep["metadata"]["name"])), str(
        dep["spec"]["template"]["spec"]["containers"][0]["name"]
    )


# -- namespace ------------------------------------------------------------------------------------


def check_namespace(cluster: Cluster, namespace: str, run_id: str) -> bool:
    """True when the namespace exists and is this run's; raise Refused when it is someone else's."""
    try:
        ns = cluster.read(f"GET namespace {namespace}", cluster.core.read_namespace, namespace)
    except errors.NotFound:
        return False
    labels = ns.get("metadata", {}).get("labels") or {}
    if ns.get("metadata", {}).get("deletionTimestamp"):
        raise Refused(
            f"namespace {namespace} in {cluster.name} is still being deleted; wait until it is gone, "
            "or pass --namespace NAME"
        )
    if labels.get(MANAGED_BY) == OWNER and labels.get(RUN_ID) == run_id:
        return True
    if labels.get(MANAGED_BY) == OWNER:
        raise Refused(
            f"namespace {namespace} in {cluster.name} belongs to another meshconform run "
            f"({RUN_ID}={labels.get(RUN_ID)}); pass --namespace NAME to run alongside it, or "
            f"--cleanup-only if that run is dead"
        )
    raise Refused(
        f"namespace {namespace} already exists in {cluster.name} and was not created by meshconform; "
        f"meshconform never modifies it: pass --namespace NAME for a fresh one"
    )


def holder_namespace(run_id: str) -> str:
    """The empty namespace a run that deploys nothing makes, only to carry its heartbeat: its own
    name, so that it never meets another run's --namespace."""
    return f"meshconform-{run_id}"


def create_namespace(cluster: Cluster, namespace: str, injection: dict[str, str], run_id: str) -> Obj:
    """The run's namespace, labelled as ours and with `injection`, the label the revision's
    injector selects (the guide's istio.io/rev=REV, or what injection.choose found)."""
    if check_namespace(cluster, namespace, run_id):
        existing: Obj = cluster.read(f"GET namespace {namespace}", cluster.core.read_namespace, namespace)
        return existing
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "labels": {**injection, **ownership(run_id)},
            "annotations": {HEARTBEAT_ANNOTATION: heartbeat_stamp()},
        },
    }
    try:
        created: Obj = cluster.write(
            f"CREATE namespace {namespace}", cluster.core.create_namespace, body, idempotent=True
        )  # a repeated create ends in 409, handled below
        return created
    except errors.Conflict:
        check_namespace(cluster, namespace, run_id)  # raises Refused unless a retry of ours created it
        again: Obj = cluster.read(f"GET namespace {namespace}", cluster.core.read_namespace, namespace)
        return again


# -- objects --------------------------------------------------------------------------------------


def strict_mtls() -> Obj:
    """A namespace-wide PeerAuthentication in STRICT mode: the run's sidecars refuse plain text, so a
    call that bypasses the mesh fails instead of passing (istio.io/latest/docs/reference/config/
    security/peer_authentication/; security.istio.io/v1beta1 is served since Istio 1.5). It lives in
    the run's namespace and goes with it."""
    return {
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }


def _creator(cluster: Cluster, kind: str) -> Callable[..., Any] | None:
    def peer_authentication(namespace: str, body: Obj, **kwargs: Any) -> Any:
        return cluster.custom.create_namespaced_custom_object(
            "security.istio.io", "v1beta1", namespace, "peerauthentications", body, **kwargs
        )

    creators: dict[str, Callable[..., Any]] = {
        "Service": cluster.core.create_namespaced_service,
        "ServiceAccount": cluster.core.create_namespaced_service_account,
        "ConfigMap": cluster.core.create_namespaced_config_map,
        "Deployment": cluster.apps.create_namespaced_deployment,
        "PeerAuthentication": peer_authentication,
    }
    return creators.get(kind)


def create_objects(cluster: Cluster, namespace: str, objs: list[Obj], run_id: str) -> None:
    for obj in objs:
        what = f"CREATE {obj['kind'].lower()} {namespace}/{obj['metadata']['name']}"
        obj["metadata"]["namespace"] = namespace
        creator = _creator(cluster, obj["kind"])
        try:
            if creator is not None:
                cluster.write(what, creator, namespace, obj, idempotent=True)
            else:
                api = cluster.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
                cluster.write(what, api.create, body=obj, namespace=namespace, raw=False, idempotent=True)
        except errors.Conflict:
            log.info("%s: already exists (a retried create of ours)", what)


def wait_ready(
    cluster: Cluster,
    namespace: str,
    run_id: str,
    objs: list[Obj],
    timeout: float,
    stop: threading.Event | None = None,
) -> list[Obj]:
    """Wait (watching) until every Deployment among `objs` has its replicas Ready; returns the pods."""
    expected = {
        o["metadata"]["name"]: int(o["spec"].get("replicas", 1)) for o in objs if o["kind"] == "Deployment"
    }
    selectors_by_dep = {
        o["metadata"]["name"]: selectors.from_label_selector(o["spec"]["selector"])
        for o in objs
        if o["kind"] == "Deployment"
    }

    def deployment_of(pod: Obj) -> str | None:
        labels = pod.get("metadata", {}).get("labels") or {}
        return next((d for d, reqs in selectors_by_dep.items() if selectors.matches(reqs, labels)), None)

    what = f"pods of {', '.join(expected)} in {namespace} to be Ready"
    return waits.wait_for(
        cluster,
        what,
        namespace,
        ours_selector(run_id),
        waits.pods_ready(expected, deployment_of),
        timeout,
        stop,
    )


def pod_fact(pod: Obj) -> PodFact:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    labels = pod.get("metadata", {}).get("labels") or {}
    names = [c.get("name") for c in spec.get("containers") or []]
    # Istio >= 1.19 may inject the proxy as a native sidecar (an init container that keeps running).
    names += [c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    ready_containers, total_containers = waits.ready_count(pod)  # kubectl's READY column
    annotation = (pod.get("metadata", {}).get("annotations") or {}).get(STATUS_ANNOTATION)
    return PodFact(
        service_account=str(spec.get("serviceAccountName") or "default"),
        name=pod["metadata"]["name"],
        app=str(labels.get("app", "")),
        version=labels.get("version"),
        phase=str(status.get("phase", "")),
        ready=waits.pod_ready(pod),
        ready_containers=ready_containers,
        total_containers=total_containers,
        has_proxy=PROXY in names,
        injected_revision=injected_revision(annotation) or _rev_label(labels, names),
        deleting=bool(pod.get("metadata", {}).get("deletionTimestamp")),
        ip=status.get("podIP"),
        proxy_image=_proxy_image(spec),
    )


def _proxy_image(spec: Obj) -> str | None:
    """istio-proxy's image as the injector wrote it into the pod (a sidecar, or a native sidecar
    among the init containers): its tag is the proxy's release, `proxyv2:1.28.5-asm.9`."""
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if c.get("name") == PROXY and c.get("image"):
            return str(c["image"])
    return None


def _rev_label(labels: dict[str, str], containers: list[str]) -> str | None:
    return labels.get(REV_LABEL) if PROXY in containers else None


def injected_revision(annotation: str | None) -> str | None:
    """The `revision` field of sidecar.istio.io/status (pkg/kube/inject SidecarInjectionStatus)."""
    if not annotation:
        return None
    try:
        value = yaml.load(annotation, Loader=SAFE_LOADER)
    except yaml.YAMLError:
        return None
    return str(value.get("revision")) if isinstance(value, dict) and value.get("revision") else None


def list_pods(cluster: Cluster, namespace: str, run_id: str) -> list[Obj]:
    listing = cluster.read(
        f"LIST pods {namespace}",
        cluster.core.list_namespaced_pod,
        namespace,
        label_selector=ours_selector(run_id),
    )
    return [p for p in listing.get("items") or [] if not p.get("metadata", {}).get("deletionTimestamp")]


def describe(
    namespace: str,
    ns_labels: dict[str, str],
    objs: list[Obj],
    version: str,
    pods: list[Obj],
    source: tuple[str, str],
) -> Workloads:
    facts = Workloads(namespace=namespace, namespace_labels=ns_labels, version=version)
    for obj in objs:
        if obj["kind"] == "Deployment":
            facts.template_labels[obj["metadata"]["name"]] = dict(
                obj["spec"]["template"]["metadata"]["labels"]
            )
            if (obj["metadata"].get("labels") or {}).get("app") == "helloworld":
                facts.replicas += int(obj["spec"].get("replicas", 1))
    facts.pods = [pod_fact(p) for p in pods]
    app, container = source
    src = next((p for p in facts.pods if p.app == app and p.ready), None)
    facts.source_pod, facts.source_container = (src.name if src else None), container
    return facts
