"""istiod's log, as `kubectl logs -c discovery` shows it: `<RFC3339 micro>\t<level>\t<message>`.

Bounded, per istiod (cluster, revision); the remote-secret controller and the start-up sequence
write here. Nothing secret is ever logged (tokens and kubeconfigs stay out, as in istiod).
"""

from __future__ import annotations

import datetime
from collections import deque


def _stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class IstiodLog:
    def __init__(self, limit: int = 2000) -> None:
        self.lines: deque[str] = deque(maxlen=limit)

    def _add(self, level: str, message: str) -> None:
        self.lines.append(f"{_stamp()}\t{level}\t{message}")

    def info(self, message: str) -> None:
        self._add("info", message)

    def warn(self, message: str) -> None:
        self._add("warn", message)

    def error(self, message: str) -> None:
        self._add("error", message)

    def text(self, tail: int | None = None) -> str:
        lines = list(self.lines)
        if tail is not None and tail >= 0:
            lines = lines[-tail:] if tail else []
        return "".join(line + "\n" for line in lines)

    def startup(self, version: str, cluster_id: str, revision: str) -> None:
        self.info('FLAG: --domain="cluster.local"')
        self.info('FLAG: --monitoringAddr=":15014"')
        self.info("initializing mesh configuration ./etc/istio/config/mesh")
        self.info(f'version: {version}-{revision}')
        self.info(f"Using cluster ID {cluster_id}")
        self.info("Starting multicluster remote secrets controller")
        self.info("multicluster remote secrets controller cache synced in 2.103ms")
        self.info("Number of remote clusters: 0")
        self.info("Discovery service started")

    def forbidden(self, user: str, client_go: str = "v0.33.5") -> None:
        """What client-go's reflectors log (through istiod's klog scope) when istiod's account may
        not list what its informers watch: every list is Forbidden, the caches never sync."""
        self.info("Starting multicluster remote secrets controller")
        for plural, kind in (("services", "Service"), ("pods", "Pod"), ("namespaces", "Namespace")):
            self.error(
                f"klog\tk8s.io/client-go@{client_go}/tools/cache/reflector.go:166: "
                f"Failed to watch *v1.{kind}: failed to list *v1.{kind}: {plural} is forbidden: "
                f'User "{user}" cannot list resource "{plural}" in API group "" at the cluster scope'
            )
        self.info("Waiting for caches to be synced")

    def crash(self) -> None:
        self.info('FLAG: --domain="cluster.local"')
        self.error("failed to start discovery service: failed to get mesh config: could not read "
                   "/etc/istio/config/mesh: open /etc/istio/config/mesh: no such file or directory")
        self.error('Error: failed to create discovery service: failed to get mesh config')
