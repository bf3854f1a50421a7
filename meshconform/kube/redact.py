"""The last line of defence against a secret in a report, a log or a JUnit file.

Facts never hold a token or a key (fingerprints stand in for them), but diagnostics carry text the
suite did not write: events, istiod's and the proxies' logs, API error messages. Everything that
goes out passes `redact`, which blanks bearer tokens, JWTs and PEM private keys by shape, and any
value known to be secret verbatim: the tokens and client keys of the kubeconfig the run uses
(`kubeconfig_secrets`). `scrub_file` blanks keys and the known values in a file another plugin
wrote (pytest-html's report, JUnit XML), so a secret that slipped into a failure message still
never reaches disk.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from meshconform.kube.yamlload import SAFE_LOADER

REDACTED = "[redacted]"
# A token's value runs to the next space or quote: base64 ones carry '/', '+' and '='.
_BEARER = re.compile(r"(?i)(bearer\s+|token[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{16,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")
# A kubeconfig field holding a credential, as YAML or a quoted dict shows it (`'client-key-data': '...'`).
_FIELD = re.compile(
    r"(?i)((?:client-key-data|password|client-secret|id-token|refresh-token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"
)
_GOOGLE_TOKEN = re.compile(r"\bya29\.[A-Za-z0-9_\-.]{16,}")  # GKE users' OAuth access tokens
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
# A key marker without its end (a truncated log line) is still a key.
_PEM_KEY_START = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\s]*")
MIN_SECRET_LENGTH = 8  # shorter values would blank ordinary words


# The literal each pattern cannot match without (lower-cased where the pattern ignores case): a
# pattern runs only where its literal occurs. Scanning a text is C-fast; the case-insensitive
# patterns at every position were 0.7 ms per 6 kB of evidence, 1.2 s of a 20-cluster run.
_FIELD_WORDS = ("client-key-data", "password", "client-secret", "id-token", "refresh-token")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Blank out bearer tokens, JWTs, private keys and any of `secrets` seen verbatim."""
    text = redact_known(text, secrets)
    if "eyJ" in text:
        text = _JWT.sub("[token redacted]", text)
    if "ya29." in text:
        text = _GOOGLE_TOKEN.sub("[token redacted]", text)
    lowered = text.lower()
    if any(word in lowered for word in _FIELD_WORDS):
        text = _FIELD.sub(lambda m: m.group(1) + REDACTED, text)
    if "bearer" in lowered or "token" in lowered:
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def one_line(text: str, secrets: Iterable[str] = (), limit: int = 240) -> str:
    """The first line of a message others wrote (a client's, a plugin's), redacted, then cut: a
    refusal shows one line, and never half a token."""
    line = redact(text.splitlines()[0] if text else "", secrets)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def redact_known(text: str, secrets: Iterable[str] = ()) -> str:
    """Private keys and the given secret values only: safe on HTML and scripts others wrote."""
    if "-----BEGIN " in text:
        text = _PEM_KEY.sub("[private key redacted]", text)
        text = _PEM_KEY_START.sub("[private key redacted]", text)
    for value in secrets:
        if value and len(value) >= MIN_SECRET_LENGTH:
            text = text.replace(value, REDACTED)
    return text


def kubeconfig_secrets(path: str | Path | None, contexts: Iterable[str] = ()) -> tuple[str, ...]:
    """Tokens, passwords and client keys of the users behind `contexts` (all users if none)."""
    if not path:
        return ()
    try:
        doc = yaml.load(Path(path).read_text(), Loader=SAFE_LOADER)
    except (OSError, yaml.YAMLError):
        return ()
    if not isinstance(doc, dict):
        return ()
    wanted = set(contexts)
    users = {
        c["context"].get("user")
        for c in _entries(doc, "contexts", "context")
        if not wanted or c.get("name") in wanted
    }
    found: list[str] = []
    for entry in _entries(doc, "users", "user"):
        if not wanted or entry.get("name") in users:
            found += _user_secrets(entry["user"], Path(path).parent)
    return tuple(sorted(set(found), key=len, reverse=True))


def kubeconfig_files_secrets(kubeconfig: str | None, contexts: Iterable[str] = ()) -> tuple[str, ...]:
    """kubeconfig_secrets over the file(s) the client reads: --kubeconfig, else KUBECONFIG's list,
    else ~/.kube/config."""
    files = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    wanted = tuple(contexts)
    return tuple(s for f in files.split(os.pathsep) if f for s in kubeconfig_secrets(f, wanted))


def _entries(doc: dict[str, Any], section: str, body: str) -> list[dict[str, Any]]:
    """The entries of a kubeconfig section whose body is a mapping: a malformed one (the preflight
    refuses it) must not break the redaction that runs beside it."""
    items = doc.get(section)
    entries = items if isinstance(items, list) else []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get(body), dict)]


def _user_secrets(user: dict[str, Any], base: Path) -> list[str]:
    values = [str(user[k]) for k in ("token", "password") if user.get(k)]
    if user.get("tokenFile"):  # relative to the kubeconfig, as the client reads it
        with contextlib.suppress(OSError, UnicodeDecodeError):
            values.append((base / str(user["tokenFile"])).read_text().strip())
    key_data = user.get("client-key-data")
    if key_data:
        values.append(str(key_data))
        with contextlib.suppress(ValueError):
            values.append(base64.b64decode(str(key_data)).decode("ascii", "replace"))
    return values


def scrub_file(path: Path, secrets: Iterable[str] = ()) -> bool:
    """Redact a written file in place; True when something had to be blanked."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    clean = redact_known(text, secrets)
    if clean == text:
        return False
    path.write_text(clean, encoding="utf-8")
    return True
