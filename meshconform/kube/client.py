"""One kube context: its API clients, server URL, cluster name, exec, and careful retries.

Contexts are loaded by the official client's own kubeconfig loader, so GKE `exec` auth plugins
and token refresh keep working. Every call goes through `Cluster.read`/`Cluster.write`, which
ask for raw JSON (plain dicts are what our facts are made of), translate the client's exceptions
into `meshconform.kube.errors` once, and retry only the named transient errors (429, 5xx, dropped
connections) on reads and idempotent writes, logging each attempt. The shape follows kopf's
`_cogs/clients/api.py`; nothing here ever logs a header, a token or a kubeconfig.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config import kube_config
from kubernetes.stream import stream

from meshconform.kube import errors
from meshconform.kube.redact import redact

log = logging.getLogger("meshconform.kube.client")

Obj = dict[str, Any]

ATTEMPTS = 5
BACKOFF_FIRST = 0.2  # seconds; doubles per attempt, so five attempts wait at most ~3 s in all
BACKOFF_MAX = 2.0
# (connect, read): a connect that takes 5 s is a drop; a read of a few hundred objects takes < 1 s.
REQUEST_TIMEOUT = (5.0, 30.0)
# JSON merge patch (RFC 7386): a null deletes a key; metadata.resourceVersion in it is a precondition.
MERGE_PATCH = "application/merge-patch+json"
POOL_CONNECTIONS = 40  # per API server: 2 x (20 - 1) requests of the join at once, see load_configuration
_BY_STATUS: dict[int, type[errors.KubeError]] = {
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    422: errors.Invalid,
    429: errors.TooManyRequests,
}


@dataclass
class ApiStats:
    """What one cluster's client did; shown in the report so retries are never silent."""

    api_requests: int = 0
    retries: int = 0
    exec_sessions: int = 0
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, retried: str | None = None) -> None:
        with self.lock:
            self.api_requests += 1
            if retried:
                self.retries += 1
                if len(self.notes) < 20:
                    self.notes.append(retried)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.api_requests,
            "retries": self.retries,
            "exec_sessions": self.exec_sessions,
            "notes": list(self.notes),
        }


@dataclass
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int | None  # None: the stream ended without a status


