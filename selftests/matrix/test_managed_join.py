"""--join on a managed mesh: the declaration, never a secret, and clean-up puts asm-options back.

A TRAFFIC_DIRECTOR lab whose cluster-2 lacks `multicluster_mode` (the fault): `--join create`
declares it there (a merge patch of asm-options), every check passes, no remote secret is made in
either cluster, and after the run asm-options is as it was; `--join verify` writes nothing and
fails the declaration check (the fault matrix). The run's summary.json names each cluster's
control plane, and a mixed mesh as such.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from support import LabEnv, run_suite

MULTICLUSTER = "istio/multiCluster=true"


@pytest.mark.selftest_slow
def test_join_create_declares_multicluster_mode_and_cleanup_restores_it(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path, clusters=2, control_planes=("managed-td",),
                      faults=("multicluster-mode-missing:cluster-2",)) as env:
        run = run_suite(tmp_path / "reports", *env.args(), "--namespace", "mc")
        assert run.returncode == 0 and not run.failures, run.tail(3000)
        after = env.core(1).read_namespaced_config_map("asm-options", "istio-system")
        assert not (after.data or {}) and not (after.metadata.labels or {}), after.metadata
        assert not (after.metadata.annotations or {})
        for i in (0, 1):
            made = env.core(i).list_namespaced_secret("istio-system", label_selector=MULTICLUSTER)
            assert made.items == []  # none made, none needed
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    schema = json.loads((Path(__file__).parents[2] / "docs" / "summary.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(summary)
    clusters = summary["clusters"]
    assert all(c["control_plane"].startswith("managed (asm-managed;") for c in clusters.values()), clusters


@pytest.mark.selftest_slow
def test_mixed_mesh_is_named_in_the_summary(tmp_path: Path) -> None:
    run = run_suite(tmp_path / "reports", "--lab", "--lab-control-plane", "cluster-2=managed-istiod")
    assert run.returncode == 0 and not run.failures, run.tail(3000)
    text = (tmp_path / "reports" / "summary.json").read_text()
    assert "mixed mesh: in-cluster istiod in cluster-1, managed control plane in cluster-2" in text
