"""The report library over synthetic facts, without a lab: hints, redaction, bounds, the proxy's
endpoint table, the traffic matrix and its SVG, evidence, summary.json against its schema, HTML
escaping, and diagnostics that stay within their budget when clusters do not answer."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from report_support import SCHEMA

from meshconform.checks import all_checks
from meshconform.kube import errors
from meshconform.kube.redact import kubeconfig_secrets, one_line, redact, redact_known, scrub_file
from meshconform.mesh import diagnostics
from meshconform.mesh.facts import (
    ClusterFacts,
    ControlPlane,
    IstiodPod,
    MeshFacts,
    PodFact,
    Received,
    ServerView,
    Tally,
    Workloads,
)
from meshconform.report import evidence, html, matrix, summary, svg
from meshconform.report.hints import HINTS, area_of, hint_for
from meshconform.run.diagnose import Diagnoser

REV = "asm-173-3"


def facts_of(counts: dict[str, dict[str, int]]) -> MeshFacts:
    """Two clusters, vK in cluster-K with one ready replica; `counts`: source -> version -> calls."""
    facts = MeshFacts(run_id="r1", namespace="sample", revision=REV)
    for i, name in enumerate(("cluster-1", "cluster-2")):
        version = f"v{i + 1}"
        pods = [PodFact(f"helloworld-{version}-x", "helloworld", version, "Running", True, 2, 2, True, REV)]
        istiod = [IstiodPod(f"istiod-{i}", REV, True, "Running", "pilot:1.7.3-asm.6", "1.7.3-asm.6", name)]
        facts.clusters[name] = ClusterFacts(
            name,
            f"gke_p_z_{name}",
            f"https://10.0.0.{i}",
            control=ControlPlane(istiod=istiod, revisions=[REV], root_ca="AB:CD"),
            workloads=Workloads("sample", {}, {}, version, 1, pods, "sleep-x", "sleep"),
        )
    for source, by_version in counts.items():
        total = sum(by_version.values())
        facts.traffic[source] = Tally(source, total, {"200": total}, dict(by_version))
    return facts


def test_every_check_has_a_hint_with_published_docs() -> None:
    assert set(all_checks()) == set(HINTS)
    for name, hint in HINTS.items():
        assert hint.fix and hint.docs, name
        for doc in hint.docs:
            assert doc.url.startswith(("https://istio.io/", "https://cloud.google.com/")), doc.url
    assert hint_for("test_istiod_synced[cluster-1->cluster-2]") is HINTS["test_istiod_synced"]
    assert HINTS["test_istiod_synced"].line().startswith("hint: ")


def test_redact_blanks_tokens_keys_and_known_values() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----"
    text = f"Authorization: Bearer abcdefghijklmnopqrstuvwxyz {jwt} {key} secret-value-123 token: x"
    out = redact(text, ("secret-value-123",))
    assert "abcdefghijklmnop" not in out and jwt not in out and "PRIVATE KEY" not in out
    assert "secret-value-123" not in out and "token: x" in out
    script = 'const token = "not-a-secret-just-code-xxxxxxxx";'
    assert redact_known(script) == script  # safe on pytest-html's own script


def test_kubeconfig_secrets_and_scrub_file(tmp_path: Any) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "contexts:\n- name: a\n  context: {user: ua}\n- name: b\n  context: {user: ub}\nusers:\n"
        "- name: ua\n  user: {token: TOKEN-A-123456789}\n- name: ub\n  user: {token: TOKEN-B-123456789}\n"
    )
    assert kubeconfig_secrets(kubeconfig, ["a"]) == ("TOKEN-A-123456789",)
    assert set(kubeconfig_secrets(kubeconfig)) == {"TOKEN-A-123456789", "TOKEN-B-123456789"}
    out = tmp_path / "report.html"
    out.write_text("<p>TOKEN-A-123456789</p>")
    assert scrub_file(out, ("TOKEN-A-123456789",)) and "TOKEN-A" not in out.read_text()
    assert not scrub_file(out, ("TOKEN-A-123456789",))


def test_base64_tokens_are_blanked_whole_and_one_line_cuts_after_redacting() -> None:
    """A base64 token carries '/', '+' and '=': its shape must not end at the first of them."""
    text = "'token': 'Zm9vYmFyYmF6cXV4/cXV1eA+secretpart==' and Authorization: Bearer AbCdEfGhIjKl/QrS+tU="
    out = redact(text)
    assert "cXV1eA" not in out and "secretpart" not in out and "QrS+tU" not in out, out
    line = one_line(f"short-token-value not allowed\nsecond line {'x' * 300}", ("short-token-value",))
    assert line == "[redacted] not allowed", line
    long = one_line("y" * 300 + " Bearer " + "z" * 40)
    assert len(long) == 240 and long.endswith("...") and "zzzz" not in long


def test_kubeconfig_secrets_survive_a_malformed_kubeconfig(tmp_path: Any) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "contexts:\n- name: a\n  context: just-a-string\n- name: b\n  context: {user: ub}\nusers:\n"
        "- name: ua\n  user: not-a-mapping\n- name: ub\n  user: {token: TOKEN-B-123456789}\n- 7\n"
    )
    assert kubeconfig_secrets(kubeconfig) == ("TOKEN-B-123456789",)
    assert kubeconfig_secrets(kubeconfig, ["a"]) == ()


def test_bounded_keeps_head_or_tail_and_says_what_was_cut() -> None:
    text = "\n".join(f"line {i}" for i in range(100))
    head = diagnostics.bounded(text, lines=10)
    assert head.startswith("line 0") and "90 more lines not shown" in head
    tail = diagnostics.bounded(text, keep="tail", lines=10)
    assert tail.endswith("line 99") and "90 more lines" in tail.splitlines()[0]
    assert len(diagnostics.bounded("x" * 50_000, chars=1000)) < 1100


def test_endpoint_table_reads_envoy_clusters_json() -> None:
    def host(ip: str, camel: bool = False) -> dict[str, Any]:
        if camel:
            return {
                "address": {"socketAddress": {"address": ip, "portValue": 5000}},
                "healthStatus": {"edsHealthStatus": "HEALTHY"},
            }
        return {
            "address": {"socket_address": {"address": ip, "port_value": 5000}},
            "health_status": {"eds_health_status": "HEALTHY", "failed_outlier_check": True},
        }

    name = "outbound|5000||helloworld.sample.svc.cluster.local"
    doc = {
        "cluster_statuses": [
            {"name": name, "host_statuses": [host("10.4.0.4")]},
            {"name": "outbound|80||other", "host_statuses": [host("10.9.9.9")]},
        ]
    }
    owners = {"10.4.0.4": "cluster-1/helloworld-v1-x"}
    table = diagnostics.endpoint_table(json.dumps(doc), "helloworld", owners)
    assert "10.4.0.4:5000" in table and "FAILED" in table and "cluster-1/helloworld-v1-x" in table
    assert "10.9.9.9" not in table
    camel = [{"name": name, "hostStatuses": [host("10.8.0.5", camel=True)]}]
    assert "10.8.0.5:5000" in diagnostics.endpoint_table(json.dumps(camel), "helloworld", {})
    empty = {"cluster_statuses": [{"name": "outbound|80||other", "host_statuses": []}]}
    assert "knows no endpoint" in diagnostics.endpoint_table(json.dumps(empty), "helloworld", {})


def test_matrix_marks_the_unreached_version_and_svg_is_well_formed() -> None:
    facts = facts_of({"cluster-1": {"v1": 25, "v2": 25}, "cluster-2": {"v2": 50}})
    tm = matrix.build(facts)
    rows = {r.source: r for r in tm.rows}
    assert [d.version for d in tm.unreached(rows["cluster-2"])] == ["v1"]
    assert tm.unreached(rows["cluster-1"]) == []
    assert tm.as_dict()["sources"]["cluster-2"]["shares"] == {"v2": 1.0}
    drawing = svg.chart(tm)
    root = ET.fromstring(drawing)
    assert root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}rect")) >= 5
    table = html.matrix_table(tm)
    assert table.count('class="num unreached"') == 1


def test_matrix_shows_the_servers_view_beside_each_count() -> None:
    facts = facts_of({"cluster-1": {"v1": 25, "v2": 25}, "cluster-2": {"v1": 25, "v2": 25}})
    sleep = "spiffe://cluster.local/ns/sample/sa/sleep"
    for c in facts.clusters.values():
        c.workloads.pods.append(
            PodFact("sleep-x", "sleep", None, "Running", True, 2, 2, True, REV, service_account="sleep")
        )
        c.control.trust_domain = "cluster.local"
    v2 = "helloworld-v2-x"
    facts.server_view["cluster-2"] = ServerView(
        [v2],
        [
            Received(v2, "cluster-1", sleep, "mutual_tls", "200", 20),
            Received(v2, "cluster-2", sleep, "mutual_tls", "200", 25),
        ],
    )
    v1 = "helloworld-v1-x"
    facts.server_view["cluster-1"] = ServerView([v1], problems={v1: "403 Forbidden"})
    tm = matrix.build(facts)
    rows = {r.source: r for r in tm.rows}
    assert rows["cluster-1"].confirmed["v2"] == 20 and rows["cluster-2"].confirmed["v2"] == 25
    assert tm.unconfirmed(rows["cluster-1"], "v2") and not tm.unconfirmed(rows["cluster-2"], "v2")
    assert tm.server_unknown == {"v1": "403 Forbidden"} and not tm.unconfirmed(rows["cluster-1"], "v1")
    table = html.matrix_table(tm)
    assert table.count("mc-unconfirmed") == 1 and "server: 20 mTLS" in table and "server: 25 mTLS" in table
    assert table.count("server ?") == 2 and "server view unknown: 403 Forbidden" in table
    doc = tm.as_dict()
    assert doc["sources"]["cluster-1"]["confirmed_mtls"] == {"v1": 0, "v2": 20}
    assert doc["server_unknown"] == {"v1": "403 Forbidden"}


def test_evidence_picks_the_target_and_stays_bounded() -> None:
    facts = facts_of({"cluster-1": {"v1": 50}})
    picked = evidence.evidence(facts, "test_istiod_ready", "cluster-2")
    assert [p["name"] for p in picked["istiod"]] == ["istiod-1"]
    facts.clusters["cluster-1"].control.istiod *= 500  # type: ignore[union-attr]
    text = evidence.evidence_text(facts, "test_istiod_ready", "cluster-1")
    assert len(text) < evidence.LIMIT + 100 and "more characters cut" in text


def test_evidence_texts_are_built_once_per_area_and_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks of one area judge the same facts about a target: at 20 clusters 1,800 checks
    need 500 distinct evidence texts, each an indented JSON dump and a redaction."""
    built: list[tuple[str, str]] = []
    real = evidence.evidence_text
    counted = lambda f, c, t, s=(): built.append((c, t)) or real(f, c, t, s)  # noqa: E731
    monkeypatch.setattr(evidence, "evidence_text", counted)
    facts = facts_of({"cluster-1": {"v1": 50}})
    texts = evidence.Texts()
    first = texts(facts, "test_istiod_ready", "cluster-1")
    assert texts(facts, "test_revision_everywhere", "cluster-1") == first  # the same area: control
    assert first == real(facts, "test_revision_everywhere", "cluster-1")
    assert len(built) == 1
    texts(facts, "test_istiod_ready", "cluster-2")
    texts(facts_of({"cluster-1": {"v1": 50}}), "test_istiod_ready", "cluster-1")  # another stage's facts
    assert len(built) == 3


