"""Diagnostics for a failed check: what a person would run by hand next, read through the API.

Which blocks are worth reading depends on what failed (its area): a join failure wants B's
remote secrets decoded, istiod's /debug/clusterz and its log; a traffic failure the caller's
sidecar view of helloworld's endpoints; an injection failure the pods, events and istio-proxy
logs (`plan`). Each reader returns a titled block of text shaped like the command it stands for,
with that command shown, so the report can be compared with a terminal: `kubectl get pods` +
events, `kubectl logs` tails, `istioctl remote-clusters` (istiod's /debug/clusterz,
pilot/pkg/xds/debug.go), `istioctl proxy-config endpoints` (Envoy's admin /clusters?format=json
read through `pilot-agent request`, as istioctl/pkg/writer/envoy/clusters/clusters.go prints it)
and the remote secrets decoded the way istiod's secret controller reads them. No reader shows a
token: a remote secret's token appears only as a SHA-256 fingerprint. Every block is bounded.
The run reads them once per failure (run/diagnose.py); the report only shows them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshconform.kube import errors
from meshconform.kube.client import REQUEST_TIMEOUT, Cluster, Obj
from meshconform.kube.waits import pod_state
from meshconform.mesh import remote_secrets, secret_inspection
from meshconform.mesh.facts import MeshFacts, split_pair

ISTIO_NS = remote_secrets.ISTIO_NS
SERVICE = "helloworld"
MAX_LINES = 60
MAX_CHARS = 6000
LOG_TAIL = 40  # lines of a container log: the last start-up or the last errors
EVENTS = 20


@dataclass(frozen=True)
class Section:
    title: str
    command: str  # the equivalent command a person would type
    text: str


Clusters = dict[str, Cluster]
Step = tuple[str, str, Callable[[], Section]]  # (cache key, cluster, reader)


def bounded(text: str, keep: str = "head", lines: int = MAX_LINES, chars: int = MAX_CHARS) -> str:
    """At most `lines` lines and `chars` characters, from the head or the tail, saying what was cut."""
    rows = text.rstrip("\n").splitlines()
    notes = [f"{len(rows) - lines} more lines not shown"] if len(rows) > lines else []
    out = "\n".join(rows[-lines:] if keep == "tail" else rows[:lines])
    if len(out) > chars:
        notes.append(f"cut to {chars} characters")
        out = out[-chars:] if keep == "tail" else out[:chars]
    if not notes:
        return out
    note = f"... ({'; '.join(notes)})"
    return f"{note}\n{out}" if keep == "tail" else f"{out}\n{note}"


def pods(cluster: Cluster, namespace: str, selector: str = "") -> Section:
    listing = cluster.read(
        f"LIST pods {namespace}",
        cluster.core.list_namespaced_pod,
        namespace,
        label_selector=selector,
        retry=False,
    )
    items = sorted(listing.get("items") or [], key=lambda p: p["metadata"]["name"])
    rows = [pod_state(p) for p in items] or ["(no pods)"]
    sel = f" -l {selector}" if selector else ""
    title = f"pods in {namespace} ({cluster.name})"
    return Section(title, f"kubectl get pods -n {namespace}{sel}", bounded("\n".join(rows)))


def events(cluster: Cluster, namespace: str) -> Section:
    what = f"LIST events {namespace}"
    listing = cluster.read(what, cluster.core.list_namespaced_event, namespace, retry=False)
    items = sorted(listing.get("items") or [], key=_event_time)[-EVENTS:]
    rows = [
        f"{_event_time(e)}  {e.get('type', '')}  {e.get('reason', '')}  "
        f"{e.get('involvedObject', {}).get('kind', '')}/{e.get('involvedObject', {}).get('name', '')}: "
        f"{' '.join(str(e.get('message', '')).split())}"
        + (f" (x{e['count']})" if (e.get("count") or 1) > 1 else "")
        for e in items
    ]
    return Section(
        f"recent events in {namespace} ({cluster.name})",
        f"kubectl get events -n {namespace} --sort-by=.lastTimestamp",
        bounded("\n".join(rows) or "(no events)", keep="tail"),
    )


def _event_time(event: Obj) -> str:
    meta = event.get("metadata") or {}
    return str(event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp") or "")


def log_tail(cluster: Cluster, namespace: str, pod: str, container: str) -> Section:
    text = cluster.read(
        f"GET pods/log {namespace}/{pod} -c {container}",
        cluster.core.read_namespaced_pod_log,
        pod,
        namespace,
        container=container,
        tail_lines=LOG_TAIL,
        raw=False,
        retry=False,
        _request_timeout=REQUEST_TIMEOUT,
    )
    return Section(
        f"log of {container} in {namespace}/{pod} ({cluster.name}), last {LOG_TAIL} lines",
        f"kubectl logs -n {namespace} {pod} -c {container} --tail={LOG_TAIL}",
        bounded(str(text or "(empty)"), keep="tail"),
    )


def clusterz(cluster: Cluster, istiod_pod: str) -> Section:
    entries = secret_inspection.clusterz(cluster, istiod_pod)
    rows = [f"{'NAME':<20} {'SECRET':<48} {'STATUS':<10} ISTIOD"]
    rows += [
        f"{e.get('id', ''):<20} {e.get('secretName', ''):<48} {e.get('syncStatus', ''):<10} {istiod_pod}"
        for e in entries
    ]
    return Section(
        f"istiod's remote clusters in {cluster.name} (/debug/clusterz)",
        f"kubectl exec -n {ISTIO_NS} {istiod_pod} -c discovery -- pilot-discovery request GET "
        "/debug/clusterz   # what istioctl remote-clusters shows",
        bounded("\n".join(rows)),
    )


def remote_secret_listing(cluster: Cluster, expected: str | None = None) -> Section:
    """Every secret istiod in `cluster` reads, decoded; `expected` is the one a pair needs."""
    found = remote_secrets.remote_secrets(cluster)
    rows: list[str] = []
    if expected and expected not in found:
        missing = remote_secrets.get_secret(cluster, expected) is None
        state = "NOT FOUND" if missing else "present but not labelled istio/multiCluster=true"
        rows.append(f"{ISTIO_NS}/{expected}: {state}")
    for name, secret in sorted(found.items()):
        rows += describe_secret(name, secret)
    return Section(
        f"remote secrets in {cluster.name} (decoded; tokens as fingerprints only)",
        f"kubectl get secrets -n {ISTIO_NS} -l {remote_secrets.MULTICLUSTER_LABEL}=true",
        bounded("\n".join(rows) or "(no secret labelled istio/multiCluster=true)"),
    )


def describe_secret(name: str, secret: Obj) -> list[str]:
    rows = [f"{ISTIO_NS}/{name}: annotation {secret_inspection.annotation(secret)}"]
    for key, value in sorted(remote_secrets.decode_data(secret).items()):
        rows.append(f"  key {key!r}: {_kubeconfig_facts(value)}")
    return rows


def _kubeconfig_facts(text: str) -> str:
    try:
        kc = secret_inspection.parse_kubeconfig(text)
    except Exception as exc:  # a YAML error quotes the offending text, which may be a token: type only
        return f"not a usable kubeconfig ({type(exc).__name__})"
    ca = remote_secrets.fingerprint(kc["ca"]) if kc["ca"] else "none"
    token = remote_secrets.fingerprint(kc["token"]) if kc["token"] else "none"
    return f"server {kc['server']}, CA {ca}, auth {kc['auth']}, token {token}"


def endpoints(cluster: Cluster, namespace: str, pod: str, service: str, owners: dict[str, str]) -> Section:
    """What `istioctl proxy-config endpoints POD --cluster 'outbound|...|SERVICE...'` shows."""
    result = cluster.exec(
        pod, namespace, "istio-proxy", ["pilot-agent", "request", "GET", "clusters?format=json"], 20.0
    )
    if result.exit_code not in (0, None):
        text = f"pilot-agent exited {result.exit_code}: {result.stderr.strip()[:300]}"
    else:
        text = endpoint_table(result.stdout, service, owners)
    return Section(
        f"endpoints of {service} as the sidecar of {namespace}/{pod} sees them ({cluster.name})",
        f"istioctl proxy-config endpoints {pod}.{namespace} | grep {service}",
        bounded(text),
    )


def endpoint_table(admin_json: str, service: str, owners: dict[str, str]) -> str:
    """Envoy's /clusters JSON -> ENDPOINT STATUS OUTLIER CHECK CLUSTER (+ where the IP runs)."""
    try:
        doc: Any = json.loads(admin_json)
    except ValueError:
        lines = [line for line in admin_json.splitlines() if service in line]
        return "\n".join(lines) or f"(no {service} cluster in the proxy's /clusters output)"
    statuses = doc.get("cluster_statuses", []) if isinstance(doc, dict) else doc
    rows = [f"{'ENDPOINT':<22} {'STATUS':<9} {'OUTLIER CHECK':<14} {'CLUSTER':<52} POD"]
    for status in statuses or []:
        name = str(status.get("name", ""))
        if service not in name:
            continue
        for host in status.get("host_statuses") or status.get("hostStatuses") or []:
            rows.append(_endpoint_row(name, host, owners))
    if len(rows) == 1:
        return f"(the proxy knows no endpoint of {service}: its istiod sent none)"
    return "\n".join(rows)


