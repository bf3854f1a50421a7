"""Kubernetes API errors, one class per real metav1.Status reason, with the apiserver's texts.

Clients branch on `code` and `reason` (the Python client's ApiException.status/.reason, kubectl's
`Error from server (NotFound): ...`), so the texts follow k8s.io/apimachinery/pkg/api/errors/
errors.go (NewNotFound, NewAlreadyExists, NewConflict, NewInvalid, NewForbidden, NewGone, ...)
word for word. Raise them from anywhere on the lab's loop; the HTTP layer renders `to_status()`.
Class names end in `Error` as PEP 8 names exceptions (NotFoundError for reason NotFound, GoneError
for 410 Expired), so that they never read like the suite's client-side errors, which the bare
reason names.
"""

from __future__ import annotations

from typing import Any


def qualified(resource: str, group: str) -> str:
    """`pods`, `deployments.apps`: how errors.go prints a GroupResource."""
    return f"{resource}.{group}" if group else resource


class StatusError(Exception):
    """A failure the API answers with a metav1.Status body."""

    code = 500
    reason = "InternalError"

    def __init__(
        self, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        if not status["reason"]:
            del status["reason"]
        return status


def _details(resource: str, group: str, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": resource}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


class BadRequestError(StatusError):
    code, reason = 400, "BadRequest"


class UnauthorizedError(StatusError):
    code, reason = 401, "Unauthorized"

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message)


class ForbiddenError(StatusError):
    code, reason = 403, "Forbidden"

    @classmethod
    def for_resource(cls, resource: str, group: str, name: str | None, why: str) -> ForbiddenError:
        what = qualified(resource, group)
        subject = f'{what} "{name}"' if name else what
        return cls(f"{subject} is forbidden: {why}", _details(resource, group, name))


class NotFoundError(StatusError):
    code, reason = 404, "NotFound"

    def __init__(self, resource: str, name: str, group: str = "") -> None:
        super().__init__(f'{qualified(resource, group)} "{name}" not found', _details(resource, group, name))


class PathNotFoundError(StatusError):
    """404 for a URL no route serves (the apiserver's plain 'the server could not find ...')."""

    code, reason = 404, "NotFound"

    def __init__(self) -> None:
        super().__init__("the server could not find the requested resource", {})


class MethodNotAllowedError(StatusError):
    code, reason = 405, "MethodNotAllowed"

    def __init__(
        self, message: str = "the server does not allow this method on the requested resource"
    ) -> None:
        super().__init__(message)


class AlreadyExistsError(StatusError):
    code, reason = 409, "AlreadyExists"

    def __init__(self, resource: str, name: str, group: str = "") -> None:
        super().__init__(
            f'{qualified(resource, group)} "{name}" already exists', _details(resource, group, name)
        )


class ConflictError(StatusError):
    code, reason = 409, "Conflict"

    OPTIMISTIC = "the object has been modified; please apply your changes to the latest version and try again"

    def __init__(self, resource: str, name: str, group: str = "", why: str = OPTIMISTIC) -> None:
        super().__init__(
            f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
            _details(resource, group, name),
        )


class GoneError(StatusError):
    """410 with reason Expired: a watch or list continued from a compacted resourceVersion."""

    code, reason = 410, "Expired"

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")


class UnsupportedMediaTypeError(StatusError):
    code, reason = 415, "UnsupportedMediaType"


class InvalidError(StatusError):
    """422: `Pod "X" is invalid: metadata.name: Invalid value: "X": ...` with one cause per field."""

    code, reason = 422, "Invalid"

    def __init__(self, kind: str, name: str, group: str, causes: list[dict[str, str]]) -> None:
        texts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
        joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        details: dict[str, Any] = {"name": name, "kind": kind, "causes": causes}
        if group:
            details["group"] = group
        super().__init__(f'{kind}{"." + group if group else ""} "{name}" is invalid: {joined}', details)


def field_invalid(field: str, value: Any, detail: str) -> dict[str, str]:
    """One cause as field/errors.go's Invalid(): `Invalid value: "X": detail`."""
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {shown}: {detail}", "field": field}


def field_required(field: str, detail: str = "") -> dict[str, str]:
    return {
        "reason": "FieldValueRequired",
        "message": "Required value" + (f": {detail}" if detail else ""),
        "field": field,
    }


class TooManyRequestsError(StatusError):
    code, reason = 429, "TooManyRequests"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(
            "Too many requests, please try again later.",
            {"retryAfterSeconds": retry_after},
            {"Retry-After": str(retry_after)},
        )


class InternalError(StatusError):
    code, reason = 500, "InternalError"

    def __init__(self, why: str) -> None:
        super().__init__(f"Internal error occurred: {why}", {"causes": [{"message": why}]})


class ServiceUnavailableError(StatusError):
    code, reason = 503, "ServiceUnavailable"

    def __init__(self, message: str = "service unavailable") -> None:
        super().__init__(message)
