"""One curl run inside a pod: URL -> DNS -> sidecar or kube-proxy -> the app's answer, as a Transfer.

The URL is taken apart as curl does (no scheme means http, default port 80); the host resolves in
the caller's cluster (net.Caller). A container behind istio-proxy connects to Envoy through the
iptables redirect: a proxy that is not ready has no outbound listener yet, so the connection is
refused; a Service IP and port it knows go to its load balancer (envoy.Envoy); anything else passes
through. Without a sidecar, a Service IP goes through kube-proxy to a local endpoint and a pod IP
is dialled directly; a sidecar under a STRICT PeerAuthentication resets that plain text (curl 56).
https to these plain-HTTP ports fails the TLS handshake as OpenSSL reports it.
"""

from __future__ import annotations

import email.utils
import re
from typing import Any

from ..apiserver.lab_cluster import LabCluster
from ..istio import template as tmpl
from . import apps, curlargs, net, stats
from .curl import Transfer
from .envoy import Envoy, Response, proxy_state, signing_domain

Obj = dict[str, Any]
_URL = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<host>\[[^\]]*\]|[^/:?#]*)"
                  r"(?::(?P<port>[^/?#]*))?(?P<path>[/?#].*)?$")
DIRECT_HEADERS = (("Server", "gunicorn/20.0.4"), ("Connection", "close"))


class Session:
    def __init__(self, caller: net.Caller) -> None:
        self.caller = caller
        self._envoy: Envoy | None = None

    @property
    def envoy(self) -> Envoy:
        if self._envoy is None:
            self._envoy = Envoy(self.caller)
        return self._envoy

    def fetch(self, url: str, method: str, headers: list[str], o: curlargs.Options) -> Transfer:
        m = _URL.match(url)
        scheme = ((m.group("scheme") if m else None) or "http").lower()
        host = m.group("host") if m else ""
        if m is None or not host:
            return Transfer(url, method=method, error=(3, "URL rejected: No host part in the URL"))
        port_text = m.group("port")
        if port_text is not None and (not port_text.isdigit() or int(port_text) > 65535):
            return Transfer(
                url,
                method=method,
                error=(3, "URL rejected: Port number was not a decimal number between 0 and 65535"),
            )
        if scheme not in ("http", "https"):
            return Transfer(url, method=method, error=(1, f'Protocol "{scheme}" not supported'))
        port = int(port_text) if port_text else (443 if scheme == "https" else 80)
        path = m.group("path") or "/"
        path = path if path.startswith("/") else "/" + path
        shown = url if "://" in url else f"http://{url}"
        t = self._fetch(host.strip("[]"), port, method, path)
        t.url = shown if m.group("path") else shown + "/"
        if scheme == "https" and t.error is None:
            return Transfer(
                t.url,
                seconds=t.connect,
                remote_ip=t.remote_ip,
                remote_port=port,
                method=method,
                error=(35, "OpenSSL/3.5.2: error:0A00010B:SSL routines::wrong version number"),
            )
        return t

    def _fetch(self, host: str, port: int, method: str, path: str) -> Transfer:
        c = self.caller
        resolved = c.resolve(host)
        if resolved is None:
            return Transfer("", method=method, seconds=0.004, error=(6, f"Could not resolve host: {host}"))
        ip, svc = resolved
        base = Transfer("", method=method, remote_ip=ip, remote_port=port, local_ip=_pod_ip(c.pod))
        if c.sidecar and ip != "127.0.0.1":
            if not c.proxy_ready():
                return _refused(base, host, port)
            if svc is not None and any(int(p.get("port", 0)) == port for p in svc["spec"].get("ports") or []):
                return _from_envoy(base, self.envoy.request(svc, port, method, path))
        return self._direct(base, host, port, method, path, svc)

    def _direct(self, t: Transfer, host: str, port: int, method: str, path: str, svc: Obj | None) -> Transfer:
        c = self.caller
        target: tuple[LabCluster, Obj, int] | None
        if t.remote_ip == "127.0.0.1":
            target = (c.cluster, c.pod, port)
        elif svc is not None:
            target = c.kube_proxy(svc, port)
            if target is None:
                return _refused(t, host, port)
        else:
            hit = c.pod_by_ip(t.remote_ip)
            if hit is None:
                return _unroutable(t, host, port)
            target = (hit[0], hit[1], port)
        cluster, pod, tport = target
        if net.partitioned(c.cluster, cluster):
            return _refused(t, host, port)
        if not net.routable(c.cluster, cluster):
            return _unroutable(t, host, port)
        rtt = net.rtt(c.cluster, cluster)
        if pod is not c.pod and tmpl.injected(pod) and net.strict_mtls(cluster, pod):
            t.seconds = t.connect = rtt     # the server's sidecar wants mTLS and resets plain text
            t.error = (56, "Recv failure: Connection reset by peer")
            return t
        errors = cluster.faults.touches("hello-errors", cluster.name)
        local_only = cluster.faults.touches("hello-localhost", cluster.name)
        on_lo = t.remote_ip == "127.0.0.1" or (tmpl.injected(pod) and apps.inbound_on_loopback(pod))
        reply = apps.serve(pod, tport, method, path, errors, c.rng, local_only, on_lo)
        if reply is None:
            return _refused(t, host, port, rtt)
        t.status, t.body, t.connect = reply.status, reply.body, rtt
        t.headers = [*DIRECT_HEADERS, ("Date", email.utils.formatdate(usegmt=True)), *reply.headers,
                     ("Content-Length", str(len(reply.body)))]
        t.seconds = rtt * 2 + reply.server_ms / 1000
        served = svc if svc is not None else _service_of(cluster, pod)
        if pod is not c.pod and tmpl.injected(pod) and served is not None:
            _count_plaintext(c, cluster, pod, served, reply.status, t.seconds * 1000)
        return t


