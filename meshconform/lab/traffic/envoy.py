"""The caller's sidecar: pick an endpoint its istiod pushed, retry as Istio's default route does.

Load balancing is Envoy's (weighted) round robin, Istio 1.7's default simple policy, with state
kept per proxy across execs as a worker's would be. Locality: when a DestinationRule for the host
(caller's namespace, then the service's, then istio-system) has outlierDetection and does not
disable localityLbSetting, endpoints get priorities by the caller's locality (same zone 0, same
region 1, else 2) and traffic stays on the best priority that has hosts. `skew` weights the
caller's own cluster to 90% of the traffic. Retries follow
pilot/pkg/networking/core/v1alpha3/route/retry/retry.go DefaultPolicy: 2 retries on
connect-failure, refused-stream, unavailable, cancelled, retriable-status-codes (503), with the
previous_hosts predicate (5 host selection attempts). mTLS to a sidecar endpoint needs the same
root CA and trust domain on both sides, else the handshake fails as Envoy reports it.

The caller's sidecar originates Istio mTLS to a sidecar endpoint unless the DestinationRule that
applies to the host (same lookup as above) sets trafficPolicy.tls.mode DISABLE: then it sends plain
text. A server whose effective PeerAuthentication is STRICT has no plain-text filter chain and
closes the connection: the caller answers 503 "upstream connect error or disconnect/reset before
headers. reset reason: connection termination" (response flag UC; not a connect failure, so the
default retry policy does not retry it), the conflict istioctl analyze called IST0113 and Istio's
"Traffic Management Problems" page lists ("503 errors after setting destination rule"). A
PERMISSIVE server takes the plain text and counts it with connection_security_policy="none" and
no principal, but with the caller's metadata (source_cluster, source_workload): a sidecar sends
its metadata in the X-Envoy-Peer-Metadata headers on every outbound HTTP request, with or without
TLS (istio/api mesh/v1alpha1/proxy.proto, proxyHeaders.metadataExchangeHeaders, istio/api#2910).

Across networks (istio/eds.py) the proxy's network is its ISTIO_META_NETWORK, and a host may be a
network gateway's address standing for the pods of its network, weighted by their count. The call
goes to that gateway (`connectTimeout` 10 s of the mesh config when port-15443-closed drops it
between networks; refused when the gateway has no ready pod or, without a Gateway passing *.local
through on 15443, no listener there), whose sni-dnat listener picks one of its network's endpoints
of the service (the SNI names it: outbound_.PORT_._.HOST); mTLS stays end to end, caller to pod.
"""

from __future__ import annotations

import email.utils
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..controllers.registry import PerCluster
from ..istio import eastwest, eds, meshconfig, state
from ..istio import revisions as rv
from ..istio import template as tmpl
from . import apps, net
from . import stats as telemetry

Obj = dict[str, Any]
NUM_RETRIES = 2
RETRY_BACKOFF = 0.025
SKEW_LOCAL_SHARE = 0.9
DR = "destinationrules.networking.istio.io"
TLS_FAILED = "TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED"
REFUSED = "remote connection failure, transport failure reason: delayed connect error: 111"
RESET = "upstream connect error or disconnect/reset before headers. "
CONNECT_TIMEOUT = 10.0  # the mesh config's connectTimeout (istio/meshconfig.py)
TIMED_OUT = "connection timeout"
TERMINATED = "connection termination"  # plain text at a STRICT sidecar: closed, not retried
GATEWAYS = "gateways.networking.istio.io"


@dataclass
class Response:
    status: int
    body: str
    headers: list[tuple[str, str]]
    seconds: float


@dataclass
class ProxyState:
    current: dict[str, dict[tuple[str, str, int], float]] = field(default_factory=dict)
    stats: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    metrics: dict[telemetry.Labels, telemetry.Series] = field(default_factory=dict)  # Istio's standard ones


PROXIES: PerCluster[dict[str, ProxyState]] = PerCluster(lambda c: {})


def proxy_state(cluster: LabCluster, pod: Obj) -> ProxyState:
    return PROXIES(cluster).setdefault(pod["metadata"]["uid"], ProxyState())


def _key(e: eds.Endpoint) -> tuple[str, str, int]:
    return (e.cluster.name, e.ip, e.port)


