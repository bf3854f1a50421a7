"""The server's view of the calls: Istio's stats text parsed, the difference of two readings, and
test_calls_arrive_over_mtls over synthetic facts, one message per way it can be missing."""

from __future__ import annotations

import dataclasses

import pytest
from test_checks import healthy

from meshconform import checks
from meshconform.checks import mtls
from meshconform.mesh import membership, telemetry
from meshconform.mesh.facts import MeshFacts, Received, ServerView, from_json, to_json

SLEEP = "spiffe://cluster.local/ns/sample/sa/sleep"
PAIR = "cluster-1->cluster-2"
POD = "helloworld-v2-x"

# The shape a 1.2x proxy prints (labels as on istio.io's standard metrics page; trimmed to the
# labels the suite reads plus a few, in the proxy's order), with an escaped quote in a label value.
STATS = """# TYPE envoy_cluster_assignment_stale counter
envoy_cluster_assignment_stale{cluster_name="xds-grpc"} 0
# TYPE istio_requests_total counter
istio_requests_total{response_code="200",reporter="destination",source_workload="sleep",\
source_principal="spiffe://cluster.local/ns/sample/sa/sleep",source_cluster="cluster-1",\
destination_cluster="cluster-2",request_protocol="http",response_flags="-",\
connection_security_policy="mutual_tls"} 7
istio_requests_total{response_code="500",reporter="destination",source_workload="sleep",\
source_principal="spiffe://cluster.local/ns/sample/sa/sleep",source_cluster="cluster-1",\
destination_cluster="cluster-2",request_protocol="http",response_flags="-",\
connection_security_policy="mutual_tls"} 2
istio_requests_total{response_code="200",reporter="source",source_workload="sleep",\
source_principal="spiffe://cluster.local/ns/sample/sa/sleep",source_cluster="cluster-2",\
destination_cluster="cluster-1",request_protocol="http",response_flags="-",\
connection_security_policy="unknown"} 40
istio_requests_total{response_code="200",reporter="destination",source_workload="unknown",\
source_principal="unknown",source_cluster="unknown",destination_cluster="cluster-2",\
request_protocol="http",response_flags="-",connection_security_policy="none",note="a \\"q\\""} 3
# TYPE istio_request_duration_milliseconds histogram
istio_request_duration_milliseconds_bucket{reporter="destination",le="0.5"} 0
istio_request_duration_milliseconds_bucket{reporter="destination",le="+Inf"} 9
istio_request_duration_milliseconds_sum{reporter="destination"} 88.5
istio_request_duration_milliseconds_count{reporter="destination"} 9
"""


def test_parse_keeps_destination_reports_per_caller_and_outcome():
    assert telemetry.parse(STATS) == {
        ("cluster-1", SLEEP, "mutual_tls", "200"): 7.0,
        ("cluster-1", SLEEP, "mutual_tls", "500"): 2.0,
        ("unknown", "unknown", "none", "200"): 3.0,
    }


def test_parse_refuses_what_is_not_prometheus_text():
    with pytest.raises(ValueError):
        telemetry.parse('istio_requests_total{reporter="destination" 7\n')


def test_delta_counts_only_what_grew_during_the_calls():
    was = {("cluster-1", SLEEP, "mutual_tls", "200"): 5.0}
    now = {("cluster-1", SLEEP, "mutual_tls", "200"): 12.0, ("cluster-3", SLEEP, "mutual_tls", "200"): 1.0}
    assert telemetry._delta(POD, was, now) == [
        Received(POD, "cluster-1", SLEEP, "mutual_tls", "200", 7),
        Received(POD, "cluster-3", SLEEP, "mutual_tls", "200", 1),
    ]


def judge(facts: MeshFacts) -> checks.Outcome:
    return checks.judge(facts, mtls.arrive_over_mtls, PAIR)


def with_received(*rows: Received, **view: object) -> MeshFacts:
    facts = healthy()
    facts.server_view["cluster-2"] = ServerView([POD], list(rows), **view)  # type: ignore[arg-type]
    return facts