def test_summary_of_synthetic_facts_validates() -> None:
    facts = facts_of({"cluster-1": {"v1": 25, "v2": 25}, "cluster-2": {"v2": 50}})
    checks = {
        "test_istiod_ready[cluster-1]": summary.check_entry("test_istiod_ready[cluster-1]", "passed", ""),
        "test_calls_reach_every_cluster[cluster-2]": summary.check_entry(
            "test_calls_reach_every_cluster[cluster-2]", "failed", "from cluster-2: did not reach v1"
        ),
    }
    doc = summary.build(checks, facts, 1, {"options": {"--join": "create"}, "cleanup": None, "lab": None})
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert [e.message for e in validator.iter_errors(doc)] == []
    assert doc["checks"]["test_calls_reach_every_cluster[cluster-2]"]["hint"]["docs"]
    assert summary.build({}, None, 0, {})["outcome"] == "passed"


def test_html_escapes_what_it_shows() -> None:
    entry = summary.check_entry("test_istiod_ready[c]", "failed", "<script>alert(1)</script>")
    out = html.verdict({"test_istiod_ready[c]": entry}, 1)
    assert "<script>" not in out and "&lt;script&gt;" in out


class DownCluster:
    """A Cluster stand-in whose every read fails as an unreachable server does."""

    name = "cluster-2"
    attempts = 5
    core = SimpleNamespace(list_namespaced_pod=None, list_namespaced_event=None, read_namespaced_pod_log=None)

    def read(self, what: str, *args: Any, **kwargs: Any) -> Any:
        raise errors.Unreachable(what, "Connection", "connection refused")


