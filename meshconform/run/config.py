"""Command-line values -> one frozen RunConfig, validated once.

Every option value is parsed by a small function here that raises ConfigError naming the option,
the bad value and what is allowed; the pytest plugin turns that into a usage error (exit 4). The
library itself never imports pytest, so these parsers are plain functions that unit tests call.
Checks that need the kubeconfig (contexts exist, servers answer TCP) live in `preflight`.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

JoinMode = Literal["create", "verify", "replace"]
JoinWith = Literal["native", "istioctl"]
JOIN_MODES: tuple[JoinMode, ...] = ("create", "verify", "replace")
JOIN_WITH: tuple[JoinWith, ...] = ("native", "istioctl")

# Real clusters pull images and inject sidecars: a rollout of two small deployments on GKE takes
# one to three minutes when nodes must scale. The lab starts pods in well under a second, so a
# lab run that has not converged in 30 s is stuck and should say so quickly.
READY_TIMEOUT_DEFAULT = 300.0
LAB_READY_TIMEOUT_DEFAULT = 30.0
# A TCP connect to an API server that takes longer than this is a firewall drop, not a slow server.
CONNECT_TIMEOUT = 5.0
# The least number of hello calls per source; the traffic stage sends more when the smallest
# replica share needs more to be judged (sampling.plan_calls: 387 at 20 clusters of one replica).
REQUESTS_DEFAULT = 50
# The mesh sizes the suite is built and measured for (2 to 20: 380 ordered pairs, run on a 2-core
# runner by the bench); a check over pairs needs two clusters.
MIN_CLUSTERS, MAX_CLUSTERS = 2, 20

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GKE_CONTEXT = re.compile(r"^gke_(?P<project>[^_]+)_(?P<location>[^_]+)_(?P<name>.+)$")


class ConfigError(Exception):
    """A bad option value or combination; the message is one line that says how to fix it."""


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs to know, decided before the first test."""

    contexts: tuple[str, ...]
    cluster_names: tuple[str, ...]
    kubeconfig: str | None = None
    revision: str | None = None  # --revision REV (or a tag): every cluster not named below
    # --revision CTX=REV: a cluster's own revision (or tag), keyed by context or cluster name
    cluster_revisions: Mapping[str, str] = field(default_factory=dict)
    join: JoinMode = "create"
    join_with: JoinWith = "native"
    namespace: str = "sample"
    requests: int = REQUESTS_DEFAULT
    keep: bool = False
    samples_dir: Path | None = None
    api_servers: Mapping[str, str] = field(default_factory=dict)
    ready_timeout: float = READY_TIMEOUT_DEFAULT
    report_dir: Path = Path("reports")
    cleanup_only: bool = False
    run_id: str = ""
    curl_batch: int = 0  # requests per curl invocation; 0 = all in one
    allow_inconclusive: bool = False  # a check that cannot decide is skipped, not failed
    baseline: Path | None = None  # a previous run's summary.json, compared against (report/baseline.py)
    target_version: str | None = None  # --target-version X.Y: the release a planned upgrade installs

    def name_of(self, context: str) -> str:
        return self.cluster_names[self.contexts.index(context)]

    def context_of(self, name: str) -> str:
        return self.contexts[self.cluster_names.index(name)]

    def revision_for(self, name: str) -> str | None:
        """The revision (or tag) named for cluster `name`: its own --revision CTX=REV (by context
        or cluster name), else --revision REV; None: the one it runs."""
        own = self.cluster_revisions.get(self.context_of(name)) or self.cluster_revisions.get(name)
        return own or self.revision

    def api_server_for(self, name: str) -> str | None:
        """The --api-server override for cluster `name` (given by context or by cluster name)."""
        return self.api_servers.get(self.context_of(name)) or self.api_servers.get(name)


def new_run_id() -> str:
    """Short, label-safe and unique enough to tell concurrent runs apart."""
    return "r" + secrets.token_hex(4)


# -- option value parsers (each is a `type=` for one option) --------------------------------------


