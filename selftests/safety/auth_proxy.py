"""An authenticating HTTPS reverse proxy in front of one lab cluster, with a CA of its own.

Many users reach their clusters through such a proxy: GKE's Connect gateway
(connectgateway.googleapis.com), Rancher's cluster proxy, Teleport. The kubeconfig then names the
proxy and trusts the proxy's CA, while istiod, inside the mesh, dials the API server itself; the
suite's `--api-server CTX=URL` names that address for the remote secrets it makes. Two ways of
authenticating are modelled:

- "forward": the user's Authorization header goes upstream unchanged (Rancher's and Teleport's
  pass-through of a cluster token; the Connect gateway with user credentials on a cluster that
  accepts them);
- "issued": the proxy accepts only bearer tokens it issued itself and sends the request upstream
  with a credential of its own, as the Connect gateway does (it authenticates the Google identity
  and impersonates it); any other token, a Kubernetes service-account token among them, is
  answered 401, as the gateway does.

Requests are forwarded one by one over one upstream TLS connection per client connection, the
response streamed (a watch is a long chunked response); a request body is read by its
Content-Length, as the official client and kubectl send it. A request that asks for a protocol
upgrade (pods/exec: WebSocket, or SPDY from older clients) is tunnelled the way Kubernetes' own
proxy does it (k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go, tryUpgrade, at v0.30: write
the request to the backend, then copy bytes both ways until either side closes). Standard
library only: http.server for the front, http.client for the back, a raw splice after an upgrade;
aiohttp (already a dependency, the lab's server) would add a WebSocket relay layer that a byte
splice does not need.
"""

from __future__ import annotations

import http.client
import secrets
import select
import socket
import ssl
import threading
from collections import Counter
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlparse

import trustme

Mode = Literal["forward", "issued"]
# Connection-scoped headers (RFC 9110 7.6.1): never forwarded, each hop frames its own message.
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
}
UPSTREAM_TIMEOUT = 60.0  # longer than any request the suite makes; a watch renews itself sooner


class AuthProxy:
    """The proxy for one upstream API server. `url` and `ca_pem` are what a kubeconfig names."""

    def __init__(self, upstream: str, upstream_ca: bytes, upstream_token: str, mode: Mode) -> None:
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 443)
        self.upstream_tls = ssl.create_default_context(cadata=upstream_ca.decode())
        self.upstream_token = upstream_token
        self.mode = mode
        self.issued = "proxy-" + secrets.token_urlsafe(24)  # the only token "issued" accepts
        self.seen: Counter[str] = Counter()  # "forwarded", "upgraded", "rejected"
        self.lock = threading.Lock()
        ca = trustme.CA()
        self.ca_pem = ca.cert_pem.bytes()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(tls)
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        # The handshake happens in the connection's own thread (_Handler.setup): a client that
        # connects and stays silent (a TCP reachability probe) must not hold up accept().
        self.server.socket = tls.wrap_socket(
            self.server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.server.proxy = self  # type: ignore[attr-defined]
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> AuthProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def count(self, what: str) -> None:
        with self.lock:
            self.seen[what] += 1

    def upstream_authorization(self, given: str | None) -> str | None:
        """What goes upstream for the client's Authorization header; None: answer 401."""
        if self.mode == "forward":
            return given
        if given is not None and secrets.compare_digest(given, f"Bearer {self.issued}"):
            return f"Bearer {self.upstream_token}"
        return None

    def dial(self) -> ssl.SSLSocket:
        raw = socket.create_connection(self.upstream, timeout=UPSTREAM_TIMEOUT)
        return self.upstream_tls.wrap_socket(raw, server_hostname=self.upstream[0])


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-request or never finished its handshake: nothing to say


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response below is framed
    upstream: http.client.HTTPSConnection | None = None

    def setup(self) -> None:
        self.request.settimeout(UPSTREAM_TIMEOUT)
        self.request.do_handshake()
        self.request.settimeout(None)
        super().setup()

    def finish(self) -> None:
        super().finish()
        if self.upstream is not None:
            self.upstream.close()

    @property
    def proxy(self) -> AuthProxy:
        return self.server.proxy  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the lab's request log is the witness; a line per request here is noise

    def do_GET(self) -> None:
        self._forward()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _forward(self) -> None:
        authorization = self.proxy.upstream_authorization(self.headers.get("Authorization"))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if authorization is None:
            self.proxy.count("rejected")
            self._unauthorized()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"authorization"}}
        if authorization:
            headers["Authorization"] = authorization
        if "upgrade" in self.headers.get("Connection", "").lower():
            self.proxy.count("upgraded")
            self._tunnel(headers, body)
            return
        self.proxy.count("forwarded")
        self._relay(headers, body)

    def _unauthorized(self) -> None:
        text = b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized",' \
            b'"reason":"Unauthorized","code":401}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def _relay(self, headers: dict[str, str], body: bytes) -> None:
        """One request upstream, its response streamed back (re-chunked when it was chunked)."""
        if self.upstream is None:
            host, port = self.proxy.upstream
            self.upstream = http.client.HTTPSConnection(
                host, port, timeout=UPSTREAM_TIMEOUT, context=self.proxy.upstream_tls
            )
        self.upstream.request(self.command, self.path, body=body or None, headers=headers)
        response = self.upstream.getresponse()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        length = response.getheader("Content-Length")
        chunked = length is None and self.command != "HEAD" and response.status not in (204, 304)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", length or "0")
        self.end_headers()
        while piece := response.read1(65536):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            self.wfile.flush()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        response.close()  # read1 leaves a Content-Length body "open" at 0 bytes left: the
        # connection would refuse the next request (ResponseNotReady)

    def _tunnel(self, headers: dict[str, str], body: bytes) -> None:
        """The upgrade request upstream as it came (with its Connection and Upgrade), then bytes
        both ways until one side closes: the 101 and every frame after it pass through untouched."""
        headers = {**headers, "Connection": self.headers["Connection"], "Upgrade": self.headers["Upgrade"]}
        lines = [f"{self.command} {self.path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
        head = "".join(line + "\r\n" for line in lines)
        upstream = self.proxy.dial()
        upstream.sendall(head.encode("latin-1") + b"\r\n" + body)
        self.wfile.flush()
        try:
            _splice(self.connection, upstream)
        finally:
            upstream.close()
        self.close_connection = True


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways in one thread (one TLS connection must not be read and written from
    two threads at once) until either side closes or both stay silent for UPSTREAM_TIMEOUT."""
    other = {a: b, b: a}
    try:
        while True:
            ready = [s for s in other if isinstance(s, ssl.SSLSocket) and s.pending()]
            if not ready:
                ready, _, _ = select.select(list(other), [], [], UPSTREAM_TIMEOUT)
            if not ready:
                return
            for source in ready:
                chunk = source.recv(65536)
                if not chunk:
                    return
                other[source].sendall(chunk)
    except OSError:
        return
    finally:
        for conn in (a, b):
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
