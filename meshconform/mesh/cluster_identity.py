"""Which cluster a remote secret reaches: the UID of the kube-system namespace behind its kubeconfig.

A remote secret is A's when what it reaches is A, whatever it is called and whichever address it
names. Names are no identity: istiod registers each data key as a cluster ID and reads nothing
else of the secret but its `istio/multiCluster=true` label (pkg/kube/secretcontroller at 1.6.8
and 1.7.3, pkg/kube/multicluster/secretcontroller.go at 1.28.5: a label-filtered informer, then
`for clusterID, kubeConfig := range s.Data`), and asmcli, Helm, Terraform and people choose other
`--name`s than ours. Addresses are no identity either: one API server answers at a public and a
private endpoint, an IP and a DNS name. kube-system's UID is: it is the same through every address
of one cluster, differs between clusters (and between a cluster and its re-creation), and it is
the identity istioctl itself uses: `create-remote-secret` without `--name` names the cluster
after it (istioctl/pkg/multicluster/cluster.go `clusterUID` at 1.6.8, remote_secret.go at 1.7.3
and 1.28.5: "Use UUID of kube-system Namespace as unique identifier for cluster").

The UID is read through the secret's own server, CA and token, so that the answer is what istiod
would reach with it. The reader token istioctl puts there may GET namespaces: Istio's reader
ClusterRole grants get/list/watch on namespaces cluster-wide (manifests/charts/base/templates/
clusterrole.yaml `istio-reader-istio-system` at 1.7.3; istio-discovery/templates/
reader-clusterrole.yaml `istio-reader-clusterrole-<rev>-istio-system` at 1.28.5). Where it cannot
be read (403: a narrower role; 401: a stale token; no route from the runner to a private
endpoint; an exec or auth-provider user the runner does not run; no CA data), the identity is
unknown and the join checks fall back to the name and server match, saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from meshconform.kube import errors
from meshconform.kube.client import Cluster, Obj
from meshconform.kube.fanout import Once
from meshconform.kube.redact import redact
from meshconform.mesh.remote_secrets import decode_data, fingerprint, secret_name
from meshconform.mesh.secret_inspection import parse_kubeconfig
from meshconform.mesh.secret_server import secret_server

KUBE_SYSTEM = "kube-system"
# One GET per data key. An address the runner cannot reach (a private endpoint seen from outside
# its network) should cost seconds, not the 30 s read timeout of the suite's own calls.
TIMEOUT = (3.0, 10.0)


@dataclass
class Entry:
    """One data key of a remote secret: a cluster ID istiod registers, and what it reaches. It
    holds the parsed kubeconfig (a token), so it never goes into the facts; a SecretClaim does."""

    secret: Obj
    key: str
    kubeconfig: dict[str, Any] | None = field(default=None, repr=False)
    uid: str | None = None
    unknown: str | None = None  # why the UID could not be read through it

    @property
    def name(self) -> str:
        return str(self.secret["metadata"]["name"])


@dataclass
class Match:
    """Which of B's entries is A's, and how that is known."""

    entry: Entry | None
    by: str  # "identity", "name" or "" (none found)
    twins: list[Entry] = field(default_factory=list)  # further entries that reach A too


def kube_system_uid(cluster: Cluster, how: str = "") -> str:
    """kube-system's metadata.uid; raises errors.KubeError (NotFound when it has none)."""
    ns = cluster.read(
        f"GET namespace {KUBE_SYSTEM}{how}",
        cluster.core.read_namespace,
        KUBE_SYSTEM,
        retry=cluster.attempts > 1,
        _request_timeout=TIMEOUT,
    )
    uid = (ns.get("metadata") or {}).get("uid")
    if not uid:
        what = f"GET namespace {KUBE_SYSTEM}{how} on {cluster.name}"
        raise errors.NotFound(what, "NoUID", "no metadata.uid")
    return str(uid)


def entries(secret: Obj) -> list[Entry]:
    """Every data key of `secret`, its kubeconfig parsed (None when istiod could not use it either)."""
    out = []
    for key, text in sorted(decode_data(secret).items()):
        try:
            kc: dict[str, Any] | None = parse_kubeconfig(text)
        except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError):
            kc = None  # istiod skips such a key too; the join checks say why
        out.append(Entry(secret, key, kc, unknown=None if kc else "no usable kubeconfig"))
    return out


def read_identity(entry: Entry, once: Once | None = None) -> None:
    """Set entry.uid (or entry.unknown) by GET namespace kube-system with the entry's own
    server, CA and token: one request, not retried (an unreachable address is an answer). With a
    shared `once`, one read per distinct server, CA and token: A's N-1 secrets carry the same."""
    kc = entry.kubeconfig
    if kc is None:
        return
    if kc["auth"] != "token" or not kc["token"]:
        entry.unknown = f"its user authenticates by {kc['auth']}, which the suite does not run"
        return
    if not kc["ca"]:
        entry.unknown = "it has no certificate-authority-data"
        return
    token = fingerprint(str(kc["token"]).encode())
    question = ("identity", kc["server"], kc["ca"], kc.get("tls_server_name"), token)
    entry.uid, entry.unknown = (once or Once())(question, lambda: _identity(kc))


def _identity(kc: dict[str, Any]) -> tuple[str | None, str | None]:
    """(kube-system's uid, None) as the kubeconfig reaches it, or (None, why not)."""
    with secret_server(kc) as reach:
        try:
            return kube_system_uid(reach, " with the secret's token"), None
        except errors.KubeError as exc:
            return None, _why(exc, kc["token"])


def _why(exc: errors.KubeError, token: str) -> str:
    if isinstance(exc, errors.Forbidden):
        return f"its token may not get namespace {KUBE_SYSTEM} (403 Forbidden)"
    if isinstance(exc, errors.Unauthorized):
        return "its token does not authenticate there (401 Unauthorized)"
    unreachable = isinstance(exc, errors.Unreachable)
    what = "its server cannot be reached from here" if unreachable else "the read failed"
    detail = ": ".join(p for p in (exc.reason, exc.message) if p)
    return redact(f"{what} ({detail})", [token])[:240]


def named_for(entry: Entry, cluster: str) -> bool:
    """The entry carries A's name: the secret is istio-remote-secret-A, or its data key is A."""
    return entry.name == secret_name(cluster) or entry.key == cluster


def match(found: list[Entry], cluster: str, uid: str | None) -> Match:
    """A's entry among B's: those that reach A's kube-system; without any, the one named for A
    (the name and server match of old, used where the identity could not be read). The one named
    for A is preferred among several, so that a duplicate is reported on the other."""
    reaching = sorted(
        (e for e in found if uid and e.uid == uid), key=lambda e: (not named_for(e, cluster), e.name, e.key)
    )
    if reaching:
        return Match(reaching[0], "identity", reaching[1:])
    named = sorted(found, key=lambda e: (e.name != secret_name(cluster), e.uid is not None, e.key != cluster))
    named = [e for e in named if named_for(e, cluster)]
    return Match(named[0], "name") if named else Match(None, "")
