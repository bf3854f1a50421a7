"""Running the suite as a user does, with the lab's request log on, for the scale self-tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 300


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    requests: list[dict[str, Any]]  # the lab's request log, one dict per API request
    outcomes: dict[str, str]  # test name -> passed / failed / skipped
    summary: dict[str, Any]

    def calls(self, method: str, path: str, cluster: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if r["method"] == method and r["path"] == path and (cluster is None or r["cluster"] == cluster)
        ]


def run_suite(tmp_path: Path, *args: str) -> Run:
    """`python -m pytest --lab ARGS` in a subprocess, with MESHCONFORM_LAB_REQUEST_LOG set."""
    log, reports = tmp_path / "requests.jsonl", tmp_path / "reports"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--lab",
        f"--report-dir={reports}",
        "-p",
        "no:cacheprovider",
        *args,
    ]
    env = {**os.environ, "MESHCONFORM_LAB_REQUEST_LOG": str(log)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    output = proc.stdout[-6000:] + proc.stderr[-3000:]
    requests = (
        [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    )
    summary_path = reports / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return Run(proc.returncode, output, requests, _outcomes(reports / "junit.xml"), summary)


def _outcomes(junit: Path) -> dict[str, str]:
    if not junit.exists():
        return {}
    out = {}
    for tc in ET.parse(junit).getroot().iter("testcase"):
        failed = tc.find("failure") is not None or tc.find("error") is not None
        out[tc.get("name", "?")] = (
            "failed" if failed else "skipped" if tc.find("skipped") is not None else "passed"
        )
    return out
