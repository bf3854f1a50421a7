"""curl's transfer loop and its output: bodies, -w write-out, -i/-I headers, errors, exit code.

Transfers run in order (globbed URLs expanded first); each writes its body to stdout (or to its -o
target), then the expanded -w string. Failures print `curl: (N) <message>` on stderr unless -s
without -S. The exit code is that of the *last* transfer (src/tool_operate.c serial_transfers keeps
only the latest result). -w understands curl's variables (%{http_code}, %{time_total} with six
decimals, %{remote_ip}, %{exitcode}, %{errormsg}, %{header{name}}, ...) and the escapes \\n \\r \\t
\\\\ and %%; an unknown variable is reported on stderr as curl 8 does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from . import curlargs, globbing

VERSION = "8.16.0"
PROGRESS_HEAD = ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
                 "                                 Dload  Upload   Total   Spent    Left  Speed\n")


@dataclass
class Transfer:
    """What one URL gave: an HTTP response, or a curl error (code, message)."""

    url: str
    status: int = 0
    body: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    connect: float = 0.0
    remote_ip: str = ""
    remote_port: int = 0
    local_ip: str = ""
    method: str = "GET"
    error: tuple[int, str] | None = None

    @property
    def code(self) -> int:
        return self.error[0] if self.error else 0


Fetch = Callable[[str, str, list[str], curlargs.Options], Transfer]
_VAR = re.compile(r"%\{([a-z_]+)(?:\{([^}]*)\})?\}|%%|\\[nrt\\]")


def write_out(fmt: str, t: Transfer, err: list[str]) -> str:
    size = len(t.body.encode()) if t.status else 0
    total = f"{t.seconds:.6f}"
    values = {
        "http_code": f"{t.status:03d}",
        "response_code": f"{t.status:03d}",
        "time_total": total,
        "time_namelookup": f"{min(t.seconds, 0.000512):.6f}",
        "time_connect": f"{t.connect:.6f}",
        "time_appconnect": "0.000000",
        "time_pretransfer": f"{t.connect:.6f}",
        "time_starttransfer": total if t.status else "0.000000",
        "time_redirect": "0.000000",
        "remote_ip": t.remote_ip,
        "remote_port": str(t.remote_port or ""),
        "local_ip": t.local_ip,
        "local_port": "43512" if t.status else "",
        "size_download": str(size),
        "size_header": str(sum(len(k) + len(v) + 4 for k, v in t.headers) + 17 if t.status else 0),
        "size_upload": "0",
        "speed_download": str(int(size / t.seconds) if t.seconds and size else 0),
        "url_effective": t.url,
        "url": t.url,
        "exitcode": str(t.code),
        "errormsg": t.error[1] if t.error else "",
        "num_connects": "1" if t.status else "0",
        "num_redirects": "0",
        "http_version": "1.1" if t.status else "0",
        "content_type": next((v for k, v in t.headers if k.lower() == "content-type"), ""),
        "method": t.method,
        "scheme": t.url.split("://", 1)[0].lower() if "://" in t.url else "http",
    }

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "%%":
            return "%"
        if tok.startswith("\\"):
            return {"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\\\": "\\"}[tok]
        name, arg = m.group(1), m.group(2)
        if name == "header" and arg is not None:
            return next((v for k, v in t.headers if k.lower() == arg.lower()), "")
        if name in values:
            return values[name]
        err.append(f"curl: unknown --write-out variable: '{name}'\n")
        return ""

    return _VAR.sub(sub, fmt)


def _head_lines(t: Transfer) -> str:
    reason = {
        200: "OK",
        404: "NOT FOUND",
        405: "METHOD NOT ALLOWED",
        500: "INTERNAL SERVER ERROR",
        503: "Service Unavailable",
    }.get(t.status, "")
    lines = [f"HTTP/1.1 {t.status} {reason}".rstrip()] + [f"{k}: {v}" for k, v in t.headers]
    return "\r\n".join(lines) + "\r\n\r\n"


def _progress(t: Transfer) -> str:
    size = len(t.body.encode()) if t.status else 0
    pct = 100 if t.status else 0
    speed = int(size / t.seconds) if t.seconds and size else 0
    return (
        f"\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
        f"\r{pct:3d} {size:5d} {pct:4d} {size:5d}    0     0 {speed:6d}      0 --:--:-- --:--:-- --:--:-- "
        f"{speed:5d}\n"
    )


def _timed_out(o: curlargs.Options, t: Transfer) -> Transfer:
    """-m: a transfer that would outlast it ends at it, with curl's words for where it was."""
    if o.max_time is None or t.seconds <= o.max_time:
        return t
    ms = int(o.max_time * 1000)
    connecting = t.status == 0
    why = (
        f"Failed to connect to {t.remote_ip or 'host'} port {t.remote_port} after {ms} ms: "
        "Timeout was reached"
        if connecting
        else f"Operation timed out after {ms} milliseconds with 0 bytes received"
    )
    return Transfer(
        t.url,
        seconds=o.max_time,
        connect=min(t.connect, o.max_time),
        remote_ip=t.remote_ip,
        remote_port=t.remote_port,
        method=t.method,
        error=(28, why),
    )


def run(argv: list[str], fetch: Fetch) -> tuple[bytes, bytes, int]:
    """Run `curl argv...` (argv without the program name) -> (stdout, stderr, exit code)."""
    try:
        o = curlargs.parse(argv)
    except curlargs.CurlUsage as e:
        return b"", f"{e}\n".encode(), 2
    if o.version:
        return (
            (
                f"curl {VERSION} (x86_64-pc-linux-musl) libcurl/{VERSION} OpenSSL/3.5.2 zlib/1.3.1\n"
                "Protocols: dict file ftp ftps gopher gophers http https imap imaps ipfs ipns mqtt pop3 "
                "pop3s rtsp smb smbs smtp smtps telnet tftp ws wss\n"
            ).encode(),
            b"",
            0,
        )
    if o.help:
        return b"Usage: curl [options...] <url>\n", b"", 0
    if not o.urls:
        return b"", f"curl: no URL specified\n{curlargs.HELP_HINT}\n".encode(), 2
    out: list[str] = []
    err: list[str] = []
    method = o.method or ("HEAD" if o.head else "POST" if o.data is not None else "GET")
    code = 0
    if o.progress and not o.silent:
        err.append(PROGRESS_HEAD)
    for url, target in o.urls:
        try:
            urls = [url] if o.globoff else globbing.expand(url)
        except globbing.GlobError as e:
            if o.errors_shown:
                err.append(f"curl: (3) {e}\n")
            code = 3
            continue
        for u in urls:
            t = _timed_out(o, fetch(u, method, o.headers, o))
            code = _emit(o, t, target, out, err)
    return "".join(out).encode(), "".join(err).encode(), code


def _emit(o: curlargs.Options, t: Transfer, target: str | None, out: list[str], err: list[str]) -> int:
    code = t.code
    if t.error is None and (o.fail or o.fail_with_body) and t.status >= 400:
        code = 22
        t.error = (22, f"The requested URL returned error: {t.status}")
    if o.progress and not o.silent:
        err.append(_progress(t))
    if t.status and target is None:
        if o.include or o.head:
            out.append(_head_lines(t))
        if not o.head and (code != 22 or o.fail_with_body):
            out.append(t.body)
    if o.write_out is not None:
        out.append(write_out(o.write_out, t, err))
    if t.error is not None and o.errors_shown:
        err.append(f"curl: ({t.error[0]}) {t.error[1]}\n")
    return code