def _host_matches(pattern: str, dr_ns: str, host: str) -> bool:
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    if "." not in pattern:
        pattern = f"{pattern}.{dr_ns}.{eds.SUFFIX}"
    return pattern == host or f"{pattern}.{eds.SUFFIX}" == host


class Envoy:
    """One exec's view of the caller's sidecar (caches what does not change within one curl run)."""

    def __init__(self, caller: net.Caller) -> None:
        self.caller, self.cluster = caller, caller.cluster
        self.state = proxy_state(caller.cluster, caller.pod)
        self.region, self.zone = eds.locality(caller.cluster, caller.pod)
        self.known = eds.known_clusters(caller.cluster, caller.pod)
        self.network = _proxy_network(caller.pod)  # unset: istiod treats the proxy as in every network
        self.gateways = eds.gateways(self.known)
        self._hosts: dict[tuple[str, str, int], list[eds.Endpoint]] = {}
        self._tls: dict[str, str | None] = {}
        self._plain: dict[tuple[str, str], bool] = {}
        self._series: dict[tuple[str, int], tuple[telemetry.Labels | None, telemetry.Labels | None]] = {}

    # -- endpoint choice -------------------------------------------------------------------------
    def hosts(self, ns: str, name: str, port: int) -> list[eds.Endpoint]:
        key = (ns, name, port)
        if key not in self._hosts:
            eps = eds.split_horizon(eds.endpoints(self.known, ns, name, port), self.network, self.gateways)
            eps = sorted(eps, key=_key)
            if eps and self._locality_lb(ns, name):
                best = min(self._priority(e) for e in eps)
                eps = [e for e in eps if self._priority(e) == best]
            self._hosts[key] = eps
        return self._hosts[key]

    def _priority(self, e: eds.Endpoint) -> int:
        if e.region == self.region:
            return 0 if e.zone == self.zone else 1
        return 2

    def _policy(self, ns: str, name: str) -> Obj:
        """trafficPolicy of the DestinationRule for the host: caller's namespace, the service's, root."""
        host = f"{name}.{ns}.{eds.SUFFIX}"
        for dr_ns in dict.fromkeys((self.caller.namespace, ns, rv.ISTIO_NS)):
            for dr in self.cluster.store.iter(DR, dr_ns):
                spec = dr.get("spec") or {}
                if _host_matches(str(spec.get("host", "")), dr_ns, host):
                    return dict(spec.get("trafficPolicy") or {})
        return {}

    def _locality_lb(self, ns: str, name: str) -> bool:
        tp = self._policy(ns, name)
        lb = (tp.get("loadBalancer") or {}).get("localityLbSetting") or {}
        return bool(tp.get("outlierDetection")) and lb.get("enabled", True) is not False

    def _plaintext(self, svc: Obj) -> bool:
        """The rule's tls.mode DISABLE: this sidecar sends plain text to the host's sidecars."""
        key = (str(svc["metadata"]["namespace"]), str(svc["metadata"]["name"]))
        if key not in self._plain:
            tls = self._policy(*key).get("tls") or {}
            self._plain[key] = str(tls.get("mode")) == "DISABLE"
        return self._plain[key]

    def _weights(self, eps: list[eds.Endpoint]) -> list[float]:
        weights = [float(e.weight) for e in eps]
        if not self.cluster.faults.has("skew"):
            return weights
        local = sum(1 for e in eps if e.cluster is self.cluster)
        if local in (0, len(eps)):
            return weights
        far = len(eps) - local
        return [w * (SKEW_LOCAL_SHARE / local if e.cluster is self.cluster else (1 - SKEW_LOCAL_SHARE) / far)
                for e, w in zip(eps, weights, strict=True)]

    def pick(self, cname: str, eps: list[eds.Endpoint], tried: set[tuple[str, str, int]]) -> eds.Endpoint:
        """Smooth weighted round robin; the previous_hosts predicate skips hosts already tried."""
        cur = self.state.current.setdefault(cname, {})
        weights = self._weights(eps)
        total = sum(weights)
        for e, w in zip(eps, weights, strict=True):
            if _key(e) not in cur:
                cur[_key(e)] = self.caller.rng.random() * w      # workers start at random offsets
            cur[_key(e)] += w
        allowed = [e for e in eps if _key(e) not in tried] or eps    # all tried: Envoy takes one anyway
        chosen = max(allowed, key=lambda e: cur[_key(e)])
        cur[_key(chosen)] -= total
        return chosen

    # -- one request ------------------------------------------------------------------------------
    def request(self, svc: Obj, port: int, method: str, path: str) -> Response:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        cname = eds.cluster_name(ns, name, port)
        eps = self.hosts(ns, name, port)
        if not eps:
            return self._local_reply(503, "no healthy upstream", 0.0003)
        tried: set[tuple[str, str, int]] = set()
        elapsed, failure = 0.0, ""
        for attempt in range(1 + NUM_RETRIES):
            if attempt:
                elapsed += RETRY_BACKOFF * self.caller.rng.uniform(0.5, 1.5) * attempt
            host = self.pick(cname, eps, tried)
            tried.add(_key(host))
            stats = self.state.stats.setdefault(cname, {}).setdefault(f"{host.ip}:{host.port}", Counter())
            stats["rq_total"] += 1
            reply, failure, seconds = self._attempt(host, method, path, svc, port)
            elapsed += seconds
            if reply is not None:
                stats["rq_success" if reply.status < 500 else "rq_error"] += 1
                if reply.status != 503 or attempt == NUM_RETRIES:
                    return self._upstream_reply(reply, elapsed)
            elif failure == TERMINATED:  # reset after connect: outside the default retry_on
                stats["rq_error"] += 1
                return self._local_reply(503, f"{RESET}reset reason: {failure}", elapsed)
            else:
                stats["cx_connect_fail"] += 1
        reason = "retried and the latest reset reason: " if NUM_RETRIES else "reset reason: "
        return self._local_reply(503, f"{RESET}{reason}{failure}", elapsed)

    def _attempt(
        self, host: eds.Endpoint, method: str, path: str, svc: Obj, port: int
    ) -> tuple[apps.Reply | None, str, float]:
        rtt = net.rtt(self.cluster, host.cluster)
        if host.gateway is None:
            return self._deliver(host, method, path, svc, rtt, self.cluster)
        inner, why, spent = self._through_gateway(host.gateway, svc, port)
        if inner is None:
            return None, why, rtt + spent
        rtt += net.rtt(host.cluster, inner.cluster)
        return self._deliver(inner, method, path, svc, rtt, host.cluster)

    def _through_gateway(
        self, gw: eds.Gateway, svc: Obj, port: int
    ) -> tuple[eds.Endpoint | None, str, float]:
        """The east-west gateway's part: accept the connection, pick a pod of its network."""
        if self.cluster.faults.has("port-15443-closed") and not net.same_network(self.cluster, gw.cluster):
            return None, TIMED_OUT, CONNECT_TIMEOUT
        if not _has_ready_pod(gw.cluster, gw.name):
            return None, REFUSED, 0.0
        if not eastwest.passes_through(list(gw.cluster.store.iter(GATEWAYS, rv.ISTIO_NS))):
            return None, REFUSED, 0.0
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        choices = eds.network_endpoints(gw, ns, name, port)
        if not choices:
            return None, TERMINATED, 0.0
        return self.caller.rng.choice(choices), "", 0.0

    def _deliver(
        self, host: eds.Endpoint, method: str, path: str, svc: Obj, rtt: float, origin: LabCluster
    ) -> tuple[apps.Reply | None, str, float]:
        """The last hop, from `origin` (the caller's cluster, or the gateway's) to the pod."""
        if net.partitioned(self.cluster, host.cluster) or not net.routable(origin, host.cluster):
            return None, REFUSED, rtt
        plain = host.sidecar and self._plaintext(svc)
        if plain and net.strict_mtls(host.cluster, host.pod):
            return None, TERMINATED, rtt * 2
        if host.sidecar and not plain:
            why = self._mtls(host.cluster)
            if why is not None:
                return None, f"connection failure, transport failure reason: {why}", rtt * 2
        errors = host.cluster.faults.touches("hello-errors", host.cluster.name)
        local_only = host.cluster.faults.touches("hello-localhost", host.cluster.name)
        on_lo = host.sidecar and apps.inbound_on_loopback(host.pod)
        reply = apps.serve(host.pod, host.port, method, path, errors, self.caller.rng, local_only, on_lo)
        if reply is None:
            return None, REFUSED, rtt
        seconds = rtt * (3 if host.sidecar else 2) + reply.server_ms / 1000
        if host.sidecar:
            self._count(host, svc, reply.status, seconds * 1000, not plain)
        return reply, "", seconds

    def _count(self, host: eds.Endpoint, svc: Obj, code: int, ms: float, mtls: bool = True) -> None:
        """Both proxies count the call: the client's as source, the server's as destination.
        The labels of a (server pod, code) pair are made once per exec: a thousand calls are a loop."""
        key = (str(host.pod["metadata"]["uid"]), code)
        if key not in self._series:
            req = telemetry.Request(
                telemetry.Peer(self.cluster, self.caller.pod), telemetry.Peer(host.cluster, host.pod), svc,
                code, mtls, ms, signing_domain(host.cluster), signing_domain(self.cluster),
            )
            server = telemetry.metrics_enabled(host.cluster, host.pod, "SERVER")
            client = telemetry.metrics_enabled(self.cluster, self.caller.pod, "CLIENT")
            self._series[key] = (
                telemetry.labels(req, "destination") if server else None,
                telemetry.labels(req, "source") if client else None,
            )
        server_labels, client_labels = self._series[key]
        if server_labels is not None:
            telemetry.observe(proxy_state(host.cluster, host.pod).metrics, server_labels, ms)
        if client_labels is not None:
            telemetry.observe(self.state.metrics, client_labels, ms)

    def _mtls(self, other: LabCluster) -> str | None:
        if other.name not in self._tls:
            self._tls[other.name] = None if self._trusted(self.cluster, other) else TLS_FAILED
        return self._tls[other.name]

    @staticmethod
    def _trusted(a: LabCluster, b: LabCluster) -> bool:
        sa, sb = state.of(a), state.of(b)
        if not (sa.trusts(sb.root) and sb.trusts(sa.root)):  # each side validates the other's chain
            return False
        return signing_domain(a) in accepted_domains(b) and signing_domain(b) in accepted_domains(a)

    @staticmethod
    def _local_reply(status: int, body: str, seconds: float) -> Response:
        headers = [
            ("content-length", str(len(body))),
            ("content-type", "text/plain"),
            ("date", _date()),
            ("server", "envoy"),
        ]
        return Response(status, body, headers, seconds)

    @staticmethod
    def _upstream_reply(reply: apps.Reply, seconds: float) -> Response:
        headers = [
            *reply.headers,
            ("content-length", str(len(reply.body.encode()))),
            ("server", "envoy"),
            ("date", _date()),
            ("x-envoy-upstream-service-time", str(max(1, round(reply.server_ms)))),
        ]
        return Response(reply.status, reply.body, headers, seconds)