def _endpoint_row(cluster_name: str, host: dict[str, Any], owners: dict[str, str]) -> str:
    address = host.get("address") or {}
    addr = address.get("socket_address") or address.get("socketAddress") or {}
    ip, port = addr.get("address", "?"), addr.get("port_value", addr.get("portValue", "?"))
    health = host.get("health_status") or host.get("healthStatus") or {}
    status = health.get("eds_health_status") or health.get("edsHealthStatus") or "UNKNOWN"
    outlier = "FAILED" if health.get("failed_outlier_check") or health.get("failedOutlierCheck") else "OK"
    return f"{f'{ip}:{port}':<22} {status:<9} {outlier:<14} {cluster_name:<52} {owners.get(str(ip), '?')}"


def pod_ips(cluster: Cluster, namespace: str) -> dict[str, str]:
    """podIP -> `cluster/pod`, to say where each endpoint of the proxy's view runs."""
    try:
        what = f"LIST pods {namespace}"
        listing = cluster.read(what, cluster.core.list_namespaced_pod, namespace, retry=False)
    except errors.KubeError:
        return {}
    out: dict[str, str] = {}
    for pod in listing.get("items") or []:
        ip = (pod.get("status") or {}).get("podIP")
        if ip:
            out[str(ip)] = f"{cluster.name}/{pod['metadata']['name']}"
    return out


