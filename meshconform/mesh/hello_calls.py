"""The guide's step 6, batched: one exec per source pod, one curl, many hello calls, one tally.

Instead of N `kubectl exec ... curl helloworld.sample:5000/hello` round trips we run a single curl
over a URL glob (`/hello?[1-50]`), with `-w` printing a marker line after each response, so a
source's whole sample costs one exec session. The replies look like
`Hello version: v2, instance: helloworld-v2-758dd55874-6x4t8`; each is tallied by version, by
pod and by status code, and curl's own errors (stderr with -sS) are kept, a few, as evidence.
"""

from __future__ import annotations

import re

from meshconform.kube.client import Cluster
from meshconform.mesh.facts import Tally

MARKER = "meshconform"
WRITE_OUT = "\\n" + MARKER + " code=%{http_code}\\n"
_MARKER_RE = re.compile(re.escape(MARKER) + r" code=(\d{3})")
_TITLE_RE = re.compile(r"<title>(.*?)</title>", re.I | re.S)
_TAG_RE = re.compile(r"<[^>]+>")
_REPLY_RE = re.compile(r"Hello version: (?P<version>\S+?), instance: (?P<pod>\S+)")
PORT = 5000
CALL_TIMEOUT = 5  # curl -m, per call: a hello answers in milliseconds; 5 s is a hang
EXEC_SLACK = 30.0  # on top of the calls' own budget, for the exec session itself


def curl_command(namespace: str, count: int, first: int = 1) -> list[str]:
    """One curl over a URL glob; `-w` marks where each response ends and what it answered."""
    url = f"http://helloworld.{namespace}:{PORT}/hello?[{first}-{first + count - 1}]"
    return ["curl", "-s", "-S", "-m", str(CALL_TIMEOUT), "-w", WRITE_OUT, url]


def batches(total: int, size: int) -> list[tuple[int, int]]:
    """(first, count) per curl; size 0 means all in one."""
    size = size if size > 0 else total
    return [(first, min(size, total - first + 1)) for first in range(1, total + 1, size)]


def parse(source: str, stdout: str, stderr: str = "", tally: Tally | None = None) -> Tally:
    """Fold curl's output (bodies, each followed by a marker) into a Tally."""
    tally = tally or Tally(source=source)
    position = 0
    for match in _MARKER_RE.finditer(stdout):
        body, code = stdout[position : match.start()], match.group(1)
        position = match.end()
        tally.calls += 1
        tally.by_status[code] = tally.by_status.get(code, 0) + 1
        reply = _REPLY_RE.search(body)
        if reply:
            version, pod = reply.group("version"), reply.group("pod")
            tally.by_version[version] = tally.by_version.get(version, 0) + 1
            tally.by_pod[pod] = tally.by_pod.get(pod, 0) + 1
            if version not in tally.pod_versions.setdefault(pod, []):
                tally.pod_versions[pod].append(version)
        elif code == "200":
            tally.malformed += 1
            _note(tally, f"200 with unexpected body: {body.strip()[:80]!r}")
        elif code != "000" and body.strip():
            _note(tally, f"{code}: {_text(body)[:80]}")
    for line in stderr.splitlines():
        if line.strip():
            _note(tally, line.strip()[:120])
    return tally


def _text(body: str) -> str:
    """An error page as one line of text: its <title> if it has one, else the body without tags."""
    title = _TITLE_RE.search(body)
    text = title.group(1) if title else _TAG_RE.sub(" ", body)
    return " ".join(text.split())


def _note(tally: Tally, text: str, limit: int = 5) -> None:
    if len(tally.errors) < limit and text not in tally.errors:
        tally.errors.append(text)


def keep_failures(tally: Tally, earlier: Tally) -> None:
    """Carry the failed calls of an earlier sample into a retaken one, so that ok_status sees them."""
    for code, count in earlier.by_status.items():
        if code != "200":
            tally.by_status[code] = tally.by_status.get(code, 0) + count
            tally.calls += count
    tally.malformed += earlier.malformed
    tally.calls += earlier.malformed
    for error in earlier.errors:
        _note(tally, error)


def send(cluster: Cluster, namespace: str, pod: str, container: str, calls: int, batch: int = 0) -> Tally:
    """Run the calls from `pod` and tally them; one exec per batch (one in all by default)."""
    tally = Tally(source=cluster.name)
    for first, count in batches(calls, batch):
        result = cluster.exec_with_retry(
            pod,
            namespace,
            container,
            curl_command(namespace, count, first),
            timeout=count * CALL_TIMEOUT + EXEC_SLACK,
        )
        parse(cluster.name, result.stdout, result.stderr, tally)
        tally.exit_codes.append(result.exit_code)
        missing = count - (tally.calls - (first - 1))
        if missing > 0:
            tally.calls += missing
            tally.by_status["000"] = tally.by_status.get("000", 0) + missing
            _note(tally, f"{missing} calls produced no output (exec exit {result.exit_code})")
    return tally