def _proxy_network(pod: Obj) -> str:
    """The network the proxy says it is on (ISTIO_META_NETWORK, from values.global.network)."""
    for env in (tmpl.proxy(pod) or {}).get("env") or []:
        if env.get("name") == "ISTIO_META_NETWORK":
            return str(env.get("value") or "")
    return ""


def _has_ready_pod(cluster: LabCluster, service: str) -> bool:
    ep = cluster.store.find("endpoints", rv.ISTIO_NS, service)
    return any(s.get("addresses") for s in (ep or {}).get("subsets") or [])


def _mesh(cluster: LabCluster) -> Obj:
    cluster = state.control_cluster(cluster)  # a remote's proxies carry its primary's mesh config
    ist = state.of(cluster)
    rev = ist.revision_names[0] if ist.revision_names else "default"
    return meshconfig.parse_mesh(cluster.store.find("configmaps", rv.ISTIO_NS, rv.mesh_configmap(rev)))


def trust_domain(cluster: LabCluster) -> str:
    """The mesh config's trustDomain: what the proxies validate their peers against."""
    return str(_mesh(cluster).get("trustDomain") or "cluster.local")


def accepted_domains(cluster: LabCluster) -> set[str]:
    """Peers' trust domains a sidecar accepts: the mesh's and its trustDomainAliases."""
    return {trust_domain(cluster), *(str(a) for a in _mesh(cluster).get("trustDomainAliases") or [])}