def test_healthy_view_passes_and_survives_the_json_round_trip():
    facts = from_json(MeshFacts, to_json(healthy()))
    assert judge(facts).status == "passed"


def test_received_none_names_where_the_answers_may_have_come_from():
    out = judge(with_received(Received(POD, "cluster-2", SLEEP, "mutual_tls", "200", 25)))
    assert out.status == "failed"
    head = "v2 (cluster-2) answered 25 calls from cluster-1, but its sidecars confirm 0"
    assert out.message.startswith(head)
    assert "received none from cluster-1" in out.message and "not under test" in out.message


def test_plaintext_is_named_with_the_fix():
    out = judge(with_received(Received(POD, "unknown", "unknown", "none", "200", 25)))
    assert out.status == "failed" and "received 25 in plaintext" in out.message
    assert "calls bypass a sidecar" in out.message
    assert "make the PeerAuthentication for helloworld in sample STRICT" in out.message


def test_plaintext_names_the_rule_that_sends_it_and_the_policy_that_takes_it():
    from meshconform.mesh.facts import DestinationRule, PeerAuthn

    facts = with_received(Received(POD, "cluster-1", "unknown", "none", "200", 25))
    control = facts.clusters["cluster-1"].control
    assert control is not None
    control.destination_rules = [DestinationRule("istio-system", "default", "*.local", tls_mode="DISABLE")]
    wl = facts.clusters["cluster-2"].workloads
    assert wl is not None
    wl.server_mtls = PeerAuthn("default", "PERMISSIVE", created="2026-01-01T00:00:00Z")
    wl.peer_authns = [wl.server_mtls]
    out = judge(facts)
    assert out.status == "failed" and "received 25 in plaintext" in out.message
    rule = "DestinationRule istio-system/default (host *.local) in cluster-1 sets tls.mode DISABLE"
    assert rule in out.message
    assert "PeerAuthentication sample/default (PERMISSIVE, not this run's" in out.message
    assert "cluster-2's sidecars accept it" in out.message


def test_another_identity_is_named():
    other = "spiffe://cluster.local/ns/sample/sa/default"
    out = judge(with_received(Received(POD, "cluster-1", other, "mutual_tls", "200", 25)))
    assert out.status == "failed" and f"received from another identity ({other})" in out.message
    assert "a gateway re-originating mTLS" in out.message


def test_the_sleep_identity_under_an_older_trust_domain_points_at_istiod_not_restarted():
    facts = with_received(Received(POD, "cluster-1", SLEEP, "mutual_tls", "200", 25))
    for c in facts.clusters.values():  # every mesh config moved on; the certificates did not
        assert c.control is not None
        c.control.trust_domain, c.control.deployments = "new-td.example.com", {"istiod-asm-173-3": "r"}
    out = judge(facts)
    assert out.status == "failed" and f"received from another identity ({SLEEP})" in out.message
    said = "carries a certificate of trust domain cluster.local, while istio-system/istio-asm-173-3"
    assert said in out.message and "restart istiod-asm-173-3 in istio-system of cluster-1" in out.message


def test_fewer_than_answered():
    out = judge(with_received(Received(POD, "cluster-1", SLEEP, "mutual_tls", "200", 20)))
    assert out.status == "failed" and "confirm 20 received over mTLS" in out.message
    assert "counted fewer than answered" in out.message


def test_the_callers_cluster_id_is_istiods_not_our_name():
    facts = with_received(Received(POD, "cl1", SLEEP, "mutual_tls", "200", 25))
    assert judge(facts).status == "failed"
    facts.clusters["cluster-1"].control.istiod[0].cluster_id = "cl1"
    assert judge(facts).status == "passed"


def test_metrics_disabled_cannot_decide_and_says_what_to_change():
    out = judge(with_received(telemetry_off=["istio-system/mesh-default"]))
    assert out.status == "failed" and out.inconclusive  # a check that cannot decide fails
    assert "Telemetry istio-system/mesh-default disables" in out.message and "remove" in out.message


