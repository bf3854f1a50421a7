"""Through an authenticating proxy: the kubeconfig names the proxy, `--api-server` names the cluster.

A nightly runner often reaches its clusters through a proxy with a CA of its own (GKE's Connect
gateway, Rancher, Teleport), while istiod dials the API servers themselves. Here an HTTPS reverse
proxy on loopback (auth_proxy.py, its own trustme CA) stands in front of each lab cluster; the
user's kubeconfig names only the proxies, and `--api-server CTX=URL` names each lab cluster's real
address. A `--join create` run must pass: the remote secrets it makes name the lab's address and
the lab's CA (which the target check verifies against that address, not against the proxy), the
lab's istiod syncs through them, and every exec (the hello calls, the sidecars' metrics) is
tunnelled through the proxy as a protocol upgrade.

The second proxy accepts only tokens it issued, as the Connect gateway does: the secrets'
service-account tokens are refused there (401), so the credentials check must judge them through
the server the secret names instead of failing them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from auth_proxy import AuthProxy, Mode
from safety_support import run_suite
from support import LabEnv, Run

pytestmark = pytest.mark.selftest_slow


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path / "lab") as target:
        yield target


@contextmanager
def proxied(lab: LabEnv, path: Path, mode: Mode) -> Iterator[dict[str, AuthProxy]]:
    """A proxy per cluster, by context, and at `path` a kubeconfig that names only the proxies."""
    clusters = {c.context: c for c in lab.lab.clusters.values()}
    proxies = {
        ctx: AuthProxy(c.server_url, c.ca_pem, c.admin_token, mode).start() for ctx, c in clusters.items()
    }
    try:
        doc = yaml.safe_load(lab.kubeconfig.read_text())
        for entry in doc["clusters"]:
            proxy = proxies[entry["name"]]
            entry["cluster"] = {
                "server": proxy.url,
                "certificate-authority-data": base64.b64encode(proxy.ca_pem).decode(),
            }
        for entry in doc["users"]:
            if mode == "issued":
                entry["user"] = {"token": proxies[entry["name"]].issued}
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        yield proxies
    finally:
        for proxy in proxies.values():
            proxy.stop()


def _run(lab: LabEnv, kubeconfig: Path, reports: Path) -> Run:
    clusters = {c.context: c for c in lab.lab.clusters.values()}
    api_servers = [f"--api-server={ctx}={c.server_url}" for ctx, c in clusters.items()]
    return run_suite(reports, f"--kubeconfig={kubeconfig}", *(f"--ctx={c}" for c in lab.contexts),
                     *api_servers, "--keep")


def _secrets_made(lab: LabEnv) -> list[dict[str, Any]]:
    """The kubeconfigs inside the remote secrets the run made (kept with --keep), per cluster."""
    found = []
    for i in range(len(lab.contexts)):
        listed = lab.core(i).list_namespaced_secret("istio-system", label_selector="istio/multiCluster=true")
        for secret in listed.items:
            for text in (secret.data or {}).values():
                found.append(yaml.safe_load(base64.b64decode(text)))
    return found


def _assert_passed(run: Run) -> None:
    """Every check passed, and no request had to be retried: the proxy is transparent."""
    __tracebackhide__ = True
    assert run.returncode == 0, run.tail()
    outcomes = run.outcomes
    assert outcomes and run.healthy, run.failures or run.skips
    assert "will retry" not in run.output, run.tail()


def test_a_run_through_a_forwarding_proxy_passes_and_its_secrets_name_the_cluster(
    lab: LabEnv, tmp_path: Path
) -> None:
    """The secrets name each lab cluster's address and CA (not the proxy's), and exec is tunnelled."""
    with proxied(lab, tmp_path / "kubeconfig", "forward") as proxies:
        run = _run(lab, tmp_path / "kubeconfig", tmp_path / "reports")
    _assert_passed(run)
    by_server = {c.server_url: c.ca_pem for c in lab.lab.clusters.values()}
    made = _secrets_made(lab)
    assert len(made) == len(lab.contexts) * (len(lab.contexts) - 1), made
    for kubeconfig in made:
        [cluster] = kubeconfig["clusters"]
        server = cluster["cluster"]["server"]
        assert server in by_server, f"a remote secret names {server}, not a lab cluster"
        assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == by_server[server]
    for ctx, proxy in proxies.items():
        assert proxy.seen["forwarded"] > 0 and proxy.seen["upgraded"] > 0, (ctx, proxy.seen)


def test_a_proxy_that_refuses_service_account_tokens_does_not_fail_the_credentials_check(
    lab: LabEnv, tmp_path: Path
) -> None:
    """The proxy answers the secrets' tokens 401; the credentials check asks the secret's own server."""
    with proxied(lab, tmp_path / "kubeconfig", "issued") as proxies:
        run = _run(lab, tmp_path / "kubeconfig", tmp_path / "reports")
    _assert_passed(run)
    assert all(p.seen["rejected"] > 0 for p in proxies.values()), {c: p.seen for c, p in proxies.items()}
