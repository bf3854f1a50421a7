"""Istio's standard metrics, kept by each emulated sidecar and printed as Envoy's /stats/prometheus.

Every request a sidecar handles is counted twice, as Istio's stats filter does: by the client's
proxy (reporter="source") and by the server's (reporter="destination"), in the counter
`istio_requests_total` and the histogram `istio_request_duration_milliseconds`. Names and labels
are those of Istio's standard metrics page (istio.io/latest/docs/reference/config/metrics/, the
same set since 1.7), in the order the proxy prints them (response_code first: Envoy's tag
extraction pulls it out of the stat name before the rest). Who the peer is comes from the mTLS
handshake (source_principal `spiffe://<trust domain>/ns/<ns>/sa/<service account>`) and from the
metadata exchange (source_workload, source_cluster = the peer proxy's ISTIO_META_CLUSTER_ID); a
plaintext caller without a sidecar exchanges none, so a server sees "unknown" and
connection_security_policy="none" (istio/proxy extensions/stats/plugin.cc; the label values
istio/istio tests/integration/telemetry/stats/prometheus/stats.go expects).

The text is Envoy's Prometheus exposition (source/server/admin/prometheus_stats.cc): a `# TYPE`
line per metric, counters before histograms, no HELP lines, one `_bucket` line per bound of
Envoy's default histogram buckets (printed as C++ prints doubles: 1.8e+06), then `+Inf`, `_sum`
and `_count`. A metric is printed only once it has been incremented (Envoy's `usedonly` behaviour
for Istio's dynamically created stats): a sidecar that received nothing prints no series.

Metrics can be turned off by the Telemetry API (telemetry.istio.io Telemetry, istio/api
telemetry/v1alpha1/telemetry.proto: `metrics[].overrides[].disabled`, match metric ALL_METRICS or
REQUEST_COUNT, mode CLIENT / SERVER / CLIENT_AND_SERVER); the most specific resource wins: one
selecting the workload, else the namespace's, else the root namespace's (istio-system).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..istio import revisions as rv
from ..istio import template as tmpl

Obj = dict[str, Any]
TELEMETRY = "telemetries.telemetry.istio.io"
COUNTER = "istio_requests_total"
HISTOGRAM = "istio_request_duration_milliseconds"
# Envoy's default histogram buckets (source/common/stats/histogram_impl.h, supportedBuckets).
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
           600000, 1800000, 3600000)
Labels = tuple[tuple[str, str], ...]


@dataclass
class Series:
    count: int = 0
    total_ms: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))

    def observe(self, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        for i, bound in enumerate(BUCKETS):
            if ms <= bound:
                self.buckets[i] += 1


@dataclass(frozen=True)
class Peer:
    """One side of a request as the stats filter knows it (from the pod and its proxy's env)."""

    cluster: LabCluster
    pod: Obj | None  # None: a caller whose identity the server cannot know (plain text)

    def labels(self, side: str, trust_domain: str) -> list[tuple[str, str]]:
        if self.pod is None:
            keys = ("workload", "workload_namespace", "principal", "app", "version", "canonical_service",
                    "canonical_revision")
            return [(f"{side}_{k}", "unknown") for k in keys]
        meta = self.pod["metadata"]
        labels = meta.get("labels") or {}
        ns = str(meta.get("namespace", ""))
        sa = str(self.pod["spec"].get("serviceAccountName") or "default")
        app = str(labels.get("app", "unknown"))
        version = str(labels.get("version", "unknown"))
        revision = str(labels.get("version", "latest"))
        return [
            (f"{side}_workload", tmpl.workload(self.pod)[0]),
            (f"{side}_workload_namespace", ns),
            (f"{side}_principal", f"spiffe://{trust_domain}/ns/{ns}/sa/{sa}"),
            (f"{side}_app", app),
            (f"{side}_version", version),
            (f"{side}_canonical_service", str(labels.get(tmpl.CANONICAL_NAME, app))),
            (f"{side}_canonical_revision", str(labels.get(tmpl.CANONICAL_REV, revision))),
        ]

    def cluster_id(self) -> str:
        if self.pod is None:
            return "unknown"
        for e in (tmpl.proxy(self.pod) or {}).get("env") or []:
            if e.get("name") == "ISTIO_META_CLUSTER_ID":
                return str(e.get("value", ""))
        return "unknown"


@dataclass(frozen=True)
class Request:
    source: Peer
    destination: Peer
    service: Obj
    code: int
    mtls: bool
    milliseconds: float
    trust_domain: str  # the destination's certificate's; the source's below when it differs
    source_domain: str = ""


def labels(req: Request, reporter: str) -> Labels:
    meta = req.service["metadata"]
    host = f"{meta['name']}.{meta['namespace']}.svc.cluster.local"
    src = req.source.labels("source", req.source_domain or req.trust_domain)
    dst = req.destination.labels("destination", req.trust_domain)
    principal_src = src[2] if req.mtls else ("source_principal", "unknown")
    return (
        ("response_code", str(req.code)),
        ("reporter", reporter),
        src[0], src[1], principal_src, src[3], src[4], src[5], src[6],
        ("source_cluster", req.source.cluster_id()),
        dst[0], dst[1], dst[2], dst[3], dst[4],
        ("destination_service", host),
        dst[5], dst[6],
        ("destination_service_name", str(meta["name"])),
        ("destination_service_namespace", str(meta["namespace"])),
        ("destination_cluster", req.destination.cluster_id()),
        ("request_protocol", "http"),
        ("response_flags", "-"),
        ("grpc_response_status", ""),
        ("connection_security_policy", "mutual_tls" if req.mtls else "none"),
    )


def record(series: dict[Labels, Series], req: Request, reporter: str, cluster: LabCluster, pod: Obj) -> None:
    """Count one request in a proxy's series, unless the Telemetry API turned its metrics off."""
    if metrics_enabled(cluster, pod, "SERVER" if reporter == "destination" else "CLIENT"):
        observe(series, labels(req, reporter), req.milliseconds)


def observe(series: dict[Labels, Series], lbls: Labels, ms: float) -> None:
    series.setdefault(lbls, Series()).observe(ms)


def _overrides_off(telemetry: Obj, mode: str) -> bool | None:
    """None when the resource says nothing about metrics; else whether it disables request metrics."""
    entries = (telemetry.get("spec") or {}).get("metrics")
    if not entries:
        return None
    for entry in entries:
        providers = [p.get("name") for p in entry.get("providers") or []]
        if providers and "prometheus" not in providers:
            continue
        for o in entry.get("overrides") or []:
            match = o.get("match") or {}
            metric = match.get("metric", "ALL_METRICS")
            applies = match.get("mode", "CLIENT_AND_SERVER") in ("CLIENT_AND_SERVER", mode)
            if o.get("disabled") and applies and metric in ("ALL_METRICS", "REQUEST_COUNT"):
                return True
    return False


def metrics_enabled(cluster: LabCluster, pod: Obj, mode: str) -> bool:
    ns = str(pod["metadata"]["namespace"])
    pod_labels = pod["metadata"].get("labels") or {}
    ranked: list[tuple[int, Obj]] = []
    for where in dict.fromkeys((ns, rv.ISTIO_NS)):
        for t in cluster.store.iter(TELEMETRY, where):
            sel = ((t.get("spec") or {}).get("selector") or {}).get("matchLabels")
            if sel and not all(pod_labels.get(k) == v for k, v in sel.items()):
                continue
            rank = 2 if where == rv.ISTIO_NS and where != ns else (0 if sel else 1)
            ranked.append((rank, t))
    for _, t in sorted(ranked, key=lambda r: r[0]):
        off = _overrides_off(t, mode)
        if off is not None:
            return not off
    return True


# -- the admin endpoint's text ------------------------------------------------------------------------
def _label_text(lbls: Labels, extra: str = "") -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in lbls)
    return "{" + body + (("," + extra) if extra and body else extra) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return f"{value:g}" if not float(value).is_integer() or abs(value) >= 1e6 else str(int(value))