def translate(exc: BaseException, what: str, secrets: Collection[str] = ()) -> errors.KubeError:
    """The client's exception -> our hierarchy, keeping only the Status reason and message, with
    credentials blanked: by shape, and `secrets` (the caller's own) verbatim. A proxy's error page
    or a 500 may echo the request's Authorization header, and http.client's refusal of a header
    value (a token file's trailing newline) quotes the whole header."""
    if isinstance(exc, errors.KubeError):
        return exc
    if isinstance(exc, ApiException):
        return _from_api_exception(exc, what, secrets)
    text = str(exc)
    if isinstance(exc, urllib3.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return errors.TLSFailure(what, "TLSHandshake", _short(text, secrets))
    return errors.Unreachable(what, type(exc).__name__, _short(text, secrets))


def _from_api_exception(exc: ApiException, what: str, secrets: Collection[str]) -> errors.KubeError:
    status = int(exc.status or 0)
    reason, message = _status_fields(exc.body, secrets)
    if status == 0:  # the websocket layer reports every failure as status 0
        return errors.Unreachable(what, "Connection", _short(str(exc.reason or ""), secrets))
    if status == 429:
        retry_after = (exc.headers or {}).get("Retry-After")
        seconds = float(retry_after) if retry_after and str(retry_after).isdigit() else None
        return errors.TooManyRequests(what, reason or "TooManyRequests", message, retry_after=seconds)
    cls = _BY_STATUS.get(status) or (errors.ServerError if status >= 500 else errors.KubeError)
    return cls(what, reason or _short(str(exc.reason or ""), secrets), message, status=status)


def _status_fields(body: object, secrets: Collection[str] = ()) -> tuple[str, str]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.startswith("{"):
        return "", ""
    try:
        status = json.loads(body)
    except ValueError:
        return "", ""
    reason, message = (_short(str(status.get(k) or ""), secrets) for k in ("reason", "message"))
    return reason, message


def _short(text: str, secrets: Collection[str] = (), limit: int = 200) -> str:
    text = text.split(" -+-+- ")[0]  # websocket errors append headers
    text = redact(text, secrets).replace("\n", " ").strip()  # before cutting: no half a token
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _TrimmedTokenLoader(kube_config.KubeConfigLoader):
    """The client's loader, sending the token without surrounding whitespace as kubectl does:
    client-go trims a tokenFile (`echo $TOKEN > file` ends it in a newline), the Python client
    sends it as read, and http.client refuses a header value with a newline. _set_config also
    runs before every request (the client's refresh hook), after any reload of the token."""

    def _set_config(self, client_configuration: client.Configuration) -> None:
        if isinstance(self.__dict__.get("token"), str):
            self.token = self.token.strip()
        super()._set_config(client_configuration)  # type: ignore[no-untyped-call]


def load_configuration(context: str, kubeconfig: str | None) -> client.Configuration:
    """The client's own loader (exec plugins, GKE auth) into a Configuration we can tune."""
    cfg = client.Configuration()
    # What config.load_kube_config does, minus parsing the file(s) again for every context.
    loader = _TrimmedTokenLoader(  # type: ignore[no-untyped-call]
        config_dict=merged_kubeconfig(kubeconfig), config_base_path=None, active_context=context
    )
    loader.load_and_set(cfg)  # type: ignore[no-untyped-call]
    cfg.retries = False  # we retry ourselves, with logging and only where it is safe
    # The client's default pool keeps 5 x CPUs connections (10 on a 2-core runner); the join sends
    # up to 2 x (N-1) requests to one API server at once, and each connection beyond the pool is
    # dropped after its request, so the next one pays a new TLS handshake.
    cfg.connection_pool_maxsize = max(cfg.connection_pool_maxsize or 0, POOL_CONNECTIONS)
    return cfg


def list_contexts(kubeconfig: str | None) -> list[dict[str, Any]]:
    """The contexts of the kubeconfig, as the client's merger read them. Not through
    KubeConfigLoader, which needs a current-context even to list the contexts ("Expected key
    current-context"): kubectl needs none when a context is named, and the kubeconfigs CI systems
    generate often have none."""
    merged = merged_kubeconfig(kubeconfig)
    return [getattr(entry, "value", entry) for entry in merged.value.get("contexts") or []]


_MERGED: dict[tuple[Any, ...], Any] = {}
_MERGED_LOCK = threading.Lock()


def merged_kubeconfig(kubeconfig: str | None) -> Any:
    """The kubeconfig file(s) read and merged by the client's own KubeConfigMerger (KUBECONFIG's
    list, relative certificate paths kept per file), once per content: its pure-Python YAML parse
    cost ~25 ms a time, and a run loaded it for the context list and again for every context.

    Merged as kubectl merges KUBECONFIG (client-go tools/clientcmd/loader.go, LoadingRules.Load):
    files that do not exist or are empty are skipped, the first file to name a cluster, user or
    context wins (the client's merger does that too), and so does the first file that sets
    current-context (the client's lets the last one win; we restore kubectl's rule)."""
    files = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    paths = [os.path.expanduser(p) for p in files.split(os.pathsep) if p]
    key = (files, *(_stamp(p) for p in paths))
    with _MERGED_LOCK:
        if key not in _MERGED:
            merger = kube_config.KubeConfigMerger(  # type: ignore[no-untyped-call]
                os.pathsep.join(p for p in paths if not _empty(p))
            )
            if merger.config is None:  # the client's own words for it
                raise config.ConfigException("Invalid kube-config file. No configuration found.")
            _first_current_context(merger)
            _MERGED.clear()
            _MERGED[key] = merger.config
        return _MERGED[key]


def _empty(path: str) -> bool:
    """An empty or whitespace-only file, which kubectl reads as an empty config (the client's
    merger refuses the whole list for it)."""
    try:
        with open(path, "rb") as f:
            return not f.read(1 << 16).strip()
    except OSError:  # missing: the merger skips it; unreadable: the merger says so
        return False


def _first_current_context(merger: Any) -> None:
    for path in merger.paths:
        doc = merger.config_files.get(path)
        if isinstance(doc, dict) and doc.get("current-context"):
            merger.config.value["current-context"] = doc["current-context"]
            return


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class Cluster:
    """One context's clients; the only object in meshconform that talks to an API server."""

    def __init__(self, context: str, name: str, configuration: client.Configuration) -> None:
        self.context = context
        self.name = name
        self.configuration = configuration
        self.server: str = configuration.host
        self.api_client = client.ApiClient(configuration)
        self.stats = ApiStats()
        self.attempts = ATTEMPTS  # preflight lowers it: a down server is the reach check's to report
        self._dynamic: Any = None

    @classmethod
    def connect(cls, context: str, name: str, kubeconfig: str | None) -> Cluster:
        return cls(context, name, load_configuration(context, kubeconfig))

    def __repr__(self) -> str:
        return f"Cluster({self.name!r}, server={self.server!r})"

    # The typed APIs are built on first use: with kubernetes>=37 (pydantic) importing them costs
    # ~1.5 s of CPU, which an xdist worker that only reads the shared facts never needs to pay.
    @functools.cached_property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @functools.cached_property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)

    @functools.cached_property
    def authz(self) -> client.AuthorizationV1Api:
        return client.AuthorizationV1Api(self.api_client)

    @functools.cached_property
    def admission(self) -> client.AdmissionregistrationV1Api:
        return client.AdmissionregistrationV1Api(self.api_client)

    @functools.cached_property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    @functools.cached_property
    def version_api(self) -> client.VersionApi:
        return client.VersionApi(self.api_client)

    @property
    def dynamic(self) -> Any:
        """The dynamic client, built on first use: its discovery costs a dozen requests."""
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            self._dynamic = self.read("discovery", DynamicClient, self.api_client, raw=False)
        return self._dynamic

    def credentials(self) -> list[str]:
        """The values this context sends as its Authorization header, with and without the scheme
        (the client refreshes an exec plugin's token, so read now): blanked in any error text."""
        values = [str(v).strip() for v in (self.configuration.api_key or {}).values() if v]
        values += [v.split(None, 1)[1] for v in values if " " in v]
        return values + [repr(v)[1:-1] for v in values]  # as a refused header value quotes it

    # -- calls ------------------------------------------------------------------------------------

    def read(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        raw: bool = True,
        retry: bool = True,
        **kwargs: Any,
    ) -> Any:
        """A GET/LIST (or any safe call): retried on transient errors unless `retry` is False."""
        return self._call(what, fn, args, kwargs, retry=retry, raw=raw)

    def write(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        idempotent: bool = False,
        raw: bool = True,
        **kwargs: Any,
    ) -> Any:
        """A write; retried only when repeating it cannot do harm (delete, PUT, a create we check)."""
        return self._call(what, fn, args, kwargs, retry=idempotent, raw=raw)

    def _call(
        self,
        what: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        retry: bool,
        raw: bool,
    ) -> Any:
        label = f"{what} on {self.name}"
        if raw:
            kwargs = {"_preload_content": False, "_request_timeout": REQUEST_TIMEOUT, **kwargs}
        attempts = self.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                result = fn(*args, **kwargs)
                self.stats.count(retried=f"{label}: attempt {attempt}" if attempt > 1 else None)
                return _decode(result) if raw else result
            except Exception as exc:  # translated right here, never beyond this module
                error = translate(exc, label, self.credentials())
            if (
                not isinstance(error, errors.TRANSIENT)
                or isinstance(error, errors.TLSFailure)
                or attempt == attempts
            ):  # a call that failed after retries was retried all the same: count it so
                # A definite answer after a retry (404, 409, 403) is the retry working; only a
                # transient error on the last attempt is giving up.
                ending = ", gave up" if isinstance(error, errors.TRANSIENT) else ""
                self.stats.count(retried=f"{label}: attempt {attempt}{ending}" if attempt > 1 else None)
                raise error
            delay = _backoff(attempt, error)
            why = " ".join(str(part) for part in (error.status, error.reason) if part)
            log.warning(
                "%s attempt %d/%d failed (%s); will retry in %.1fs", label, attempt, attempts, why, delay
            )
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def watch(self, what: str, fn: Callable[..., Any], timeout: float, **kwargs: Any) -> Iterator[Obj]:
        """Watch events as raw dicts for at most `timeout` seconds; errors are translated."""
        label = f"WATCH {what} on {self.name}"
        w = watch.Watch()  # type: ignore[no-untyped-call]
        self.stats.count()
        try:
            events = w.stream(
                fn,
                timeout_seconds=max(1, int(timeout)),  # type: ignore[no-untyped-call]
                _request_timeout=(REQUEST_TIMEOUT[0], timeout + 5),
                **kwargs,
            )
            for event in events:
                yield {"type": event["type"], "object": event["raw_object"]}
        except Exception as exc:
            raise translate(exc, label, self.credentials()) from None
        finally:
            w.stop()  # type: ignore[no-untyped-call]

    def exec(
        self, pod: str, namespace: str, container: str, command: list[str], timeout: float
    ) -> ExecResult:
        """Run `command` in a container over the websocket exec API and wait for it to exit."""
        label = f"EXEC {namespace}/{pod} -c {container} on {self.name}"
        # stream() swaps call_api on the ApiClient it is given, so each exec gets its own.
        core = client.CoreV1Api(client.ApiClient(self.configuration))
        with self.stats.lock:
            self.stats.exec_sessions += 1
        self.stats.count()
        try:
            ws = stream(
                core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=command,
                container=container,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
            )
            ws.run_forever(timeout=timeout)
            out, err = ws.read_stdout(timeout=0) or "", ws.read_stderr(timeout=0) or ""
            status_text = ws.read_channel(3, timeout=0)
            ws.close()
        except Exception as exc:
            raise translate(exc, label, self.credentials()) from None
        return ExecResult(out, err, _exit_code(status_text))

    def exec_with_retry(
        self, pod: str, namespace: str, container: str, command: list[str], timeout: float
    ) -> ExecResult:
        """exec, retried when the stream dropped before the command reported an exit status."""
        for attempt in range(1, 4):
            try:
                result = self.exec(pod, namespace, container, command, timeout)
            except errors.Unreachable as exc:
                if attempt == 3:
                    raise
                log.warning("%s attempt %d/3 failed (%s); will retry", exc.what, attempt, exc.reason)
                time.sleep(BACKOFF_FIRST * 2**attempt)
                continue
            if result.exit_code is not None or attempt == 3:
                return result
            log.warning(
                "EXEC %s/%s on %s attempt %d/3 ended without exit status; will retry",
                namespace,
                pod,
                self.name,
                attempt,
            )
        raise AssertionError("unreachable")  # pragma: no cover


def _decode(response: Any) -> Any:
    data = getattr(response, "data", response)
    if isinstance(data, bytes | bytearray):
        return json.loads(data) if data else {}
    return data


def _backoff(attempt: int, error: errors.KubeError) -> float:
    if isinstance(error, errors.TooManyRequests) and error.retry_after:
        return min(error.retry_after, 10.0)
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** (attempt - 1)) * (0.8 + 0.4 * random.random())


def _exit_code(status_text: str | None) -> int | None:
    """Channel 3 carries a metav1.Status: Success, or Failure with an ExitCode cause."""
    if not status_text:
        return None
    try:
        status = json.loads(status_text)
    except ValueError:
        return None
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", ""))
            except ValueError:
                return None
    return None