DYNAMIC_CA_DOMAIN_SINCE = (1, 11)  # istio/istio#32706 (fixes #28756): the CA follows mesh config


def signing_domain(cluster: LabCluster) -> str:
    """The trust domain of the SPIFFE IDs istiod's CA signs. Before Istio 1.11 its Kubernetes JWT
    authenticator took the trust domain once, when istiod started (security/pkg/server/ca/
    authenticate/kube_jwt.go, `trustDomain` set by NewKubeJWTAuthenticator; istio/istio#28756), so a
    trustDomain changed in the mesh config signs nothing new until istiod restarts; from 1.11 it
    reads the mesh config on each request (#32706)."""
    ist = state.of(cluster)
    plan = ist.revisions[0] if ist.revisions else None
    frozen = plan is not None and not rv.at_least(plan.pilot_tag, DYNAMIC_CA_DOMAIN_SINCE)
    if frozen and ist.mesh_values is not None:
        return ist.mesh_values.trust_domain  # the install's: what istiod started with
    return trust_domain(cluster)


def _date() -> str:
    return email.utils.formatdate(usegmt=True)


# -- the admin interface (what `istioctl proxy-config endpoints` reads) ------------------------------------
def admin_clusters(caller: net.Caller, as_json: bool) -> str:
    """Envoy's /clusters: every outbound cluster with its hosts, health, weight and locality."""
    envoy = Envoy(caller)
    statuses = []
    for ns, name, port in eds.services(envoy.known):
        cname = eds.cluster_name(ns, name, port)
        hosts = envoy.hosts(ns, name, port)
        stats = envoy.state.stats.get(cname, {})
        statuses.append(
            (
                cname,
                [
                    (
                        h,
                        envoy._priority(h) if envoy._locality_lb(ns, name) else 0,
                        stats.get(f"{h.ip}:{h.port}", Counter()),
                    )
                    for h in hosts
                ],
            )
        )
    if as_json:
        return _clusters_json(statuses)
    return _clusters_text(statuses)


