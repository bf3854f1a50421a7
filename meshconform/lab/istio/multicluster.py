"""istiod's remote-secret controller: read each istio/multiCluster=true Secret, really connect.

Follows pkg/kube/multicluster/secretcontroller.go: secrets in istio-system labelled
istio/multiCluster=true, one remote cluster per data key (the cluster ID), secret key
`istio-system/<name>`; a key equal to the local cluster ID is ignored ("would overwrite the local
cluster"), an ID already registered by another secret is skipped with a warning, an unchanged
kubeconfig (same SHA-256) is not re-added. Each kubeconfig is parsed and sanitized as
BuildClientsFromConfig does, then the lab lists what istiod's informers list (namespaces, nodes,
pods, services, endpoints) over HTTPS with aiohttp on the lab's loop: the kubeconfig's server, its
certificate-authority-data, its bearer token. A wrong CA fails verification, a dead address fails
to connect, a bad token gets 401, missing RBAC 403. Until the lists succeed the cluster is
"syncing"; after the remote-cluster timeout (PILOT_REMOTE_CLUSTER_TIMEOUT, 30s upstream, short
here) it is "timeout" (cluster.go SyncDidTimeout); informers keep retrying, so a fixed problem
still reaches "synced". One liberty, for the lab's sake: "timeout" needs a list that failed. A real
istiod has its own CPU; the lab's N istiods share one event loop with N API servers, and a 20-cluster
lab starts 380 remote syncs at once, which on a loaded 2-core machine take longer than the short
timeout to get through while every list succeeds. A sync still in its first attempt at the deadline
is left "syncing" (the suite waits for it); one whose lists fail (unreachable, x509, 401, 403)
turns "timeout" at the deadline, or at its first failure after it. ListRemoteClusters (the
/debug/clusterz body) lists the config cluster first, then every remote one: {"id", "secretName",
"syncStatus"} (pkg/cluster/debug.go DebugInfo).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml

from ..apiserver.lab_cluster import LabCluster
from ..controllers.kit import Queue
from . import revisions as rv
from .logs import IstiodLog

Obj = dict[str, Any]
LABEL = "istio/multiCluster"
SYNCING, SYNCED, TIMEOUT, CLOSED = "syncing", "synced", "timeout", "closed"
REMOTE_CLUSTER_TIMEOUT = 2.0        # seconds until "timeout" (upstream default 30s)
REQUEST_TIMEOUT = 1.5               # per HTTPS request; an unreachable API server is a dial timeout
LIST_TIMEOUT = 15.0                 # a list on loopback: a busy lab answers late, never drops it
# Remote syncs the whole lab runs at once. Each is a TLS handshake and five lists on the loop that
# also serves the API servers; 380 at once (a joined 20-cluster lab) starve the suite's own requests
# on a loaded 2-core machine until they time out. Real istiods sync on their own CPUs; here they
# take turns, which only delays "synced" (and "timeout" needs a failed list, above).
SYNCS_AT_ONCE = 32
INFORMERS = (("namespaces", "Namespace"), ("nodes", "Node"), ("pods", "Pod"), ("services", "Service"),
             ("endpoints", "Endpoints"))
_REFLECTOR = "k8s.io/client-go@v0.18.6/tools/cache/reflector.go:125"


class KubeconfigError(ValueError):
    pass


class SyncError(Exception):
    pass


@dataclass
class Kubeconfig:
    server: str
    ca_pem: str | None
    token: str | None
    insecure: bool


def parse_kubeconfig(raw: bytes) -> Kubeconfig:
    """clientcmd.Load + Validate + sanitizeKubeConfig, with their error texts."""
    if not raw:
        raise KubeconfigError("kubeconfig is empty")
    try:
        # libyaml's loader when there: istiod's remote-secret reader parses every secret's kubeconfig.
        doc = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise KubeconfigError(f"kubeconfig cannot be loaded: {e}") from None
    if not isinstance(doc, dict):
        raise KubeconfigError("kubeconfig cannot be loaded: couldn't get version/kind; json parse error")

    def named(key: str) -> dict[str, Obj]:
        return {str(i.get("name")): i for i in doc.get(key) or [] if isinstance(i, dict)}

    contexts, clusters, users = named("contexts"), named("clusters"), named("users")
    current = doc.get("current-context") or ""
    ctx = (contexts.get(current) or {}).get("context")
    if not current or ctx is None:
        raise KubeconfigError(
            f"kubeconfig is not valid: context was not found for specified context: {current}"
        )
    cluster = (clusters.get(ctx.get("cluster")) or {}).get("cluster") or {}
    if not cluster.get("server"):
        raise KubeconfigError(
            f'kubeconfig is not valid: cluster "{ctx.get("cluster")}" has no server defined'
        )
    user = (users.get(ctx.get("user")) or {}).get("user") or {}
    for key, what in (
        ("exec", "exec"),
        ("tokenFile", "tokenFile"),
        ("client-key", "clientKey"),
        ("client-certificate", "clientCertificate"),
    ):
        if user.get(key):
            raise KubeconfigError(f"kubeconfig is not allowed: {what} is not allowed")
    provider = (user.get("auth-provider") or {}).get("name")
    if provider and provider != "oidc":
        raise KubeconfigError(f"kubeconfig is not allowed: auth provider {provider} is not allowed")
    ca = cluster.get("certificate-authority-data")
    try:
        ca_pem = base64.b64decode(ca).decode() if ca else None
    except ValueError:
        raise KubeconfigError("kubeconfig cannot be loaded: illegal base64 data") from None
    return Kubeconfig(
        str(cluster["server"]).rstrip("/"),
        ca_pem,
        user.get("token"),
        bool(cluster.get("insecure-skip-tls-verify")),
    )


@dataclass
class RemoteCluster:
    id: str
    secret_key: str
    sha: bytes
    synced: bool = False
    timed_out: bool = False
    closed: bool = False
    attempts: int = 0
    overdue: bool = False            # the remote-cluster timeout has passed
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    target: LabCluster | None = None

    @property
    def status(self) -> str:
        if self.closed:
            return CLOSED
        if self.synced:
            return SYNCED
        return TIMEOUT if self.timed_out else SYNCING

    def stop(self) -> None:
        self.closed = True
        for h in (self.task, self.timer):
            if h is not None:
                h.cancel()


class SecretController:
    """One per istiod: the remote clusters its secrets name and how far each has synced."""

    def __init__(
        self, cluster: LabCluster, revision: str, log: IstiodLog, timeout: float | None = None
    ) -> None:
        self.cluster, self.revision, self.log = cluster, revision, log
        self.timeout = REMOTE_CLUSTER_TIMEOUT if timeout is None else timeout
        self.local_id = cluster.name
        self.clusters: dict[str, dict[str, RemoteCluster]] = {}  # secret key -> cluster ID -> cluster
        self.queue = Queue(f"secrets/{cluster.name}/{revision}", self.process)

    # -- events --------------------------------------------------------------------------------
    def on_event(self, kind: str, res: str, obj: Obj, old: Obj | None) -> None:
        if res != "secrets" or obj["metadata"].get("namespace") != rv.ISTIO_NS:
            return
        labelled = [
            o
            for o in (obj, old)
            if o is not None and (o["metadata"].get("labels") or {}).get(LABEL) == "true"
        ]
        if labelled:
            self.queue.add(obj["metadata"]["name"])

    def resync(self) -> None:
        for s in self.cluster.store.iter("secrets", rv.ISTIO_NS):
            if (s["metadata"].get("labels") or {}).get(LABEL) == "true":
                self.queue.add(s["metadata"]["name"])

    def process(self, name: str) -> None:
        key = f"{rv.ISTIO_NS}/{name}"
        self.log.info(f"processing secret event for secret {key}")
        secret = self.cluster.store.find("secrets", rv.ISTIO_NS, name)
        if secret is not None and (secret["metadata"].get("labels") or {}).get(LABEL) == "true":
            self.add_secret(key, secret)
        else:
            self.delete_secret(key)

    # -- secrets -> clusters -------------------------------------------------------------------
    def add_secret(self, key: str, secret: Obj) -> None:
        data = {k: base64.b64decode(v or "") for k, v in (secret.get("data") or {}).items()}
        existing = self.clusters.setdefault(key, {})
        for cid in [c for c in existing if c not in data]:
            self._delete(key, cid)
        for cid, raw in sorted(data.items()):
            if cid == self.local_id:
                self.log.info(
                    f"ignoring cluster {cid} from secret {key} as it would overwrite the local cluster"
                )
                continue
            action, prev = "Adding", existing.get(cid)
            sha = hashlib.sha256(raw).digest()
            if prev is not None:
                if prev.sha == sha:
                    self.log.info(
                        f"skipping update of cluster_id={cid} from secret={key}: (kubeconfig are identical)"
                    )
                    continue
                action = "Updating"
            elif any(cid in other for k, other in self.clusters.items() if k != key):
                # secretcontroller.go logs this with %d for a string, hence the odd verb output
                self.log.warn(f"cluster %!d(string={cid}) from secret {key} has already been registered")
                continue
            self.log.info(f"{action} cluster {cid} from secret {key}")
            try:
                kc = parse_kubeconfig(raw)
            except KubeconfigError as e:
                self.log.error(f"{action} cluster_id={cid} from secret={key}: {e}")
                continue
            if prev is not None:
                prev.stop()
            self._start(RemoteCluster(cid, key, sha), kc)
        self.log.info(f"Number of remote clusters: {self.count()}")

    def delete_secret(self, key: str) -> None:
        for cid in list(self.clusters.get(key, {})):
            self._delete(key, cid)
        self.clusters.pop(key, None)
        self.log.info(f"Number of remote clusters: {self.count()}")

    def _delete(self, key: str, cid: str) -> None:
        self.log.info(f"Deleting cluster_id={cid} configured by secret={key}")
        rc = self.clusters[key].pop(cid)
        rc.stop()

    def count(self) -> int:
        return sum(len(v) for v in self.clusters.values())

    def _start(self, rc: RemoteCluster, kc: Kubeconfig) -> None:
        self.clusters.setdefault(rc.secret_key, {})[rc.id] = rc
        rc.target = self._owner(kc.server)
        loop = asyncio.get_running_loop()
        rc.timer = loop.call_later(self.timeout, self._timed_out, rc)
        rc.task = loop.create_task(self._run(rc, kc))
        self.log.info(f"finished callback for {rc.id} and starting to sync")

    def _timed_out(self, rc: RemoteCluster) -> None:
        rc.timer, rc.overdue = None, True
        if rc.attempts:  # a list failed already; else the first attempt's end decides (above)
            self._give_up(rc)

    def _give_up(self, rc: RemoteCluster) -> None:
        if not rc.synced and not rc.closed and not rc.timed_out:
            rc.timed_out = True
            self.log.error(f"remote cluster {rc.id} failed to sync after {self.timeout:g}s")

    # -- the informers' initial lists ------------------------------------------------------------
    async def _run(self, rc: RemoteCluster, kc: Kubeconfig) -> None:
        delay = 0.2
        while not rc.closed:
            try:
                async with _syncs():
                    await self._list_all(rc, kc)
            except SyncError as e:
                rc.attempts += 1
                self.log.error(str(e))
                if rc.overdue:
                    self._give_up(rc)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
                continue
            rc.synced, rc.attempts = True, rc.attempts + 1
            if rc.timer is not None:
                rc.timer.cancel()
            self.log.info(f"remote cluster {rc.id} informers synced")
            return

    async def _list_all(self, rc: RemoteCluster, kc: Kubeconfig) -> None:
        target = rc.target
        host = urlsplit(kc.server).hostname or ""
        if target is not None and not target.reachable_from(self.cluster.name):
            await asyncio.sleep(REQUEST_TIMEOUT)  # packets dropped: the dial times out
            raise self._fail("Pod", kc.server, f"dial tcp {_hostport(kc.server)}: i/o timeout")
        if not _loopback(host):
            await asyncio.sleep(REQUEST_TIMEOUT)  # the lab has no route off the machine
            raise self._fail("Pod", kc.server, f"dial tcp {_hostport(kc.server)}: i/o timeout")
        headers = {"Authorization": f"Bearer {kc.token}"} if kc.token else {}
        timeout = aiohttp.ClientTimeout(total=LIST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            for plural, kind in INFORMERS:
                await self._list(session, kc, plural, kind)

    async def _list(self, session: aiohttp.ClientSession, kc: Kubeconfig, plural: str, kind: str) -> None:
        url = f"{kc.server}/api/v1/{plural}?limit=500&resourceVersion=0"
        try:
            ctx = _ssl_context(kc)
        except ssl.SSLError:        # the CA data itself does not parse (client-go refuses to build a client)
            why = "unable to load root certificates: unable to parse bytes as PEM block"
            raise self._fail(kind, None, why) from None
        try:
            async with session.get(url, ssl=ctx) as resp:
                if resp.status == 200:
                    await resp.read()
                    return
                body = await resp.json(content_type=None) if resp.content_length != 0 else {}
                raise self._fail(kind, None, _status_text(resp.status, body, plural))
        except aiohttp.ClientConnectorCertificateError:
            raise self._fail(kind, url, "x509: certificate signed by unknown authority") from None
        except aiohttp.ClientSSLError as e:
            raise self._fail(kind, url, f"x509: {e}") from None
        except aiohttp.ClientConnectorError:
            raise self._fail(
                kind, url, f"dial tcp {_hostport(kc.server)}: connect: connection refused"
            ) from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise self._fail(
                kind, url, "net/http: request canceled (Client.Timeout exceeded while awaiting headers)"
            ) from None
        except (aiohttp.ClientError, ValueError) as e:
            raise self._fail(kind, url, f"read: connection reset by peer ({type(e).__name__})") from None

    @staticmethod
    def _fail(kind: str, url: str | None, why: str) -> SyncError:
        where = f'Get "{url}": ' if url else ""
        return SyncError(f"{_REFLECTOR}: Failed to list *v1.{kind}: {where}{why}")

    def _owner(self, server: str) -> LabCluster | None:
        # A real istiod reads from whichever API server answered at that address; on loopback,
        # https://localhost:P and https://127.0.0.1:P reach the same lab server, so compare the
        # endpoint, not the spelling of the URL.
        want = _endpoint(server)
        for c in [self.cluster, *self.cluster.peers.values()]:
            if any(url and _endpoint(url) == want for url in (c.server_url, c.alias_url)):
                return c
        return None

    # -- what the rest of the simulation reads ---------------------------------------------------
    def debug_info(self) -> list[Obj]:
        out: list[Obj] = [{"id": self.local_id, "secretName": "", "syncStatus": SYNCED}]
        for key in sorted(self.clusters):
            for cid, rc in sorted(self.clusters[key].items()):
                out.append({"id": cid, "secretName": key, "syncStatus": rc.status})
        return out

    def synced(self) -> list[RemoteCluster]:
        return [rc for cs in self.clusters.values() for rc in cs.values() if rc.synced and not rc.closed]

    def stop(self) -> None:
        self.queue.stop()
        for cs in self.clusters.values():
            for rc in cs.values():
                rc.stop()


def _hostport(server: str) -> str:
    u = urlsplit(server)
    return f"{u.hostname}:{u.port or 443}"


_CONTEXTS: dict[str, ssl.SSLContext] = {}
_SYNCS: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _syncs() -> asyncio.Semaphore:
    """The running loop's (the lab's) turn-taking for remote syncs, SYNCS_AT_ONCE at a time."""
    loop = asyncio.get_running_loop()
    if loop not in _SYNCS:
        _SYNCS.clear()  # a lab started after another one: the old loop is gone
        _SYNCS[loop] = asyncio.Semaphore(SYNCS_AT_ONCE)
    return _SYNCS[loop]


def _ssl_context(kc: Kubeconfig) -> ssl.SSLContext | bool:
    """One context per CA (building one parses the CA; a joined 8-cluster lab would build hundreds)."""
    if kc.insecure:
        return False
    key = kc.ca_pem or ""
    if key not in _CONTEXTS:
        if len(_CONTEXTS) > 256:
            _CONTEXTS.clear()
        ctx = ssl.create_default_context(cadata=kc.ca_pem) if kc.ca_pem else ssl.create_default_context()
        _CONTEXTS[key] = ctx
    return _CONTEXTS[key]


def _status_text(code: int, body: Any, plural: str) -> str:
    """How client-go words an error Status (StatusError.Error())."""
    if code == 401:
        return "Unauthorized"
    message = body.get("message") if isinstance(body, dict) else None
    if code == 503 and not message:
        return f"the server is currently unable to handle the request (get {plural})"
    return str(
        message or f'an error on the server ("") has prevented the request from succeeding (get {plural})'
    )


def _loopback(host: str) -> bool:
    """localhost, ::1 and all of 127/8 (the lab's API servers answer at 127.0.0.1 and 127.0.0.2)."""
    return host in ("localhost", "::1") or host.startswith("127.")


def _endpoint(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return (host if not _loopback(host) else "loopback", parts.port or 443)
