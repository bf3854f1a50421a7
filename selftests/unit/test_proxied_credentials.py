"""The credentials check behind an authenticating proxy: a refusal there is no verdict on the token.

The user's kubeconfig may name a proxy (GKE's Connect gateway) that answers every token it did not
issue 401 or 403, a remote secret's service-account token among them. Then the token is asked at
the server the secret names, with the secret's own CA, as istiod uses it; when that server does
not answer this machine, the check judges by istiod's sync status, as the target check does. The
refusing proxy is a stand-in whose every call is refused; the secret's server is a lab cluster.
The whole path through a real proxy is selftests/safety/test_safety_auth_proxy.py.
"""

from __future__ import annotations

import socket
import types
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from kubernetes import client
from support import LabEnv

from meshconform.checks import join, statistics
from meshconform.kube import errors
from meshconform.kube.client import Cluster
from meshconform.mesh import remote_secrets, secret_inspection
from meshconform.mesh.facts import ClusterFacts, IstiodSync, MeshFacts, RemoteSecret

PAIR = "cluster-1->cluster-2"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path_factory.mktemp("proxied"), clusters=2) as env:
        yield env


def refusing_proxy(error: type[errors.KubeError], server: str = "https://proxy.example") -> Any:
    """cluster-1 as the user's context reaches it: a proxy that refuses every token it is given."""
    asked: list[str] = []

    def write(what: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(what)
        raise error(what, error.__name__, "refused by the proxy")

    return types.SimpleNamespace(
        name="cluster-1", context="ctx-1", server=server, configuration=client.Configuration(),
        write=write, asked=asked,
    )


def secret_kubeconfig(lab: LabEnv, token: str | None = None) -> dict[str, Any]:
    """A remote secret's kubeconfig for cluster-1 with the lab's own address, CA and a reader token."""
    source = Cluster.connect(lab.contexts[0], "cluster-1", str(lab.kubeconfig))
    cluster = lab.cluster(0)
    token = token or remote_secrets.reader_token(source)
    return {"server": cluster.server_url, "ca": cluster.ca_pem, "token": token, "auth": "token",
            "tls_server_name": None}


def credentials(denied: str | None) -> str | None:
    """The check's verdict on a token of which `denied` was seen."""
    seen = RemoteSecret("istio-remote-secret-cluster-1", present=True, auth="token", reader_denied=denied)
    return join.credentials_problem(seen, "cluster-1", "cluster-2")


def _closed_port() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"https://127.0.0.1:{port}"


@pytest.mark.parametrize("refusal", [errors.Unauthorized, errors.Forbidden])
def test_a_token_the_proxy_refuses_is_judged_where_the_secret_points(lab: LabEnv, refusal: Any) -> None:
    """A reader token passes there; a stale one still fails there, as stale."""
    proxy = refusing_proxy(refusal)
    assert secret_inspection.reader_denied(secret_kubeconfig(lab), proxy, "sample") is None
    assert proxy.asked, "the user's context was asked first"
    stale = secret_kubeconfig(lab, token="stale-" + "x" * 40)
    denied = secret_inspection.reader_denied(stale, refusing_proxy(refusal), "sample")
    assert denied == secret_inspection.UNAUTHENTICATED
    problem = credentials(denied)
    assert problem and "does not authenticate to cluster-1 (401 Unauthorized)" in problem


def test_a_secret_server_this_machine_cannot_reach_leaves_the_token_unverified() -> None:
    """Unless the secret names the very server the user reaches: then its 401 is the verdict."""
    ca = trustme.CA().cert_pem.bytes()
    kc = {"server": _closed_port(), "ca": ca, "token": "t" * 40, "auth": "token"}
    with pytest.raises(secret_inspection.NotReachableFromHere):
        secret_inspection.reader_denied(kc, refusing_proxy(errors.Unauthorized), "sample")
    direct = refusing_proxy(errors.Unauthorized, server=kc["server"])
    problem = credentials(secret_inspection.reader_denied(kc, direct, "sample"))
    assert problem and "401 Unauthorized" in problem
    assert "403 Forbidden to its own access review" in (credentials(secret_inspection.NOT_LET_THROUGH) or "")


def _unverified_facts(status: str | None) -> MeshFacts:
    fact = RemoteSecret(name="istio-remote-secret-cluster-1", present=True, cluster_id="cluster-1")
    fact.server, fact.auth = "https://10.0.0.1", "token"
    fact.reader_unreachable = "ConnectionRefusedError connecting to 10.0.0.1:443"
    names = ("cluster-1", "cluster-2")
    clusters = {n: ClusterFacts(name=n, context=n, server="https://" + n) for n in names}
    entries = [{"id": "cluster-1", "syncStatus": status}] if status else []
    clusters["cluster-2"].istiod_sync = IstiodSync("istiod-x", "1.28.5", entries)
    facts = MeshFacts(run_id="r", namespace="sample", revision="rev", clusters=clusters)
    facts.pairs[PAIR] = fact
    return facts


def test_an_unverified_token_is_judged_by_istiods_view() -> None:
    """istiod in B synced A through the secret: its token works. Otherwise no verdict, no green."""
    evaluate = join.secret_credentials.evaluate
    assert evaluate(_unverified_facts("synced"), PAIR) is None
    said = (
        r"cluster-1's API server as this run reaches it \(https://cluster-1\) refused the token in Secret "
        r"istio-system/istio-remote-secret-cluster-1 in cluster-2 .* https://10.0.0.1, does not answer"
    )
    for status in ("timeout", None):
        with pytest.raises(statistics.Inconclusive, match=said):
            evaluate(_unverified_facts(status), PAIR)