def _count_plaintext(c: net.Caller, cluster: LabCluster, pod: Obj, svc: Obj, code: int, ms: float) -> None:
    """A PERMISSIVE server sidecar takes plain text and counts it: no peer identity, no metadata."""
    req = stats.Request(stats.Peer(c.cluster, None), stats.Peer(cluster, pod), svc, code, False, ms,
                        signing_domain(cluster))
    stats.record(proxy_state(cluster, pod).metrics, req, "destination", cluster, pod)


def _service_of(cluster: LabCluster, pod: Obj) -> Obj | None:
    """The Service whose Endpoints hold the pod: the inbound cluster's service, for a pod-IP call."""
    ns, ip = pod["metadata"]["namespace"], _pod_ip(pod)
    for ep in cluster.store.iter("endpoints", ns):
        if any(a.get("ip") == ip for s in ep.get("subsets") or [] for a in s.get("addresses") or []):
            return cluster.store.find("services", ns, ep["metadata"]["name"])
    return None


def _pod_ip(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("podIP") or "")


def _from_envoy(t: Transfer, r: Response) -> Transfer:
    t.status, t.body, t.headers, t.seconds = r.status, r.body, r.headers, r.seconds + 0.0002
    t.connect = 0.0001  # to the local Envoy
    return t


def _refused(t: Transfer, host: str, port: int, after: float = 0.0002) -> Transfer:
    t.seconds = t.connect = after
    t.error = (
        7,
        f"Failed to connect to {host} port {port} after {max(0, round(after * 1000))} ms: "
        "Could not connect to server",
    )
    return t


def _unroutable(t: Transfer, host: str, port: int) -> Transfer:
    """No route: SYNs go unanswered until the kernel gives up (about two minutes), unless -m ends it first."""
    t.seconds = t.connect = 130.0
    t.error = (7, f"Failed to connect to {host} port {port} after 130000 ms: Could not connect to server")
    return t
