"""A client for the API server a remote secret names, with the secret's own CA and token.

What istiod reaches with a remote secret is its kubeconfig's server, trusted by its CA and
authenticated by its token, whatever the user's own kubeconfig says about that cluster: the
user's may name an authenticating proxy (GKE's Connect gateway, Rancher, Teleport) with another
CA, which may accept only credentials it issued itself. So what a secret's token may do is, in
the end, asked there. The client library reads a CA only from a file, so the CA lives in a
temporary file for as long as the client is used.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client

from meshconform.kube.client import Cluster


def configuration(kc: dict[str, Any], ca_path: str) -> client.Configuration:
    """The kubeconfig's server and token, trusting the CA in `ca_path`; no retries of its own."""
    cfg = client.Configuration()
    cfg.host = kc["server"]
    cfg.ssl_ca_cert = ca_path
    cfg.tls_server_name = kc.get("tls_server_name")
    cfg.api_key = {"authorization": "Bearer " + str(kc["token"])}
    cfg.retries = False
    return cfg


@contextmanager
def secret_server(kc: dict[str, Any]) -> Iterator[Cluster]:
    """The server `kc` names as a Cluster that asks once (an address that does not answer is an
    answer, not something to retry), closed on exit."""
    with tempfile.NamedTemporaryFile(prefix="meshconform-ca-", suffix=".pem") as ca:
        ca.write(kc["ca"])
        ca.flush()
        reach = Cluster("remote secret", kc["server"], configuration(kc, ca.name))
        reach.attempts = 1
        try:
            yield reach
        finally:
            reach.api_client.close()  # type: ignore[no-untyped-call]
