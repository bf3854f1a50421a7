"""Shared helpers for the lab API self-tests: a lab (support.LabEnv.start) with raw HTTPS requests
and clients for any token on top, one per module or per test, and the real kubectl."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import support
from kubernetes import client
from support import LAB_DIR, ROOT, LabEnv

KUBECTL_DEB = ROOT / "tools" / "kubectl-deb" / "usr" / "bin" / "kubectl"


class Running(LabEnv):
    """A lab for API tests, with raw requests and clients for any token; stop() it when done."""

    def api_as(self, token: str, i: int = 0) -> client.ApiClient:
        """A client for cluster i that authenticates with `token` (e.g. a service account's)."""
        c = self.cluster(i)
        ca = self.kubeconfig.parent / f"ca-{c.name}.pem"
        ca.write_bytes(c.ca_pem)
        conf = client.Configuration(host=c.server_url, api_key={"authorization": f"Bearer {token}"})
        conf.ssl_ca_cert = str(ca)
        return client.ApiClient(conf)

    def raw(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        i: int = 0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTPS request with the cluster's CA; token defaults to the admin token."""
        c = self.cluster(i)
        ctx = ssl.create_default_context(cadata=c.ca_pem.decode())
        hdrs = {"Accept": "application/json", **(headers or {})}
        tok = c.admin_token if token is None else token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(c.server_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        code, _, body = self.raw(method, path, **kw)
        return code, json.loads(body) if body else None


def start_lab(tmp_path_factory: pytest.TempPathFactory, **options: Any) -> Running:
    """A Running lab of `LabOptions(**options)` for one test; stop() it."""
    return Running.start(tmp_path_factory.mktemp(LAB_DIR), **options)


def lab_fixture(**options: Any) -> Any:
    """A module's `env` fixture (`env = lab_fixture(clusters=1)`): one Running lab for its tests."""
    return support.lab_fixture(Running, **options)


def kubectl_path() -> Path:
    """The real kubectl 1.20 from Debian, or skip with how to get it."""
    found = Path(os.environ.get("MESHCONFORM_KUBECTL") or KUBECTL_DEB)
    if not found.is_file():
        pytest.skip(
            "needs Debian's kubectl 1.20: `cd tools && apt-get download kubernetes-client && "
            "dpkg -x kubernetes-client_*.deb kubectl-deb` (or set MESHCONFORM_KUBECTL)"
        )
    return found


def kubectl(
    kubeconfig: Path, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    cmd = [str(kubectl_path()), "--kubeconfig", str(kubeconfig), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=timeout, check=False)
    if check and out.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {out.returncode}: {out.stderr.strip()[:2000]}")
    return out