def test_stats_unreadable_cannot_decide_and_names_the_permission():
    out = judge(with_received(problems={POD: "exec into helloworld-v2-x/istio-proxy failed: 403 Forbidden"}))
    assert out.status == "failed" and out.inconclusive
    assert "403 Forbidden" in out.message and "pods/exec" in out.message


def test_no_answer_from_the_version_defers_to_the_premises():
    facts = healthy()
    facts.traffic["cluster-1"] = dataclasses.replace(
        facts.traffic["cluster-1"], by_status={"200": 25, "503": 25}, by_version={"v1": 25}
    )
    out = judge(facts)  # v2 missing from 50 calls: the reach check's failure
    assert out.status == "skipped" and "test_calls_reach_every_cluster[cluster-1] failed" in out.message
    facts.traffic["cluster-1"] = dataclasses.replace(
        facts.traffic["cluster-1"], by_status={"000": 50}, by_version={}, errors=["curl: (56) reset"]
    )
    out = judge(facts)  # nothing answered: reach cannot tell; the failed calls are the finding
    assert out.status == "skipped" and "test_hello_calls_succeed[cluster-1] failed" in out.message


def test_no_answer_from_the_version_with_calls_that_succeeded_does_not_apply():
    facts = healthy()
    facts.traffic["cluster-1"] = dataclasses.replace(facts.traffic["cluster-1"], by_version={"v1": 50})
    # the reach check could not decide (too few calls): not a broken premise, so the check goes on
    undecided = {"test_calls_reach_every_cluster[cluster-1]": checks.Outcome("failed", "few", "inconclusive")}
    out = checks.judge(facts, mtls.arrive_over_mtls, PAIR, undecided)
    assert out.status == "skipped" and out.undecided == "not-applicable"
    assert "test_calls_reach_every_cluster[cluster-1]" in out.message


def test_without_source_cluster_labels_all_callers_are_weighed_together():
    rows = [Received(POD, "", SLEEP, "mutual_tls", "200", 50)]  # 25 from each cluster, unlabelled
    assert judge(with_received(*rows)).status == "passed"
    out = judge(with_received(Received(POD, "", SLEEP, "mutual_tls", "200", 30)))
    assert out.status == "failed" and "answered 50 calls from all clusters" in out.message


def test_the_evidence_of_a_pair_holds_the_callers_tally_and_the_servers_view():
    from meshconform.report.evidence import evidence

    found = evidence(healthy(), "test_calls_arrive_over_mtls", PAIR)
    assert found["tally"]["source"] == "cluster-1" and found["caller_identity"] == SLEEP
    assert found["server_view"]["received"][0]["pod"] == POD and found["caller_cluster_ids"] == ["cluster-1"]
    assert found["caller_plaintext_rule"] is None and found["server_peer_authentication"] is None
    assert found["mesh_beyond_the_run"] == {}


def test_an_answer_from_a_pod_this_run_did_not_deploy_is_named_with_where_it_runs():
    from meshconform.checks import origin
    from meshconform.mesh.facts import SecretClaim

    facts = healthy()
    assert checks.judge(facts, origin.answers_from_this_run, "cluster-1").status == "passed"
    tally = facts.traffic["cluster-1"]
    tally.by_pod = {"helloworld-v1-x": 20, "helloworld-v2-x": 15, "helloworld-v2-abc": 15}
    out = checks.judge(facts, origin.answers_from_this_run, "cluster-1")
    assert out.status == "failed" and "{helloworld-v2-abc: 15}" in out.message
    assert "a cluster of the mesh not given to this run" in out.message
    facts.clusters["cluster-1"].remote_secret_claims = [SecretClaim("istio-remote-secret-c9", "c9")]
    facts.outside = membership.outside_clusters(facts)
    out = checks.judge(facts, origin.answers_from_this_run, "cluster-1")
    assert "the mesh has 3 clusters; 2 under test; istiod in cluster-1 also registers c9" in out.message
