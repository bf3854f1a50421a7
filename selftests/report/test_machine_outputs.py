"""What CI parses: summary.json against its JSON Schema, junit.xml's properties, the exit code.

The schema (docs/summary.schema.json, draft 2020-12) is itself checked, then a healthy and a
faulted lab run's summaries are validated against it, and the schema is shown to reject a summary
that breaks its promises (a failure without a hint). The faulted run is the issue's example:
cluster-2 holds no remote secret for cluster-1, so exactly that pair's presence check fails, the
checks that depend on it are skipped, and calls from cluster-2 never reach v1 (cluster-1).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from report_support import FAULT, PAIR
from support import Run

pytestmark = pytest.mark.selftest_slow


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def errors_of(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator(schema).iter_errors(doc)]


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_lab_run_summary_validates_and_passes(lab_run: Run, schema: dict[str, Any]) -> None:
    doc = lab_run.summary
    assert errors_of(schema, doc) == []
    assert lab_run.returncode == doc["exit_code"] == 0, lab_run.tail()
    assert (doc["outcome"], doc["verdict"]) == ("passed", "pass")
    assert "refusal" not in doc
    assert doc["counts"]["failed"] == doc["counts"]["error"] == 0
    assert all(c["outcome"] in ("passed", "skipped") and not c["hint"] for c in doc["checks"].values())
    skipped = {k for k, c in doc["checks"].items() if c["outcome"] == "skipped"}
    # one network: no east-west gateway is needed; an istiod in every cluster: no managed control
    # plane, and no remote (primary-remote)
    assert {k.partition("[")[0] for k in skipped} == {
        "test_control_plane_exposed",
        "test_remote_uses_primary",
        "test_east_west_gateway",
        "test_cross_network_gateway",
        "test_sidecar_routes_networks_through_gateways",
        "test_managed_revision_ready",
        "test_managed_data_plane",
        "test_endpoint_discovery_declared",
        "test_sidecar_synced",
    }
    assert {c["control_plane"] for c in doc["clusters"].values()} == {"in-cluster istiod"}
    assert doc["model"] == "multi-primary, one network"
    assert {c["role"] for c in doc["clusters"].values()} == {"primary"}
    sources = doc["traffic_matrix"]["sources"]
    assert set(sources) == {"cluster-1", "cluster-2"}
    assert all(s["unreached"] == [] and s["errors"] == 0 for s in sources.values())


def test_faulted_run_summary_validates_and_says_what_failed(fault_run: Run, schema: dict[str, Any]) -> None:
    doc = fault_run.summary
    assert errors_of(schema, doc) == []
    assert fault_run.returncode == doc["exit_code"] == 1, fault_run.tail()
    assert (doc["outcome"], doc["verdict"]) == ("failed", "fail")
    failed = {k: v for k, v in doc["checks"].items() if v["outcome"] == "failed"}
    assert set(failed) == {f"test_remote_secret_present[{PAIR}]"}
    entry = failed[f"test_remote_secret_present[{PAIR}]"]
    assert "cluster-2 has no remote secret for cluster-1" in entry["message"]
    assert entry["hint"]["fix"] and all(d["url"].startswith("https://") for d in entry["hint"]["docs"])
    skipped = {k for k, v in doc["checks"].items() if v["outcome"] == "skipped"}
    assert f"test_istiod_synced[{PAIR}]" in skipped and "test_calls_reach_every_cluster[cluster-2]" in skipped
    assert doc["options"]["--lab-fault"] == [FAULT] and doc["options"]["--join"] == "verify"


def test_faulted_run_matrix_shows_cluster_2_never_reaching_v1(fault_run: Run) -> None:
    tm = fault_run.summary["traffic_matrix"]
    owners = {d["version"]: d["cluster"] for d in tm["destinations"]}
    assert owners == {"v1": "cluster-1", "v2": "cluster-2"}
    assert tm["sources"]["cluster-2"]["unreached"] == ["v1"]
    assert tm["sources"]["cluster-2"]["counts"] == {"v2": tm["sources"]["cluster-2"]["answered"]}
    assert tm["sources"]["cluster-1"]["unreached"] == []


def test_schema_rejects_a_failure_without_hint(fault_run: Run, schema: dict[str, Any]) -> None:
    doc = copy.deepcopy(fault_run.summary)
    doc["checks"][f"test_remote_secret_present[{PAIR}]"]["hint"] = None
    assert errors_of(schema, doc), "the schema lets a failure go without its hint"
    doc = copy.deepcopy(fault_run.summary)
    doc["checks"]["test_istiod_ready[cluster-1]"]["outcome"] = "ok"
    assert errors_of(schema, doc), "the schema accepts an unknown outcome"


def _properties(run: Run) -> dict[str, str]:
    suite = run.junit if run.junit.tag == "testsuite" else run.junit.find("testsuite")
    assert suite is not None
    return {p.get("name", ""): p.get("value", "") for p in suite.iter("property")}


@pytest.mark.parametrize("which", ["lab_run", "fault_run"])
def test_junit_carries_clusters_revision_and_contexts(which: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(which)
    props = _properties(run)
    assert props["meshconform.clusters"] == "cluster-1,cluster-2"
    assert props["meshconform.revision"] == "asm-1285-9"
    assert props["meshconform.cluster.cluster-1.context"].startswith("gke_meshconform-lab_")
    assert props["meshconform.contexts"].count("gke_") == 2
    assert "asm-1285-9" in props["meshconform.cluster.cluster-2.istiod"]


def test_junit_failure_ends_with_the_hint(fault_run: Run) -> None:
    cases = {tc.get("name"): tc for tc in fault_run.junit.iter("testcase")}
    failure = cases[f"test_remote_secret_present[{PAIR}]"].find("failure")
    assert failure is not None
    assert "cluster-2 has no remote secret for cluster-1" in failure.get("message", "")
    assert "hint:" in (failure.text or "") and "https://istio.io/" in (failure.text or "")


def test_progress_is_live_in_the_terminal(lab_run: Run, fault_run: Run) -> None:
    assert "[meshconform +" in lab_run.stdout and "workloads: done in" in lab_run.stdout
    assert "waiting up to" in lab_run.stdout, "the rollout does not say what it waits for"
    both = fault_run.stdout + fault_run.stderr
    assert "[meshconform gw" in both, "xdist workers show no progress"


def test_terminal_names_each_failing_check_once_with_its_targets(lab_run: Run, fault_run: Run) -> None:
    """The meshconform section: `failed: CHECK: TARGETS` (groups.failing_lines), nothing when all pass."""
    section = fault_run.stdout.split(" meshconform ", 1)[-1]
    assert f"failed: test_remote_secret_present: {PAIR}\n" in section, fault_run.tail()
    assert "failed:" not in lab_run.stdout.split(" meshconform ", 1)[-1]
