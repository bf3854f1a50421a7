"""Driving the suite as a user with real clusters does: a lab started here, outside the suite, and
`python -m pytest --kubeconfig=... --ctx ...` in a subprocess against it.

The suite's own `--lab` starts and stops its lab inside the run, so nothing can be prepared before
it (a workload on an old revision) or inspected after it (`--keep`). Starting the lab in the test
process through its public API and pointing the suite at its kubeconfig is the real-cluster path,
with the official client on both sides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from meshconform.lab import Lab, LabOptions

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_SAMPLES = Path("/work/shared/upstream-samples/samples")
if not UPSTREAM_SAMPLES.is_dir():  # the checkout's sibling, as the issue names it
    UPSTREAM_SAMPLES = ROOT.parent / "shared" / "upstream-samples" / "samples"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Running:
    lab: Lab
    kubeconfig: Path

    @property
    def contexts(self) -> list[str]:
        return list(self.lab.contexts)

    def api(self, i: int) -> client.ApiClient:
        return config.new_client_from_config(str(self.kubeconfig), context=self.contexts[i])

    def core(self, i: int) -> client.CoreV1Api:
        return client.CoreV1Api(self.api(i))

    def apps(self, i: int) -> client.AppsV1Api:
        return client.AppsV1Api(self.api(i))

    def ctx_args(self) -> list[str]:
        return [f"--kubeconfig={self.kubeconfig}", *(f"--ctx={c}" for c in self.contexts)]


@contextmanager
def running_lab(tmp_path: Path, **options: Any) -> Iterator[Running]:
    """A lab of `LabOptions(**options)` with its kubeconfig in tmp_path, stopped on exit."""
    with Lab(LabOptions(**options)) as lab:
        lab.start()
        path = tmp_path / "kubeconfig"
        lab.write_kubeconfig(path)
        yield Running(lab, path)


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.report_dir / "summary.json").read_text())
        return doc

    def outcomes(self) -> dict[str, str]:
        """test id -> passed / failed / skipped, from junit.xml."""
        out = {}
        for tc in ET.parse(self.report_dir / "junit.xml").getroot().iter("testcase"):
            bad = tc.find("failure") is not None or tc.find("error") is not None
            out[tc.get("name", "?")] = (
                "failed" if bad else "skipped" if tc.find("skipped") is not None else "passed"
            )
        return out

    def messages(self) -> dict[str, str]:
        """test id -> failure or skip message."""
        out = {}
        for tc in ET.parse(self.report_dir / "junit.xml").getroot().iter("testcase"):
            for tag in ("failure", "error", "skipped"):
                node = tc.find(tag)
                if node is not None:
                    out[tc.get("name", "?")] = node.get("message", "")
        return out

    def output(self) -> str:
        return self.stdout[-4000:] + self.stderr[-4000:]


def run_suite(report_dir: Path, *args: str) -> Run:
    """`python -m pytest ARGS --report-dir=DIR` from the repository root, as a user types it."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        f"--report-dir={report_dir}",
        "-q",
        "-p",
        "no:cacheprovider",
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MESHCONFORM_"))}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    return Run(proc.returncode, proc.stdout, proc.stderr, report_dir)


def request_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_until(what: str, ready: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def pods_ready(core: client.CoreV1Api, namespace: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        pods = core.list_namespaced_pod(namespace).items
        return len(pods) == count and all(
            any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []) for p in pods
        )

    return check


def snapshot(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> dict[str, Any]:
    """What must not change in a namespace the suite does not own: identity, labels, annotations,
    resourceVersions of the namespace, its deployments and its pods."""
    ns = core.read_namespace(namespace)

    def ident(obj: Any) -> tuple[Any, ...]:
        m = obj.metadata
        return (m.uid, m.resource_version, dict(m.labels or {}), dict(m.annotations or {}))

    return {
        "namespace": ident(ns),
        "deployments": {d.metadata.name: ident(d) for d in apps.list_namespaced_deployment(namespace).items},
        "pods": {p.metadata.name: ident(p) for p in core.list_namespaced_pod(namespace).items},
    }
