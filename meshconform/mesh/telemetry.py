"""The receiving side of the traffic step: what each helloworld pod's sidecar counted, per caller.

Istio's sidecars count every request they handle in the standard metric `istio_requests_total`
(istio.io/latest/docs/reference/config/metrics/); the server's proxy reports it with
reporter="destination" and labels that say who called and how: source_cluster (the caller proxy's
cluster ID, from the metadata exchange), source_principal (the caller's SPIFFE identity, from the
mTLS handshake), connection_security_policy (mutual_tls or none) and response_code. Reading it
before and after the calls, one exec per helloworld pod per reading (`pilot-agent request GET
stats/prometheus` in istio-proxy: the proxy's own admin endpoint, as istioctl's `experimental
envoy-stats` and the agent's merged :15020 endpoint read it), gives what the servers saw of this
run's calls: the counter only grows while the sidecar lives, so the difference is this run's
(and any concurrent caller's, told apart by source labels).

The text is Prometheus exposition format; prometheus_client's parser (the Prometheus project's
own Python library) reads it, so that label escaping, histograms and `# TYPE` lines are handled
as Prometheus does rather than by a regular expression of ours.

When a reading cannot be had (exec refused, the endpoint answers an error), the pod's problem is
kept with the command's own words; where the sidecars counted nothing, the Telemetry resources
that disable Istio's request metrics in istio-system or the run's namespace are listed (two more
reads, only then), so that an empty view can say why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

from meshconform.kube import errors
from meshconform.kube.client import Cluster, Obj
from meshconform.kube.fanout import parallel
from meshconform.mesh.facts import MeshFacts, Received, ServerView

log = logging.getLogger("meshconform.mesh.telemetry")
STATS_COMMAND = ["pilot-agent", "request", "GET", "stats/prometheus"]
PROXY = "istio-proxy"
METRIC = "istio_requests_total"
TYPE_LINE = f"# TYPE {METRIC} "
EXEC_TIMEOUT = 30.0  # one admin request to the local Envoy: milliseconds when healthy
ISTIO_NS = "istio-system"
Key = tuple[str, str, str, str]  # source_cluster, source_principal, security, response_code
Reading = dict[str, dict[Key, float] | str]  # pod -> counts, or why it could not be read


def only_requests(text: str) -> str:
    """The counter's own lines: a proxy prints thousands of Envoy stats and a histogram line per
    bucket around it (megabytes on a busy proxy; 170 kB for 8 callers in the lab), which the parser
    need not read (it took 0.25 s a pod for the lab's)."""
    starts = (METRIC + "{", METRIC + " ", TYPE_LINE)
    return "".join(line for line in text.splitlines(keepends=True) if line.startswith(starts))


def parse(text: str) -> dict[Key, float]:
    """Destination-reported istio_requests_total of one proxy, summed per caller and outcome."""
    counts: dict[Key, float] = {}
    for family in text_string_to_metric_families(only_requests(text)):
        for sample in family.samples:
            if sample.name != METRIC or sample.labels.get("reporter") != "destination":
                continue
            lbl = sample.labels
            key = (
                lbl.get("source_cluster", ""),  # "" when the proxy does not label it at all
                lbl.get("source_principal", "unknown"),
                lbl.get("connection_security_policy", "unknown"),
                lbl.get("response_code", ""),
            )
            counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def read_pod(cluster: Cluster, namespace: str, pod: str) -> dict[Key, float] | str:
    try:
        result = cluster.exec_with_retry(pod, namespace, PROXY, STATS_COMMAND, timeout=EXEC_TIMEOUT)
    except errors.KubeError as exc:
        return f"exec into {pod}/{PROXY} failed: {exc}"
    if result.exit_code != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        return f"`pilot-agent request GET stats/prometheus` in {pod} exited {result.exit_code}: " + (
            said[-1][:160] if said else "no output"
        )
    try:
        return parse(result.stdout)
    except ValueError as exc:
        return f"the stats of {pod} are not Prometheus text: {exc}"


def read_cluster(cluster: Cluster, namespace: str, pods: Iterable[str]) -> Reading:
    return {pod: read_pod(cluster, namespace, pod) for pod in pods}


def server_pods(facts: MeshFacts, name: str) -> list[str]:
    wl = facts.clusters[name].workloads
    return [p.name for p in wl.pods if p.app == "helloworld" and p.ready and p.has_proxy] if wl else []


def read_all(up: list[Cluster], facts: MeshFacts, stop: threading.Event) -> dict[str, Reading]:
    """One reading of every helloworld sidecar, clusters in parallel."""
    readings: dict[str, Reading] = {}
    started = time.monotonic()

    def one(c: Cluster) -> None:
        readings[c.name] = read_cluster(c, facts.namespace, server_pods(facts, c.name))

    parallel(one, up, stop)
    took = time.monotonic() - started
    log.debug("read %d sidecars' stats in %.2fs", sum(map(len, readings.values())), took)
    return readings


def record(
    up: list[Cluster], facts: MeshFacts, before: dict[str, Reading], after: dict[str, Reading]
) -> None:
    """The difference per pod and caller into facts.server_view, with the Telemetry resources."""
    for c in up:
        view = ServerView(pods=list(after.get(c.name, {})))
        view.execs = len(before.get(c.name, {})) + len(after.get(c.name, {}))
        for pod, now in after.get(c.name, {}).items():
            was = before.get(c.name, {}).get(pod, {})
            problem = now if isinstance(now, str) else was if isinstance(was, str) else None
            if problem is not None:
                view.problems[pod] = problem
                continue
            assert isinstance(now, dict) and isinstance(was, dict)
            view.received += _delta(pod, was, now)
        if not view.received and not view.problems:  # counted nothing: were the metrics turned off?
            view.telemetry_off = metrics_disabled_by(c, facts.namespace)
        facts.server_view[c.name] = view


def _delta(pod: str, was: dict[Key, float], now: dict[Key, float]) -> list[Received]:
    out = []
    for key, value in sorted(now.items()):
        calls = round(value - was.get(key, 0.0))
        if calls > 0:
            out.append(Received(pod, *key, calls=calls))
    return out


def metrics_disabled_by(cluster: Cluster, namespace: str) -> list[str]:
    """Telemetry resources (telemetry.istio.io) in istio-system or the namespace whose metrics
    overrides disable request metrics for the server side (istio/api telemetry/v1alpha1)."""
    found = []
    for ns in (ISTIO_NS, namespace):
        for item in _telemetries(cluster, ns):
            if _disables(item):
                found.append(f"{ns}/{item['metadata']['name']}")
    return found


def _telemetries(cluster: Cluster, namespace: str) -> list[Obj]:
    try:
        listing = cluster.read(
            f"LIST telemetries {namespace}",
            cluster.custom.list_namespaced_custom_object,
            "telemetry.istio.io",
            "v1alpha1",
            namespace,
            "telemetries",
        )
    except errors.KubeError as exc:  # no Telemetry API before Istio 1.11: nothing to disable metrics
        log.debug("%s: no Telemetry resources listed in %s (%s)", cluster.name, namespace, exc)
        return []
    return list(listing.get("items") or [])


def _disables(telemetry: Obj) -> bool:
    for entry in (telemetry.get("spec") or {}).get("metrics") or []:
        providers = [p.get("name") for p in entry.get("providers") or []]
        if providers and "prometheus" not in providers:
            continue
        for o in entry.get("overrides") or []:
            match = o.get("match") or {}
            server_side = match.get("mode", "CLIENT_AND_SERVER") in ("CLIENT_AND_SERVER", "SERVER")
            request_count = match.get("metric", "ALL_METRICS") in ("ALL_METRICS", "REQUEST_COUNT")
            if o.get("disabled") and server_side and request_count:
                return True
    return False
