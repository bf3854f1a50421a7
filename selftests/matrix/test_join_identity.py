"""--join create makes no second secret for a cluster that B already reaches under another name.

istiod rejects only a repeated cluster ID (secretcontroller.go: "cluster has already been
registered"), so a second secret for A under our name would be accepted and register A twice. The
lab's request log is the witness of what the run wrote: a joined lab whose secret for cluster-1 in
cluster-2 was made without --name (named after cluster-1's kube-system UID) gets no secret created,
where a lab without secrets gets one per ordered pair.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import run_suite

SECRETS = "/api/v1/namespaces/istio-system/secrets"


@pytest.mark.selftest_slow
@pytest.mark.parametrize(
    ("lab", "created"),
    [(("--lab-fault", "secret-renamed:cluster-1->cluster-2"), 0), ((), 2)],
    ids=["renamed-secret-kept", "none-there"],
)
def test_join_create_makes_only_what_no_secret_reaches(
    lab: tuple[str, ...], created: int, tmp_path: Path
) -> None:
    run = run_suite(tmp_path / "reports", "--lab", *lab, request_log=tmp_path / "requests.jsonl")
    assert run.returncode == 0 and not run.failures, run.tail(3000)
    posts = [r for r in run.calls("POST", SECRETS) if r["status"] == 201]
    assert len(posts) == created, posts