def _counters(series: dict[Labels, Series]) -> list[str]:
    if not series:
        return []
    return [f"# TYPE {COUNTER} counter"] + [
        f"{COUNTER}{_label_text(lbls)} {s.count}" for lbls, s in sorted(series.items())
    ]


def _histograms(series: dict[Labels, Series]) -> list[str]:
    if not series:
        return []
    lines = [f"# TYPE {HISTOGRAM} histogram"]
    for lbls, s in sorted(series.items()):
        bounds = [*(_number(b) for b in BUCKETS), "+Inf"]
        for bound, n in zip(bounds, [*s.buckets, s.count], strict=True):
            lines.append(f"{HISTOGRAM}_bucket{_label_text(lbls, _le(bound))} {n}")
        lines.append(f"{HISTOGRAM}_sum{_label_text(lbls)} {_shortest(s.total_ms)}")
        lines.append(f"{HISTOGRAM}_count{_label_text(lbls)} {s.count}")
    return lines


def _le(bound: str) -> str:
    return 'le="' + bound + '"'


def _shortest(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


# A few of Envoy's own stats stand in for the thousands it prints around Istio's.
ENVOY_COUNTERS = ["# TYPE envoy_cluster_assignment_stale counter",
                  'envoy_cluster_assignment_stale{cluster_name="xds-grpc"} 0']
ENVOY_GAUGES = ["# TYPE envoy_server_live gauge", "envoy_server_live{} 1"]


def render(series: dict[Labels, Series]) -> str:
    """The proxy's /stats/prometheus: counters, then gauges, then histograms, each sorted by name."""
    lines = ENVOY_COUNTERS + _counters(series) + ENVOY_GAUGES + _histograms(series)
    return "".join(line + "\n" for line in lines)
