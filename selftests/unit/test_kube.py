"""client.py: errors translated once, never carrying headers or tokens; retries only transient errors."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from meshconform.kube import client, errors

TOKEN = "eyJhbGciOiJSUzI1NiJ9.very-secret-token-value.signature-part"


class FakeResponse:
    def __init__(self, status, body, headers=None):
        self.status, self.reason, self.data = status, "Reason", body.encode()
        self.headers = headers or {}

    def getheaders(self):
        return self.headers


def api_exception(status, reason="", message="", headers=None):
    body = json.dumps(
        {"kind": "Status", "status": "Failure", "reason": reason, "message": message, "code": status}
    )
    return ApiException(
        http_resp=FakeResponse(status, body, {"Authorization": f"Bearer {TOKEN}", **(headers or {})})
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (422, errors.Invalid),
        (429, errors.TooManyRequests),
        (500, errors.ServerError),
        (503, errors.ServerError),
    ],
)
def test_translation_by_status(status, cls):
    err = client.translate(api_exception(status, "SomeReason", "some message"), "GET pods on c1")
    assert type(err) is cls
    assert str(err) == f"GET pods on c1 failed: {status} SomeReason: some message"
    assert TOKEN not in repr(err) and TOKEN not in str(err) and "Authorization" not in repr(err)


def test_connection_errors_become_unreachable():
    err = client.translate(urllib3.exceptions.NewConnectionError(None, "refused"), "GET /version on c1")
    assert isinstance(err, errors.Unreachable)
    tls = client.translate(urllib3.exceptions.SSLError("CERTIFICATE_VERIFY_FAILED"), "GET /version on c1")
    assert isinstance(tls, errors.TLSFailure)


class FakeResponseOK:
    data = b'{"kind": "Namespace"}'


def fake_cluster():
    cfg = client.client.Configuration()
    cfg.host = "https://127.0.0.1:1"
    return client.Cluster("ctx", "cluster-1", cfg)


def test_read_retries_transient_then_succeeds(monkeypatch, caplog):
    monkeypatch.setattr(client.time, "sleep", lambda s: None)
    calls = iter([api_exception(503, "ServiceUnavailable"), api_exception(429, "TooManyRequests"), None])

    def fn(**kwargs):
        exc = next(calls)
        if exc:
            raise exc
        return FakeResponseOK()

    c = fake_cluster()
    assert c.read("GET namespace x", fn) == {"kind": "Namespace"}
    assert c.stats.api_requests == 1 and c.stats.retries == 1
    assert "GET namespace x on cluster-1 attempt 1/5 failed" in caplog.text and "will retry" in caplog.text


def test_read_gives_up_after_attempts(monkeypatch):
    monkeypatch.setattr(client.time, "sleep", lambda s: None)
    attempts = []

    def fn(**kwargs):
        attempts.append(1)
        raise api_exception(503, "ServiceUnavailable")

    c = fake_cluster()
    with pytest.raises(errors.ServerError):
        c.read("GET x", fn)
    assert len(attempts) == client.ATTEMPTS
    # One call, retried and given up: the report's API line must not say "0 retried".
    assert (c.stats.api_requests, c.stats.retries) == (1, 1), c.stats.as_dict()
    assert c.stats.notes == [f"GET x on cluster-1: attempt {client.ATTEMPTS}, gave up"]


def test_a_definite_answer_after_a_retry_is_not_giving_up(monkeypatch):
    """503 then 404: the retry got the API server's answer (the object is not there); the note
    says which attempt answered, not that the call gave up."""
    monkeypatch.setattr(client.time, "sleep", lambda s: None)
    answers = iter([api_exception(503, "ServiceUnavailable"), api_exception(404, "NotFound")])

    def fn(**kwargs):
        raise next(answers)

    c = fake_cluster()
    with pytest.raises(errors.NotFound):
        c.read("GET x", fn)
    assert c.stats.notes == ["GET x on cluster-1: attempt 2"]


def test_retry_log_names_the_reason_without_an_empty_status(monkeypatch, caplog):
    monkeypatch.setattr(client.time, "sleep", lambda s: None)
    calls = []

    def fn(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise urllib3.exceptions.ProtocolError("Connection aborted.")
        return FakeResponseOK()

    caplog.set_level("WARNING", logger="meshconform.kube.client")
    fake_cluster().read("GET x", fn)
    assert "attempt 1/5 failed (ProtocolError); will retry" in caplog.text, caplog.text


def test_real_failures_and_non_idempotent_writes_are_not_retried(monkeypatch):
    monkeypatch.setattr(client.time, "sleep", lambda s: None)
    attempts = []

    def fn(*args, **kwargs):
        attempts.append(1)
        raise api_exception(503 if len(attempts) > 1 else 404, "NotFound")

    with pytest.raises(errors.NotFound):
        fake_cluster().read("GET x", fn)
    attempts.clear()

    def flaky(*args, **kwargs):
        attempts.append(1)
        raise api_exception(503, "ServiceUnavailable")

    with pytest.raises(errors.ServerError):
        fake_cluster().write("POST x", flaky)
    assert len(attempts) == 1


def test_retry_after_is_honoured():
    err = client.translate(api_exception(429, "TooManyRequests", headers={"Retry-After": "3"}), "GET x")
    assert isinstance(err, errors.TooManyRequests) and client._backoff(1, err) == 3.0


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"metadata":{},"status":"Success"}', 0),
        (
            '{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}',
            7,
        ),
        ('{"status":"Failure","message":"container not found"}', None),
        ("", None),
    ],
)
def test_exec_exit_code_from_status_channel(text, code):
    assert client._exit_code(text) == code