@pytest.mark.parametrize("check", ["test_istiod_ready", "test_sample_pods_injected_and_ready"])
def test_diagnostics_report_failures_to_read_and_skip_down_clusters(check: str) -> None:
    facts = facts_of({})
    diagnoser = Diagnoser({"cluster-2": DownCluster()}, ())  # type: ignore[dict-item]
    found = diagnoser.diagnose(facts, area_of(check), "cluster-2")
    assert found and all("could not read it" in s.text or s.command for s in found)
    assert diagnoser.clusters["cluster-2"].attempts == 1
    facts.clusters["cluster-2"].api_error = "down"
    fresh = Diagnoser({"cluster-2": DownCluster()}, ())  # type: ignore[dict-item]
    assert all("did not answer" in s.text for s in fresh.diagnose(facts, area_of(check), "cluster-2"))
    assert fresh.diagnose(facts, area_of("test_api_server_answers"), "cluster-2") == []


def test_the_mesh_table_says_a_remote_takes_its_mesh_config_from_its_primary() -> None:
    """A remote has no istiod and no mesh config of its own: its cells name the primary, never None."""
    facts = facts_of({})
    remote = facts.clusters["cluster-2"].control
    assert remote is not None
    remote.istiod, remote.revisions, remote.trust_domain, remote.mesh_id = [], [], None, None
    remote.control_plane_clusters = "cluster-1"
    row = html.mesh_table(facts).split("<td>cluster-2</td>")[1].split("</tr>")[0]
    assert "None" not in row, row
    assert "none (a remote of cluster-1)" in row and row.count("(its primary&#x27;s, cluster-1)") == 2, row