_COUNTERS = (
    "cx_active",
    "cx_connect_fail",
    "cx_total",
    "rq_active",
    "rq_error",
    "rq_success",
    "rq_timeout",
    "rq_total",
)


def _clusters_text(statuses: list[tuple[str, list[tuple[eds.Endpoint, int, Counter[str]]]]]) -> str:
    lines = []
    for cname, hosts in statuses:
        lines.append(f"{cname}::observability_name::{cname}")
        for band in ("default_priority", "high_priority"):
            limit = "4294967295" if band == "default_priority" else "1024"
            for k in ("max_connections", "max_pending_requests", "max_requests", "max_retries"):
                lines.append(f"{cname}::{band}::{k}::{limit}")
        lines.append(f"{cname}::added_via_api::true")
        for h, prio, st in hosts:
            hp = f"{cname}::{h.ip}:{h.port}"
            lines += [f"{hp}::{k}::{st.get(k, 0)}" for k in _COUNTERS]
            lines += [
                f"{hp}::hostname::",
                f"{hp}::health_flags::healthy",
                f"{hp}::weight::{h.weight}",
                f"{hp}::region::{h.region}",
                f"{hp}::zone::{h.zone}",
                f"{hp}::sub_zone::",
                f"{hp}::canary::false",
                f"{hp}::priority::{prio}",
                f"{hp}::success_rate::-1.0",
                f"{hp}::local_origin_success_rate::-1.0",
            ]
    return "".join(line + "\n" for line in lines)


def _clusters_json(statuses: list[tuple[str, list[tuple[eds.Endpoint, int, Counter[str]]]]]) -> str:
    import json

    out = []
    for cname, hosts in statuses:
        hs = [
            {
                "address": {"socket_address": {"address": h.ip, "port_value": h.port}},
                "stats": [
                    {
                        "name": k,
                        **({"value": str(st[k])} if st.get(k) else {}),
                        **({"type": "GAUGE"} if k.endswith("_active") else {}),
                    }
                    for k in _COUNTERS
                ],
                "health_status": {"eds_health_status": "HEALTHY"},
                "weight": h.weight,
                "locality": {"region": h.region, "zone": h.zone},
                **({"priority": prio} if prio else {}),
            }
            for h, prio, st in hosts
        ]
        out.append(
            {
                "name": cname,
                "added_via_api": True,
                "host_statuses": hs,
                "observability_name": cname,
                "circuit_breakers": {
                    "thresholds": [
                        {
                            "max_connections": 4294967295,
                            "max_pending_requests": 4294967295,
                            "max_requests": 4294967295,
                            "max_retries": 4294967295,
                        },
                        {
                            "priority": "HIGH",
                            "max_connections": 1024,
                            "max_pending_requests": 1024,
                            "max_requests": 1024,
                            "max_retries": 3,
                        },
                    ]
                },
            }
        )
    return json.dumps({"cluster_statuses": out}, indent=1) + "\n"