# -- what to read for which area ------------------------------------------------------------------


def plan(clusters: Clusters, facts: MeshFacts, area: str | None, target: str) -> list[Step]:
    """What to read when a check of `area` fails for `target`, each block with its cache key."""
    if area in ("control", "trust"):
        return _istiod(clusters, facts, target)
    if area == "names":
        return _secrets(clusters, target, None) + _clusterz(clusters, facts, target)
    if area == "join":
        a, b = split_pair(target)
        found = facts.pairs.get(target)  # A's secret may have another name (it reaches A)
        name = found.name if found and found.present else remote_secrets.secret_name(a)
        steps = _secrets(clusters, b, name) + _clusterz(clusters, facts, b)
        return steps + _istiod_log(clusters, facts, b)
    if area == "injection":
        return _workloads(clusters, facts, target)
    if area == "traffic" and "->" in target:  # the servers' view: the caller's endpoints, B's pods
        a, b = split_pair(target)
        return _endpoints(clusters, facts, a) + _workloads(clusters, facts, b, with_events=False)
    if area == "traffic":
        steps = _endpoints(clusters, facts, target) + _clusterz(clusters, facts, target)
        return steps + _workloads(clusters, facts, target, with_events=False)
    return []


def _istiod_pod(facts: MeshFacts, name: str) -> str | None:
    c = facts.clusters.get(name)
    revision = facts.revision_of(name) if c else None  # the cluster's own, mid-upgrade
    pods = [p for p in (c.control.istiod if c and c.control else []) if p.revision == revision]
    pods.sort(key=lambda p: not p.ready)
    return pods[0].name if pods else None


def _istiod(clusters: Clusters, facts: MeshFacts, name: str) -> list[Step]:
    cl = clusters.get(name)
    if cl is None:
        return []
    ns = ISTIO_NS
    steps: list[Step] = [
        (f"istiod pods {name}", name, lambda: pods(cl, ns, "app=istiod")),
        (f"events {ns} {name}", name, lambda: events(cl, ns)),
    ]
    return steps + _istiod_log(clusters, facts, name)


def _istiod_log(clusters: Clusters, facts: MeshFacts, name: str) -> list[Step]:
    cl, pod = clusters.get(name), _istiod_pod(facts, name)
    if cl is None or pod is None:
        return []
    ns = ISTIO_NS
    return [(f"istiod log {name}", name, lambda: log_tail(cl, ns, pod, "discovery"))]


def _clusterz(clusters: Clusters, facts: MeshFacts, name: str) -> list[Step]:
    cl, pod = clusters.get(name), _istiod_pod(facts, name)
    if cl is None or pod is None:
        return []
    return [(f"clusterz {name}", name, lambda: clusterz(cl, pod))]


def _secrets(clusters: Clusters, name: str, expected: str | None) -> list[Step]:
    cl = clusters.get(name)
    if cl is None:
        return []
    return [(f"secrets {name} {expected}", name, lambda: remote_secret_listing(cl, expected))]


def _workloads(clusters: Clusters, facts: MeshFacts, name: str, with_events: bool = True) -> list[Step]:
    cl = clusters.get(name)
    if cl is None:
        return []
    ns = facts.namespace
    steps: list[Step] = [(f"pods {ns} {name}", name, lambda: pods(cl, ns))]
    if with_events:
        steps.append((f"events {ns} {name}", name, lambda: events(cl, ns)))
    wl = facts.clusters[name].workloads if name in facts.clusters else None
    unready = [p.name for p in (wl.pods if wl else []) if p.has_proxy and not p.ready]
    pod = unready[0] if unready else (wl.source_pod if wl else None)
    if pod:
        key = f"proxy log {name} {pod}"
        steps.append((key, name, lambda: log_tail(cl, ns, pod, "istio-proxy")))
    return steps


def _endpoints(clusters: Clusters, facts: MeshFacts, name: str) -> list[Step]:
    cl = clusters.get(name)
    wl = facts.clusters[name].workloads if name in facts.clusters else None
    if cl is None or wl is None or not wl.source_pod:
        return []
    pod, ns = wl.source_pod, facts.namespace

    def read() -> Section:
        owners: dict[str, str] = {}
        for other in clusters.values():
            if not facts.clusters.get(other.name) or facts.clusters[other.name].usable:
                owners.update(pod_ips(other, ns))
        return endpoints(cl, ns, pod, SERVICE, owners)

    return [(f"endpoints {name} {pod}", name, read)]
