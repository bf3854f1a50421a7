"""The small error hierarchy every Kubernetes call is translated into, once, in kube.py.

Callers catch these and never the client's ApiException or urllib3's errors, so a message can be
built from the Status reason and message alone. Nothing here holds request or response headers,
which is where bearer tokens live (modelled on kopf's `_cogs/clients/errors.py`).
"""

from __future__ import annotations


class KubeError(Exception):
    """An API call failed; `what` says which call, e.g. 'GET secrets istio-system/x on cluster-1'."""

    status: int = 0

    def __init__(self, what: str, reason: str = "", message: str = "", status: int | None = None) -> None:
        self.what = what
        self.reason = reason
        self.message = message
        if status is not None:
            self.status = status
        super().__init__(self.__str__())

    def __str__(self) -> str:
        detail = ": ".join(p for p in (self.reason, self.message) if p)
        code = f"{self.status} " if self.status else ""
        return f"{self.what} failed: {code}{detail}".rstrip(": ")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__str__()!r})"


class NotFound(KubeError):
    status = 404


class Conflict(KubeError):
    """409: AlreadyExists on create, Conflict on a stale update."""

    status = 409


class Unauthorized(KubeError):
    status = 401


class Forbidden(KubeError):
    status = 403


class Invalid(KubeError):
    status = 422


class TooManyRequests(KubeError):
    status = 429

    def __init__(
        self, what: str, reason: str = "", message: str = "", retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(what, reason, message)


class ServerError(KubeError):
    """5xx: the API server or something behind it is failing."""

    status = 500


class Unreachable(KubeError):
    """No HTTP answer at all: refused, reset, timed out, or TLS failed."""


class TLSFailure(Unreachable):
    """The server answered but its certificate did not verify; retrying cannot help."""


class ExecFailed(KubeError):
    """A command run in a pod could not be started or its stream broke."""


TRANSIENT: tuple[type[KubeError], ...] = (TooManyRequests, ServerError, Unreachable)
