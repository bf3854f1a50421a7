"""Where the answers and the plain text come from: the mesh's clusters beyond the run, a pod of the
run answering as another version, the PeerAuthentication istiod applies, and the DestinationRule
that makes a caller's sidecars send plain text; each over synthetic facts."""

from __future__ import annotations

from test_checks import healthy

from meshconform import checks
from meshconform.checks import origin, traffic
from meshconform.mesh import membership, peer_authn
from meshconform.mesh.facts import (
    DestinationRule,
    IstiodPod,
    MeshFacts,
    PeerAuthn,
    RemoteSecret,
    SecretClaim,
    from_json,
    to_json,
)


def test_clusters_istiod_lists_that_are_not_under_test_are_counted_with_who_registers_them():
    facts = healthy()
    facts.clusters["cluster-1"].istiod_remotes = ["cluster-2", "cluster-3"]
    facts.clusters["cluster-2"].istiod_remotes = ["cluster-1", "cluster-3"]
    assert membership.outside_clusters(facts) == {"cluster-3": ["cluster-1", "cluster-2"]}
    facts.outside = membership.outside_clusters(facts)
    assert membership.mesh_line(facts) == (
        "the mesh has 3 clusters; 2 under test; not under test: cluster-3 (registered by istiod in "
        "cluster-1, cluster-2)"
    )
    assert from_json(MeshFacts, to_json(facts)).outside == facts.outside


def test_every_id_the_clusters_under_test_go_by_is_theirs():
    """istiod's CLUSTER_ID, the data key of a pair's secret and a key whose kubeconfig reaches one of
    them all name a cluster under test, not another cluster of the mesh."""
    facts = healthy()
    control = facts.clusters["cluster-2"].control
    assert control is not None
    control.istiod = [IstiodPod("istiod-x", "r", True, "Running", cluster_id="gke-c2")]
    secret = RemoteSecret("istio-remote-secret-uid1", ["uid1"], True, cluster_id="uid1")
    facts.pairs["cluster-1->cluster-2"] = secret
    facts.clusters["cluster-1"].remote_secret_claims = [SecretClaim("s", "c2-by-uid", reaches="cluster-2")]
    facts.clusters["cluster-1"].istiod_remotes = ["gke-c2", "c2-by-uid", "gke-c9"]
    facts.clusters["cluster-2"].istiod_remotes = ["uid1"]
    assert membership.outside_clusters(facts) == {"gke-c9": ["cluster-1"]}


def test_without_clusterz_the_remote_secrets_name_the_clusters():
    facts = healthy()
    facts.clusters["cluster-2"].remote_secret_claims = [SecretClaim("istio-remote-secret-c9", "c9")]
    assert membership.outside_clusters(facts) == {"c9": ["cluster-2"]}
    assert membership.mesh_line(healthy()) == ""


def test_a_pod_of_the_run_answering_as_another_version_fails_with_the_pod_and_the_deployment():
    facts = healthy()
    assert checks.judge(facts, origin.answers_from_this_run, "cluster-1").status == "passed"
    tally = facts.traffic["cluster-1"]
    tally.by_version = {"v1": 50}
    tally.by_pod = {"helloworld-v1-x": 25, "helloworld-v2-x": 25}
    tally.pod_versions = {"helloworld-v1-x": ["v1"], "helloworld-v2-x": ["v1"]}
    out = checks.judge(facts, origin.answers_from_this_run, "cluster-1")
    assert out.status == "failed", out
    said = "helloworld-v2-x in cluster-2, labelled version=v2, answered v1 (25 calls; v1 is cluster-1's"
    assert said in out.message
    assert "helloworld-v1-x" not in out.message.split("compare")[0].replace("helloworld-v2-x", "")


