"""curl's command line, parsed as src/tool_getparam.c does for the options people use.

Short options bundle (`-sS`, `-sSo /dev/null`, `-m5`), long ones take the next word (curl has no
`--opt=value`), `--no-<flag>` turns a flag off, each `-o`/`--output` pairs with the next URL in
order, and an unknown option is exit 2 with `curl: option -Q: is unknown` and the try-help line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HELP_HINT = "curl: try 'curl --help' or 'curl --manual' for more information"

# short option -> long name; those taking an argument are in SHORT_ARG
SHORT = {"s": "silent", "S": "show-error", "v": "verbose", "i": "include", "I": "head", "f": "fail",
         "g": "globoff", "L": "location", "k": "insecure", "O": "remote-name", "4": "ipv4", "6": "ipv6",
         "N": "no-buffer", "#": "progress-bar", "0": "http1.0", "V": "version", "h": "help", "G": "get",
         "m": "max-time", "w": "write-out", "o": "output", "H": "header", "X": "request", "d": "data",
         "A": "user-agent", "u": "user", "x": "proxy", "e": "referer", "b": "cookie", "D": "dump-header",
         "r": "range", "T": "upload-file", "E": "cert", "K": "config", "Y": "speed-limit", "y": "speed-time"}
SHORT_ARG = set("mwoHXdAuxebDrTEKYy")
LONG_ARG = {"max-time", "connect-timeout", "write-out", "output", "header", "request", "data", "data-raw",
            "data-binary", "data-urlencode", "user-agent", "retry", "retry-delay", "retry-max-time", "url",
            "resolve", "user", "proxy", "cacert", "cert", "key", "interface", "dns-servers", "output-dir",
            "referer", "cookie", "limit-rate", "max-redirs", "dump-header", "range", "upload-file", "config",
            "speed-limit", "speed-time", "expect100-timeout", "noproxy", "connect-to", "keepalive-time"}
LONG_FLAGS = {
    "silent",
    "show-error",
    "verbose",
    "include",
    "head",
    "fail",
    "fail-with-body",
    "fail-early",
    "globoff",
    "location",
    "insecure",
    "http1.1",
    "http1.0",
    "http2",
    "http2-prior-knowledge",
    "compressed",
    "no-progress-meter",
    "progress-bar",
    "no-buffer",
    "tcp-nodelay",
    "remote-name",
    "ipv4",
    "ipv6",
    "raw",
    "version",
    "help",
    "get",
    "no-keepalive",
    "path-as-is",
    "retry-all-errors",
    "retry-connrefused",
    "styled-output",
    "ssl-reqd",
    "tlsv1.2",
    "tlsv1.3",
    "parallel",
}


class CurlUsage(Exception):
    """A command-line error: exit 2 with this text on stderr."""


@dataclass
class Options:
    urls: list[tuple[str, str | None]] = field(default_factory=list)  # (URL, its -o target)
    silent: bool = False
    show_error: bool = False
    verbose: bool = False
    include: bool = False
    head: bool = False
    fail: bool = False
    fail_with_body: bool = False
    globoff: bool = False
    progress: bool = True
    max_time: float | None = None
    connect_timeout: float | None = None
    write_out: str | None = None
    method: str | None = None
    data: str | None = None
    headers: list[str] = field(default_factory=list)
    version: bool = False
    help: bool = False
    _outputs: list[str] = field(default_factory=list)

    @property
    def errors_shown(self) -> bool:
        return not self.silent or self.show_error


def _seconds(opt: str, value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise CurlUsage(f"curl: option --{opt}: expected a proper numerical parameter\n{HELP_HINT}") from None
    if v < 0:
        raise CurlUsage(f"curl: option --{opt}: expected a proper numerical parameter\n{HELP_HINT}")
    return v


def _set(o: Options, name: str, value: str | None, on: bool = True) -> None:
    flags = {
        "silent": "silent",
        "show-error": "show_error",
        "verbose": "verbose",
        "include": "include",
        "head": "head",
        "fail": "fail",
        "fail-with-body": "fail_with_body",
        "globoff": "globoff",
        "version": "version",
        "help": "help",
    }
    if name in flags:
        setattr(o, flags[name], on)
    elif name == "no-progress-meter":
        o.progress = not on
    elif name == "max-time":
        o.max_time = _seconds(name, value or "")
    elif name == "connect-timeout":
        o.connect_timeout = _seconds(name, value or "")
    elif name == "write-out":
        o.write_out = value
    elif name == "output":
        o._outputs.append(value or "")
        _pair_outputs(o)
    elif name == "header":
        o.headers.append(value or "")
    elif name == "request":
        o.method = value
    elif name in ("data", "data-raw", "data-binary", "data-urlencode"):
        o.data = value if o.data is None else f"{o.data}&{value}"
    elif name == "url":
        o.urls.append((value or "", None))
        _pair_outputs(o)


def _pair_outputs(o: Options) -> None:
    """-o N pairs with URL N (in order), whichever comes first on the line."""
    for i, (url, out) in enumerate(o.urls):
        if out is None and o._outputs:
            o.urls[i] = (url, o._outputs.pop(0))


def parse(argv: list[str]) -> Options:
    o = Options()
    i = 0
    only_urls = False
    while i < len(argv):
        a = argv[i]
        i += 1
        if only_urls or not a.startswith("-") or a == "-":
            o.urls.append((a, None))
            _pair_outputs(o)
        elif a == "--":
            only_urls = True
        elif a.startswith("--"):
            i = _long(o, a[2:], argv, i)
        else:
            i = _short(o, a[1:], argv, i)
    return o


def _long(o: Options, name: str, argv: list[str], i: int) -> int:
    on = True
    if name not in LONG_ARG | LONG_FLAGS and name.startswith("no-") and name[3:] in LONG_FLAGS:
        name, on = name[3:], False
    if name in LONG_ARG:
        if i >= len(argv):
            raise CurlUsage(f"curl: option --{name}: requires parameter\n{HELP_HINT}")
        _set(o, name, argv[i])
        return i + 1
    if name in LONG_FLAGS:
        _set(o, name, None, on)
        return i
    raise CurlUsage(f"curl: option --{name}: is unknown\n{HELP_HINT}")


def _short(o: Options, letters: str, argv: list[str], i: int) -> int:
    for k, ch in enumerate(letters):
        name = SHORT.get(ch)
        if name is None:
            raise CurlUsage(f"curl: option -{letters}: is unknown\n{HELP_HINT}")
        if ch in SHORT_ARG:
            rest = letters[k + 1 :]
            if rest:
                _set(o, name, rest)
                return i
            if i >= len(argv):
                raise CurlUsage(f"curl: option -{ch}: requires parameter\n{HELP_HINT}")
            _set(o, name, argv[i])
            return i + 1
        _set(o, name, None)
    return i
