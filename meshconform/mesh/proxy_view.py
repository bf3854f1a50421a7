"""What a source sidecar holds for helloworld: the hosts of its Envoy cluster, as istiod sent them.

On several networks, istiod replaces the endpoints of another network by that network's east-west
gateway (split-horizon EDS, istio/istio pilot/pkg/xds/endpoints/ep_filters.go
`EndpointsByNetworkFilter`): the source's Envoy should hold its own network's pod IPs and, for
every other network, the gateway's address and port with a weight that sums the endpoints behind
it. Where Google's managed control plane serves the source, the same view is the evidence that it
synced the other clusters (no istiod there to ask). It is read once per source pod, after the hello
calls, through the proxy's admin interface:
`pilot-agent request GET clusters?format=json` in istio-proxy (what `istioctl proxy-config
endpoints` reads; envoy admin /clusters, `cluster_statuses[].host_statuses[]`), with each host's
failed connections, which tell a gateway that drops the calls (a firewall on port 15443) apart.
"""

from __future__ import annotations

import json

from meshconform.kube import errors
from meshconform.kube.client import Cluster
from meshconform.mesh.facts import ProxyHost, ProxyView

COMMAND = ["pilot-agent", "request", "GET", "clusters?format=json"]
PROXY = "istio-proxy"
EXEC_TIMEOUT = 30.0  # one admin request to the local Envoy: milliseconds when healthy
SERVICE = "helloworld"
PORT = 5000
CONNECT_FAIL = "cx_connect_fail"  # a counter of host_statuses[].stats: connections that never opened


def envoy_cluster(namespace: str) -> str:
    return f"outbound|{PORT}||{SERVICE}.{namespace}.svc.cluster.local"


def read(cluster: Cluster, namespace: str, pod: str) -> ProxyView:
    name = envoy_cluster(namespace)
    view = ProxyView(pod=pod, cluster_name=name)
    try:
        result = cluster.exec_with_retry(pod, namespace, PROXY, COMMAND, timeout=EXEC_TIMEOUT)
    except errors.KubeError as exc:
        view.problem = f"exec into {pod}/{PROXY} failed: {exc}"
        return view
    if result.exit_code not in (0, None):
        said = (result.stderr or result.stdout).strip().splitlines()
        view.problem = f"`{' '.join(COMMAND)}` in {pod} exited {result.exit_code}: " + (
            said[-1][:160] if said else "no output"
        )
        return view
    try:
        view.hosts = hosts(result.stdout, name)
    except (ValueError, KeyError, TypeError) as exc:
        view.problem = f"the admin /clusters of {pod} is not the JSON Envoy prints ({type(exc).__name__})"
    return view


def hosts(admin_json: str, name: str) -> list[ProxyHost]:
    """The hosts of Envoy cluster `name` in /clusters?format=json."""
    doc = json.loads(admin_json)
    out: list[ProxyHost] = []
    for status in doc.get("cluster_statuses") or []:
        if status.get("name") != name:
            continue
        for host in status.get("host_statuses") or []:
            sock = (host.get("address") or {}).get("socket_address") or {}
            port, weight = int(sock.get("port_value") or 0), int(host.get("weight") or 1)
            stats = host.get("stats") or []
            failed = sum(int(s.get("value") or 0) for s in stats if s.get("name") == CONNECT_FAIL)
            out.append(ProxyHost(str(sock["address"]), port, weight, failed))
    return out