def test_a_pod_whose_label_matches_its_answer_but_not_its_cluster_fails_too():
    facts = healthy()
    wl = facts.clusters["cluster-2"].workloads
    assert wl is not None
    wl.pods[0].version = "v1"  # labelled and answering v1, but in cluster-2, whose version is v2
    facts.traffic["cluster-1"].pod_versions = {"helloworld-v2-x": ["v1"]}
    facts.traffic["cluster-1"].by_pod = {"helloworld-v2-x": 25}
    out = checks.judge(facts, origin.answers_from_this_run, "cluster-1")
    assert out.status == "failed" and "in cluster-2, labelled version=v1, answered v1" in out.message


def test_the_reach_message_says_the_silent_versions_pods_answered_as_another():
    facts = healthy()
    for tally in facts.traffic.values():
        tally.by_version = {"v1": 50}
        tally.by_pod = {"helloworld-v1-x": 25, "helloworld-v2-x": 25}
    out = checks.judge(facts, traffic.reach_every_cluster, "cluster-1")
    assert out.status == "failed"
    assert "yet helloworld-v2-x in cluster-2 answered: as another version" in out.message


def pa(name: str, mode: str, created: str, selector: dict[str, str] | None = None) -> PeerAuthn:
    return PeerAuthn(name, mode, selector or {}, f"2026-12-07T11:00:{created}Z")


HELLO = {"app": "helloworld", "version": "v1"}
HOST = "helloworld.sample.svc.cluster.local"


def test_istiod_applies_the_oldest_namespace_wide_policy():
    run = pa("meshconform-strict", "STRICT", "05")
    first = pa("default", "PERMISSIVE", "01")
    assert peer_authn.applied([run, first], HELLO) == first
    assert peer_authn.applied([run], HELLO) == run


def test_a_workload_policy_that_selects_helloworld_wins_and_an_unset_one_inherits():
    ns = pa("default", "STRICT", "01")
    workload = pa("hello", "PERMISSIVE", "09", {"app": "helloworld"})
    other = pa("sleep", "DISABLE", "00", {"app": "sleep"})
    assert peer_authn.applied([ns, workload, other], HELLO) == workload
    assert peer_authn.applied([ns, pa("hello", "UNSET", "09", {"app": "helloworld"})], HELLO) == ns
    assert peer_authn.applied([], HELLO) is None


def test_a_destination_rule_that_disables_tls_explains_failed_calls():
    facts = healthy()
    control = facts.clusters["cluster-2"].control
    assert control is not None
    control.destination_rules = [DestinationRule("istio-system", "default", "*.local", tls_mode="DISABLE")]
    facts.traffic["cluster-2"].by_status = {"503": 50}
    facts.traffic["cluster-2"].by_version = {}
    out = checks.judge(facts, traffic.hello_ok, "cluster-2")
    assert out.status == "failed"
    rule = "DestinationRule istio-system/default (host *.local) in cluster-2 sets tls.mode DISABLE"
    assert rule in out.message
    assert "ISTIO_MUTUAL" in out.message


def test_a_more_specific_rule_with_istio_mutual_overrides_the_mesh_wide_disable():
    facts = healthy()
    control = facts.clusters["cluster-2"].control
    assert control is not None
    control.destination_rules = [
        DestinationRule("istio-system", "default", "*.local", tls_mode="DISABLE"),
        DestinationRule("istio-system", "hello", HOST, tls_mode="ISTIO_MUTUAL"),
    ]
    assert traffic.plaintext_rule(facts, "cluster-2") is None
    assert traffic.plaintext_rule(facts, "cluster-1") is None


def test_the_report_and_summary_say_how_many_clusters_the_mesh_has():
    from meshconform.report import html, summary

    facts = healthy()
    facts.outside = {"cluster-3": ["cluster-1", "cluster-2"]}
    entry = summary.mesh_entry(facts)
    assert entry["clusters"] == 3 and entry["under_test"] == 2
    outside = {"cluster_id": "cluster-3", "registered_by": ["cluster-1", "cluster-2"]}
    assert entry["not_under_test"] == [outside]
    assert "The mesh has 3 clusters; 2 under test; not under test: cluster-3" in html.mesh_table(facts)
    assert summary.mesh_entry(healthy())["line"] is None and "mc-outside" not in html.mesh_table(healthy())
