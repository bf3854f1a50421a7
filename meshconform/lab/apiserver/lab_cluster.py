"""One emulated cluster: identity (name, zone), its serving CA, credentials, store and extension points.

Everything another part of the lab needs about a cluster hangs here, so controllers, the Istio
simulation and the HTTP layer share one object per cluster and a registry (`Clusters`) per lab.
Service-account tokens are JWT-shaped like the real ones (clients never parse them, but istioctl-made
kubeconfigs and humans do look at them) and signed with a per-cluster key, so a token from one cluster
never authenticates to another, exactly as with real clusters' distinct signing keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trustme

from ..faults import FaultSet
from .kube_release import DEFAULT as DEFAULT_RELEASE
from .kube_release import KubeRelease
from .status import NotFoundError
from .store import Store, clone
from .user import User

PROJECT = "meshconform-lab"
ALIAS_HOST = "127.0.0.2"  # a second loopback address (Linux routes all of 127/8 to lo)
ZONES = (
    "us-central1-a",
    "us-east1-b",
    "europe-west1-c",
    "asia-east1-a",
    "us-west1-b",
    "europe-west4-a",
    "asia-northeast1-c",
    "australia-southeast1-b",
)


@dataclass(frozen=True)
class ExecRequest:
    cluster: LabCluster
    pod: dict[str, Any]
    container: str
    argv: tuple[str, ...]
    stdin: bytes | None
    tty: bool


@dataclass(frozen=True)
class ExecResponse:
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


# async (request) -> result, or None when the handler does not own this command
ExecHandler = Callable[[ExecRequest], Awaitable[ExecResponse | None]]
# (pod, container, tail_lines) -> log text, or None when not this provider's container
LogProvider = Callable[[dict[str, Any], str, int | None], str | None]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(eq=False)  # identity semantics: hashable, usable as a dict key
class LabCluster:
    name: str
    zone: str
    faults: FaultSet
    store: Store = field(default_factory=Store)
    server_url: str = ""  # set when its server listens
    # The same API server at a second address (listeners.py): a private endpoint beside the public
    # one, as a remote secret may name it while the user's kubeconfig names the other.
    alias_url: str = ""
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    exec_handlers: list[ExecHandler] = field(default_factory=list)
    log_providers: list[LogProvider] = field(default_factory=list)
    peers: dict[str, LabCluster] = field(default_factory=dict)
    api_requests: Counter[str] = field(default_factory=Counter)  # by verb
    exec_sessions: int = 0
    outside: bool = False  # in the mesh, but not in the kubeconfig (outside-cluster)
    # The Kubernetes release it runs (/version, kubelets, OpenAPI): chosen at start for its Istio
    # (istio/kube_support.py); `set_release` changes it as a control-plane + node-pool upgrade does.
    release: KubeRelease = DEFAULT_RELEASE

    def __post_init__(self) -> None:
        self.ca = trustme.CA(organization_name=f"meshconform lab {self.name}", key_type=trustme.KeyType.ECDSA)
        self.server_cert = self.ca.issue_cert(
            "127.0.0.1", "localhost", ALIAS_HOST, common_name="kube-apiserver"
        )
        self.ca_pem: bytes = self.ca.cert_pem.bytes()
        self._signing_key = secrets.token_bytes(32)

    @property
    def region(self) -> str:
        return self.zone.rsplit("-", 1)[0]

    @property
    def context(self) -> str:
        return f"gke_{PROJECT}_{self.zone}_{self.name}"

    @property
    def issuer(self) -> str:
        return f"https://container.googleapis.com/v1/projects/{PROJECT}/locations/{self.zone}/clusters/{self.name}"

    def set_release(self, release: KubeRelease) -> None:
        """Run `release` from now on: /version at once, every node's kubelet too."""
        self.release = release
        for node in [clone(n) for n in self.store.iter("nodes")]:
            node["status"]["nodeInfo"] |= {
                "kubeletVersion": release.git_version,
                "kubeProxyVersion": release.git_version if release.minor < 33 else "",
                "containerRuntimeVersion": release.containerd,
            }
            self.store.update("nodes", node, subresource="status")

    def reachable_from(self, peer: str) -> bool:
        """False when `api-unreachable-from:<peer>-><self>` cuts peer's route to this API server."""
        return not self.faults.has("api-unreachable-from", f"{peer}->{self.name}")

    # -- tokens -------------------------------------------------------------------------------
    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64url(json.dumps({"alg": "RS256", "kid": self.name}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(mac)}"

    def issue_token(
        self, sa_namespace: str, sa_name: str, ttl: int = 3600, audiences: list[str] | None = None
    ) -> str:
        """A bound token as TokenRequest returns it (serviceaccounts/token)."""
        sa = self.store.get("serviceaccounts", sa_namespace, sa_name)
        now = int(time.time())
        return self._sign(
            {
                "aud": audiences or [self.issuer],
                "exp": now + ttl,
                "iat": now,
                "nbf": now,
                "iss": self.issuer,
                "kubernetes.io": {
                    "namespace": sa_namespace,
                    "serviceaccount": {"name": sa_name, "uid": sa["metadata"]["uid"]},
                },
                "sub": f"system:serviceaccount:{sa_namespace}:{sa_name}",
            }
        )

    def issue_secret_token(self, secret: dict[str, Any], sa: dict[str, Any]) -> str:
        """A legacy token as the token controller writes into service-account-token Secrets."""
        ns, meta = secret["metadata"]["namespace"], sa["metadata"]
        return self._sign(
            {
                "iss": "kubernetes/serviceaccount",
                "kubernetes.io/serviceaccount/namespace": ns,
                "kubernetes.io/serviceaccount/secret.name": secret["metadata"]["name"],
                "kubernetes.io/serviceaccount/service-account.name": meta["name"],
                "kubernetes.io/serviceaccount/service-account.uid": meta["uid"],
                "sub": f"system:serviceaccount:{ns}:{meta['name']}",
            }
        )

    def token_expiry(self, token: str) -> int | None:
        claims = self._claims(token)
        return None if claims is None else claims.get("exp")

    def _claims(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        mac = hmac.new(self._signing_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_b64url(mac), parts[2]):
            return None
        try:
            claims: dict[str, Any] = json.loads(_unb64url(parts[1]))
        except ValueError:
            return None
        return claims

    def authenticate(self, token: str) -> User | None:
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return User("admin", ("system:masters", "system:authenticated"))
        claims = self._claims(token)
        if claims is None or ("exp" in claims and claims["exp"] < time.time()):
            return None
        return self._service_account_user(claims)

    def _service_account_user(self, claims: dict[str, Any]) -> User | None:
        bound = claims.get("kubernetes.io")
        if bound:
            ns, name, uid = (
                bound["namespace"],
                bound["serviceaccount"]["name"],
                bound["serviceaccount"]["uid"],
            )
        else:
            ns = claims["kubernetes.io/serviceaccount/namespace"]
            name = claims["kubernetes.io/serviceaccount/service-account.name"]
            uid = claims["kubernetes.io/serviceaccount/service-account.uid"]
            if not self._exists("secrets", ns, claims["kubernetes.io/serviceaccount/secret.name"]):
                return None
        try:
            sa = self.store.get("serviceaccounts", ns, name)
        except NotFoundError:
            return None
        if sa["metadata"]["uid"] != uid:
            return None
        groups = ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated")
        return User(f"system:serviceaccount:{ns}:{name}", groups, uid, ns, name)

    def _exists(self, res: str, ns: str, name: str) -> bool:
        try:
            self.store.get(res, ns, name)
        except NotFoundError:
            return False
        return True


class Clusters(dict[str, LabCluster]):
    """The lab's registry of clusters by name; `reset()` forgets every object (moto's backend reset)."""

    @classmethod
    def create(cls, count: int, faults: FaultSet) -> Clusters:
        reg = cls()
        for i in range(count):
            name = f"cluster-{i + 1}"
            reg[name] = LabCluster(name, ZONES[i % len(ZONES)], faults)
        if faults.has("outside-cluster"):  # one more cluster of the mesh, not handed to the suite
            name = f"cluster-{count + 1}"
            reg[name] = LabCluster(name, ZONES[count % len(ZONES)], faults, outside=True)
        for c in reg.values():
            c.peers = {n: p for n, p in reg.items() if n != c.name}
        return reg

    def reset(self) -> None:
        for c in self.values():
            c.store = Store()