def parse_positive_int(option: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a number; pass a whole number >= 1") from None
    if number <= 0:
        raise ConfigError(f"{option} {value!r} must be >= 1")
    return number


def parse_cluster_count(option: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is not a number; pass {MIN_CLUSTERS} to {MAX_CLUSTERS}"
        ) from None
    if not MIN_CLUSTERS <= number <= MAX_CLUSTERS:
        raise ConfigError(f"{option} {value!r} must be {MIN_CLUSTERS} to {MAX_CLUSTERS} clusters")
    return number


def parse_network_count(option: str, value: str) -> int:
    """--lab-networks: 1 to MAX_CLUSTERS (no more networks than clusters is the lab's to say)."""
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a number; pass 1 to {MAX_CLUSTERS}") from None
    if not 1 <= number <= MAX_CLUSTERS:
        raise ConfigError(f"{option} {value!r} must be 1 to {MAX_CLUSTERS} networks")
    return number


def check_context_count(contexts: Sequence[str], cleanup_only: bool) -> None:
    """2 to 20 contexts; --cleanup-only may clean a single one."""
    low = 1 if cleanup_only else MIN_CLUSTERS
    if low <= len(contexts) <= MAX_CLUSTERS:
        return
    if len(contexts) > MAX_CLUSTERS:
        raise ConfigError(
            f"{len(contexts)} contexts given; the suite checks {MIN_CLUSTERS} to {MAX_CLUSTERS} "
            "clusters at a time: split the fleet into runs of at most 20"
        )
    raise ConfigError(
        f"one context given ({contexts[0]}); the suite checks {MIN_CLUSTERS} to {MAX_CLUSTERS} clusters: "
        "pass --ctx2 CTX (or another --ctx CTX) for a cluster it shares the mesh with"
    )


def parse_seconds(option: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a number of seconds; e.g. {option} 120") from None
    if not seconds > 0:
        raise ConfigError(f"{option} {value!r} must be > 0 seconds")
    return seconds


def parse_milliseconds(option: str, value: str, most: float = 5000.0) -> float:
    try:
        ms = float(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a number of milliseconds; e.g. {option} 20") from None
    if not 0 <= ms <= most:  # also refuses nan
        raise ConfigError(f"{option} {value!r} must be 0 to {most:g} milliseconds")
    return ms


def parse_namespace(option: str, value: str) -> str:
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ConfigError(
            f"{option} {value!r} is not a valid namespace name; allowed: lowercase letters, digits "
            "and '-', starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def parse_choice(option: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(f"{option} {value!r} is not one of: {', '.join(allowed)}")
    return value


def parse_assignment(option: str, value: str, what: str) -> tuple[str, str]:
    """CTX=VALUE, e.g. --cluster-name gke_p_z_c1=east."""
    key, sep, rest = value.partition("=")
    if not sep or not key or not rest:
        raise ConfigError(f"{option} {value!r} must look like CONTEXT={what}")
    return key, rest


def parse_cluster_name(option: str, value: str) -> tuple[str, str]:
    ctx, name = parse_assignment(option, value, "NAME")
    if len(name) > 63 or not _DNS1123_LABEL.match(name):
        raise ConfigError(f"{option} {value!r}: {name!r} is not a DNS-1123 label (istioctl requires one)")
    return ctx, name


def parse_revision(option: str, value: str) -> str | tuple[str, str]:
    """REV (a revision or a revision tag, for every cluster) or CTX=REV (one cluster, by context or
    cluster name); a revision is a DNS-1123 label (the istio.io/rev label value), so no `=`."""
    key, sep, rev = value.rpartition("=")
    if sep and not key:
        raise ConfigError(f"{option} {value!r} must look like REV or CONTEXT=REV")
    if len(rev) > 63 or not _DNS1123_LABEL.match(rev):
        raise ConfigError(
            f"{option} {value!r}: {rev!r} is not a revision name (lower case letters, digits and '-', "
            "e.g. asm-1285-9 or prod-stable)"
        )
    return (key, rev) if sep else rev


def resolve_revisions(
    given: Sequence[str | tuple[str, str]], contexts: Sequence[str], names: Sequence[str]
) -> tuple[str | None, dict[str, str]]:
    """Repeated --revision values -> (the one for every cluster, {context or name: its own})."""
    single = [g for g in given if isinstance(g, str)]
    if len(single) > 1:
        raise ConfigError(
            f"--revision is given twice ({', '.join(single)}); name one for every cluster, and others "
            "per cluster as --revision CTX=REV"
        )
    own: dict[str, str] = {}
    for key, rev in (g for g in given if isinstance(g, tuple)):
        if key not in contexts and key not in names:
            raise ConfigError(
                f"--revision {key}={rev}: {key!r} is neither a context nor a cluster name of this run "
                f"({', '.join(names)})"
            )
        index = list(contexts).index(key) if key in contexts else list(names).index(key)
        if any(k in own for k in (contexts[index], names[index])):
            raise ConfigError(f"--revision names a revision for {names[index]} twice; give one")
        own[key] = rev
    return (single[0] if single else None), own


def parse_api_server(option: str, value: str) -> tuple[str, str]:
    ctx, url = parse_assignment(option, value, "URL")
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise ConfigError(f"{option} {value!r}: {url!r} is not an https:// URL")
    return ctx, url


REPORT_HTML, JUNIT_XML, SUMMARY_JSON = "report.html", "junit.xml", "summary.json"  # under --report-dir
REPORT_FILES = (REPORT_HTML, JUNIT_XML, SUMMARY_JSON)


def parse_report_dir(option: str, value: str) -> str:
    """A directory that exists or can be made: its nearest existing ancestor is a writable directory
    (pytest-html would otherwise fail on it with an internal error), and none of the report files
    in it is a directory (written only after the run, whose summary line that error would cut
    short). A dangling symbolic link counts as there: mkdir cannot make it. Nothing is created."""
    path = Path(value).expanduser()
    existing = next(p for p in (path, *path.parents) if os.path.lexists(p))
    if existing.is_symlink() and not existing.exists():
        raise ConfigError(f"{option} {value!r}: {existing} is a broken symbolic link; pass a directory")
    if not existing.is_dir():
        raise ConfigError(f"{option} {value!r}: {existing} is a file, not a directory; pass a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {value!r}: {existing} is not writable; pass a directory you may write")
    for name in REPORT_FILES if existing == path else ():
        if (path / name).is_dir():
            raise ConfigError(f"{option} {value!r}: {path / name} is a directory; remove it or pass another")
    return value


def parse_baseline(option: str, value: str) -> Path:
    """A readable file; whether it is a summary this version can compare with is read later."""
    path = Path(value).expanduser()
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(f"{option} {value!r} is not a readable file; pass a previous run's summary.json")
    return path


def parse_target_version(option: str, value: str) -> str:
    """MAJOR.MINOR of the Istio or Cloud Service Mesh release an upgrade is headed for (`1.29`)."""
    if not re.fullmatch(r"1\.\d{1,2}", value):
        raise ConfigError(f"{option} {value!r} is not a release's MAJOR.MINOR; pass e.g. 1.29")
    return value


def parse_samples_dir(option: str, value: str) -> Path:
    root = Path(value).expanduser()
    missing = [p for p in ("helloworld/helloworld.yaml",) if not (root / p).is_file()]
    if not any((root / p).is_file() for p in ("sleep/sleep.yaml", "curl/curl.yaml")):
        missing.append("sleep/sleep.yaml (or curl/curl.yaml)")
    if missing:
        raise ConfigError(
            f"{option} {value!r} lacks {', '.join(missing)}; pass the samples/ directory of an Istio or "
            "ASM release"
        )
    return root


# -- turning contexts into clusters ---------------------------------------------------------------


def cluster_name_from_context(context: str) -> str:
    """`gke_PROJECT_LOCATION_NAME` gives NAME, as the guide's CLUSTER_N_NAME; others stay whole."""
    match = _GKE_CONTEXT.match(context)
    return match.group("name") if match else context


def resolve_contexts(ctx1: str | None, ctx2: str | None, ctx: Sequence[str]) -> tuple[str, ...]:
    contexts = [c for c in (ctx1, ctx2) if c] + list(ctx)
    seen: set[str] = set()
    for c in contexts:
        if c in seen:
            raise ConfigError(
                f"context {c!r} is given twice; every --ctx/--ctx1/--ctx2 must name another cluster"
            )
        seen.add(c)
    return tuple(contexts)


def resolve_cluster_names(contexts: Sequence[str], overrides: Mapping[str, str]) -> tuple[str, ...]:
    unknown = sorted(set(overrides) - set(contexts))
    if unknown:
        raise ConfigError(
            f"--cluster-name names context {unknown[0]!r}, which is not one of --ctx: {', '.join(contexts)}"
        )
    names = tuple(overrides.get(c) or cluster_name_from_context(c) for c in contexts)
    for context, name in zip(contexts, names, strict=True):
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            raise ConfigError(
                f"context {context!r} gives cluster name {name!r}, not a DNS-1123 label; "
                f"pass --cluster-name {context}=NAME"
            )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            f"cluster name {dupes[0]!r} is claimed by two contexts; pass --cluster-name CTX=NAME"
        )
    return names


def kubeconfig_path(option_value: str | None) -> str | None:
    """The explicit --kubeconfig, else None so that the client applies KUBECONFIG / ~/.kube/config."""
    if option_value is None:
        return None
    path = os.path.expanduser(option_value)
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ConfigError(f"--kubeconfig {option_value!r} is not a readable file")
    return path


def probe_tcp(server: str, context: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Refuse an API server that does not accept a TCP connection within `timeout` seconds."""
    parsed = urlparse(server)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise ConfigError(
            f"cannot reach the API server of context {context!r} at {server} within {timeout:g}s: {reason}"
        ) from None
