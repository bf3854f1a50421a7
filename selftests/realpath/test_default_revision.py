"""A default-revision install before Istio 1.10, run end to end.

`istioctl install` without --revision at 1.7 leaves one injector webhook selecting
`istio-injection=enabled` only (istio-discovery templates/mutatingwebhook.yaml, 1.7.3); the lab
serves that (`--lab-revisions default@1.7.3`). The suite must label its namespace so, say why in
summary.json, and pass; the same run at 1.28 keeps the guide's `istio.io/rev=default`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import run_suite

pytestmark = pytest.mark.selftest_slow


@pytest.mark.parametrize(
    ("spec", "label"),
    [("default@1.7.3", {"istio-injection": "enabled"}), ("default@1.28.5", {"istio.io/rev": "default"})],
)
def test_default_revision_gets_the_label_its_webhook_selects(spec: str, label: dict, tmp_path: Path) -> None:
    run = run_suite(tmp_path / "reports", "--lab", f"--lab-revisions={spec}")
    assert run.returncode == 0 and not run.failures, run.tail()
    for name, cluster in run.summary["clusters"].items():
        chosen = cluster["injection_label"]
        assert chosen["labels"] == label, (name, chosen)
        assert chosen["why"].startswith(",".join(f"{k}={v}" for k, v in label.items())), chosen
    assert run.outcomes["test_injector_selects_namespace[cluster-1]"] == "passed"
    assert run.outcomes["test_sample_pods_injected_and_ready[cluster-2]"] == "passed"
