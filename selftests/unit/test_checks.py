"""The check catalogue over synthetic facts: pass on a healthy mesh, one failure and skipped
dependants for one broken fact, JSON round trip, and one test in tests/ per check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from meshconform import checks
from meshconform.mesh import facts as mf
from meshconform.mesh.facts import (
    ClusterFacts,
    ControlPlane,
    Injector,
    IstiodPod,
    IstiodSync,
    MeshFacts,
    PodFact,
    Received,
    RemoteSecret,
    ServerView,
    Tally,
    TrafficPlan,
    Webhook,
    Workloads,
    pair_id,
)

REV = "asm-173-3"
# not applicable to in-cluster istiods
MANAGED_IDS = ("test_managed_", "test_endpoint_discovery_declared", "test_sidecar_synced")
NS_SELECTOR = {
    "matchExpressions": [
        {"key": "istio.io/rev", "operator": "In", "values": [REV]},
        {"key": "istio-injection", "operator": "DoesNotExist"},
    ]
}


def healthy(n=2) -> MeshFacts:
    names = [f"cluster-{i + 1}" for i in range(n)]
    facts = MeshFacts(run_id="r1", namespace="sample", revision=REV)
    for i, name in enumerate(names):
        control = ControlPlane(
            istiod=[
                IstiodPod(
                    f"istiod-{REV}-{i}",
                    REV,
                    True,
                    "Running",
                    "docker.io/istio/pilot:1.7.3",  # Istio 1.7 supports Kubernetes 1.16-1.18
                    "1.7.3",
                    name,
                )
            ],
            revisions=[REV],
            mesh_config=f"istio-{REV}",
            trust_domain="cluster.local",
            mesh_id="mesh1",
            root_ca="AB:CD",
            injectors=[
                Injector(f"istio-sidecar-injector-{REV}", REV, [Webhook("rev.namespace", NS_SELECTOR)])
            ],
        )
        proxy = "docker.io/istio/proxyv2:1.7.3"
        pods = [
            PodFact(f"helloworld-v{i + 1}-x", "helloworld", f"v{i + 1}", "Running", True, 2, 2, True, REV,
                    proxy_image=proxy),
            PodFact("sleep-x", "sleep", None, "Running", True, 2, 2, True, REV, service_account="sleep",
                    proxy_image=proxy),
        ]
        wl = Workloads("sample", {"istio.io/rev": REV}, {}, f"v{i + 1}", 1, pods, "sleep-x", "sleep")
        facts.clusters[name] = ClusterFacts(
            name,
            f"gke_p_z_{name}",
            "https://x",
            server_version="v1.18.20-gke.901",
            control=control,
            workloads=wl,
            remote_secret_ids={f"istio-remote-secret-{o}": [o] for o in names if o != name},
            istiod_sync=IstiodSync(
                f"istiod-{REV}-{i}",
                "1.7.3-asm.6",
                [{"id": o, "syncStatus": "synced"} for o in names if o != name],
            ),
        )
    for a in names:
        for b in names:
            if a != b:
                facts.pairs[pair_id(a, b)] = RemoteSecret(
                    f"istio-remote-secret-{a}", [a], True, labelled=True, reached_uid=a, expected_uid=a
                )
        per = 50 // n
        facts.traffic[a] = Tally(a, per * n, {"200": per * n}, {f"v{i + 1}": per for i in range(n)})
    sleep = "spiffe://cluster.local/ns/sample/sa/sleep"
    for i, b in enumerate(names):
        pod = f"helloworld-v{i + 1}-x"
        received = [Received(pod, a, sleep, "mutual_tls", "200", 50 // n) for a in names]
        facts.server_view[b] = ServerView([pod], received)
    return facts


def outcomes(facts):
    result = {}
    for check in checks.all_checks().values():
        targets = list(facts.pairs) if check.scope == "pair" else facts.names
        for target in targets:
            result[check.id(target)] = checks.judge(facts, check, target)
    return result


def failing(facts):
    return sorted(k for k, o in outcomes(facts).items() if o.status == "failed")


# One network, every cluster a primary: the east-west and primary-remote checks do not apply
# (skipped, saying so); everything else passes.
EAST_WEST = (
    "test_east_west_gateway", "test_cross_network_gateway", "test_sidecar_routes_networks_through_gateways",
    "test_control_plane_exposed", "test_remote_uses_primary",
)


@pytest.mark.parametrize("n", [2, 3])
def test_healthy_mesh_passes_everything(n):
    results = {k: o for k, o in outcomes(healthy(n)).items() if not k.startswith(MANAGED_IDS)}
    assert {k for k, o in results.items() if o.status != "passed"} == {
        f"{check}[cluster-{i + 1}]" for check in EAST_WEST for i in range(n)
    }
    assert all(results[f"{c}[cluster-1]"].undecided == "not-applicable" for c in EAST_WEST)


def test_down_cluster_fails_once_and_skips_dependants():
    facts = healthy()
    facts.clusters["cluster-2"].api_error = "(Connection) connection refused"
    assert failing(facts) == ["test_api_server_answers[cluster-2]"]
    skipped = outcomes(facts)["test_calls_reach_every_cluster[cluster-1]"]
    assert skipped.status == "skipped" and "cluster-2" in skipped.message


@pytest.mark.parametrize(
    ("seen", "message"),
    [
        (
            {"api_unauthorized": True},
            "the API server of cluster-2 (https://x) rejects the credentials of context gke_p_z_cluster-2 "
            "(401 Unauthorized); refresh them, e.g. gcloud container clusters get-credentials",
        ),
        (
            {"api_error": "GET /version: (Connection) connection refused"},
            "the API server of cluster-2 (https://x) does not answer: GET /version: (Connection) connection "
            "refused; check the cluster's control plane; try kubectl --context gke_p_z_cluster-2 get --raw "
            "/version",
        ),
        (
            {"api_denied": True},
            "context gke_p_z_cluster-2 may not list pods in istio-system of cluster-2; the suite needs "
            "cluster-admin-like rights",
        ),
    ],
    ids=["401", "no-answer", "denied"],
)
def test_the_reach_check_words_what_the_probe_saw(seen, message):
    """The probe records what the API server said; the check words the verdict, naming the cluster,
    its server and context, and the fix."""
    facts = healthy()
    for key, value in seen.items():
        setattr(facts.clusters["cluster-2"], key, value)
    assert not facts.clusters["cluster-2"].usable
    assert outcomes(facts)["test_api_server_answers[cluster-2]"].message == message


@pytest.mark.parametrize(
    ("configmap", "message"),
    [
        (False, "ConfigMap istio-system/istio-ca-root-cert is missing in cluster-2 (istiod publishes it)"),
        (True, "ConfigMap istio-system/istio-ca-root-cert in cluster-2 holds no PEM certificate"),
        (None, "no root CA found in cluster-2"),
    ],
)
def test_the_root_ca_check_words_what_was_read_of_istio_ca_root_cert(configmap, message):
    facts = healthy()
    control = facts.clusters["cluster-2"].control
    control.root_ca, control.root_ca_configmap = None, configmap
    assert outcomes(facts)["test_root_ca_shared[cluster-2]"].message == message


def test_missing_secret_skips_only_its_dependants():
    facts = healthy()
    facts.pairs["cluster-1->cluster-2"] = RemoteSecret("istio-remote-secret-cluster-1")
    assert failing(facts) == ["test_remote_secret_present[cluster-1->cluster-2]"]
    result = outcomes(facts)
    assert result["test_hello_calls_succeed[cluster-2]"].status == "skipped"
    assert result["test_hello_calls_succeed[cluster-1]"].status == "passed"


def test_revision_mismatch_fails_the_revision_check_only():
    facts = healthy()
    control = facts.clusters["cluster-2"].control
    control.revisions = ["asm-181-5"]
    for p in control.istiod:
        p.revision = "asm-181-5"
    control.injectors[0].revision = "asm-181-5"
    assert failing(facts) == ["test_revision_everywhere[cluster-2]"]


def test_partition_fails_reach_and_skips_split():
    facts = healthy()
    facts.traffic["cluster-1"].by_version = {"v1": 50}
    result = outcomes(facts)
    assert failing(facts) == ["test_calls_reach_every_cluster[cluster-1]"]
    assert (
        "did not reach v2 (cluster-2); got {v1: 50}"
        in result["test_calls_reach_every_cluster[cluster-1]"].message
    )
    assert result["test_split_follows_replicas[cluster-1]"].status == "skipped"


def test_duplicate_cluster_id_fails_names_check():
    facts = healthy()
    facts.clusters["cluster-2"].remote_secret_ids["istio-remote-secret-cluster-3"] = ["cluster-1"]
    assert "test_cluster_names_unique[cluster-2]" in failing(facts)


def test_old_istiod_fails_version_only():
    facts = healthy()
    facts.clusters["cluster-1"].control.istiod[0].version = "1.6.5-asm.1"
    assert failing(facts) == ["test_istiod_version[cluster-1]"]


def test_facts_round_trip_through_json():
    facts = healthy(3)
    again = mf.from_json(MeshFacts, mf.to_json(facts))
    assert again == facts
    assert isinstance(again.clusters["cluster-1"].control.istiod[0], IstiodPod)


def test_every_check_has_a_test_in_tests():
    tests_dir = Path(__file__).resolve().parents[2] / "tests"
    names = {
        node.name
        for path in tests_dir.glob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
    }
    assert set(checks.all_checks()) <= names


def _sidecar_holding(facts: MeshFacts, holder: str, *sources: str) -> None:
    """`holder`'s sleep sidecar, read after the calls, holds the helloworld pods of `sources`."""
    hosts = []
    for i, name in enumerate(facts.names, 1):
        for pod in facts.clusters[name].workloads.pods:
            if pod.app == "helloworld":
                pod.ip = pod.ip or f"10.{i}.0.5"
                hosts += [mf.ProxyHost(pod.ip, 5000)] if name in sources else []
    envoy_cluster = "outbound|5000||helloworld.sample.svc.cluster.local"
    facts.proxy_views[holder] = mf.ProxyView("sleep-x", envoy_cluster, hosts)


def test_sync_unknown_does_not_apply_and_names_the_check_that_covers_it():
    """An istiod without /debug/clusterz (before Istio 1.11) cannot be asked: the check does not
    apply (skipped, not failed, even without --allow-inconclusive), and names the check that judges
    the sync instead, from what the cluster's sample sidecar holds."""
    facts = healthy()
    seen = facts.clusters["cluster-2"].istiod_sync
    seen.pod, seen.missing, seen.entries = "istiod-x", True, []
    _sidecar_holding(facts, "cluster-2", "cluster-1", "cluster-2")
    result = outcomes(facts)
    assert failing(facts) == []
    synced = result["test_istiod_synced[cluster-1->cluster-2]"]
    assert (synced.status, synced.undecided) == ("skipped", "not-applicable")
    said = "does not apply: istiod istiod-x in cluster-2 runs 1.7.3-asm.6, which has no /debug/clusterz"
    assert synced.message.startswith(said)
    assert "test_sidecar_synced[cluster-1->cluster-2]" in synced.message
    assert checks.settle(synced, allow_inconclusive=False) == synced
    assert result["test_istiod_synced[cluster-2->cluster-1]"].status == "passed"
    assert result["test_sidecar_synced[cluster-1->cluster-2]"].status == "passed"
    assert result["test_sidecar_synced[cluster-2->cluster-1]"].undecided == "not-applicable"


def test_sync_unknown_is_judged_from_the_sidecar_and_fails_when_it_lacks_the_peer():
    """Before Istio 1.11 the sample sidecar is the evidence: one missing cluster-1's endpoints fails
    test_sidecar_synced with the pod IPs it lacks and where to look; unread, it cannot pass."""
    facts = healthy()
    seen = facts.clusters["cluster-2"].istiod_sync
    seen.pod, seen.missing, seen.entries = "istiod-x", True, []
    _sidecar_holding(facts, "cluster-2", "cluster-2")
    result = outcomes(facts)
    assert failing(facts) == ["test_sidecar_synced[cluster-1->cluster-2]"]
    message = result["test_sidecar_synced[cluster-1->cluster-2]"].message
    assert "no endpoint for 1 of cluster-1's helloworld pods (10.1.0.5)" in message, message
    assert "cluster-2's istiod has not sent it" in message and "logs -l app=istiod" in message, message
    del facts.proxy_views["cluster-2"]
    unread = outcomes(facts)["test_sidecar_synced[cluster-1->cluster-2]"]
    assert unread.status == "failed" and unread.inconclusive, unread


def test_an_inconclusive_premise_does_not_skip_the_traffic_checks():
    """On the guide's ASM 1.7 no istiod reports its sync status; the traffic is then the only
    evidence of discovery, so the traffic checks must still run, and fail when calls from a
    cluster miss a version (its istiod does not read the other cluster)."""
    facts = healthy()
    for c in facts.clusters.values():
        c.istiod_sync.missing, c.istiod_sync.entries = True, []
    for name in facts.names:
        _sidecar_holding(facts, name, *facts.names)
    result = outcomes(facts)
    assert {k for k, o in result.items() if o.status == "skipped" and not k.startswith(MANAGED_IDS)} == {
        "test_istiod_synced[cluster-1->cluster-2]", "test_istiod_synced[cluster-2->cluster-1]"
    } | {f"{check}[cluster-{i}]" for check in EAST_WEST for i in (1, 2)}
    assert failing(facts) == []
    tally = facts.traffic["cluster-2"]
    tally.by_version = {"v2": tally.answered}  # cluster-2's istiod never read cluster-1's endpoints
    assert failing(facts) == [
        "test_calls_reach_every_cluster[cluster-2]",
    ], outcomes(facts)["test_split_follows_replicas[cluster-2]"]


def test_no_answered_call_skips_reach_and_split_behind_the_failed_calls():
    """Nothing answered: the hello check fails (the run is red), and reach and split, which have no
    evidence because of that failure, are skipped with it as their broken premise."""
    facts = healthy()
    tally = facts.traffic["cluster-1"]
    tally.by_version, tally.by_status = {}, {"503": tally.calls}
    result = outcomes(facts)
    assert failing(facts) == ["test_hello_calls_succeed[cluster-1]"]
    for name in ("test_calls_reach_every_cluster[cluster-1]", "test_split_follows_replicas[cluster-1]"):
        assert (result[name].status, result[name].undecided) == ("skipped", "premise"), result[name]
        premise = "test_hello_calls_succeed[cluster-1] failed: from cluster-1: 50 of 50"
        assert result[name].message.startswith(premise)


def test_no_tally_at_all_fails_the_hello_check_and_skips_the_others():
    facts = healthy()
    del facts.traffic["cluster-2"]
    facts.traffic_plan = TrafficPlan(calls=50, floor=50, needed=10)  # the traffic stage ran
    facts.clusters["cluster-2"].workloads.source_pod = None
    result = outcomes(facts)
    assert failing(facts) == ["test_hello_calls_succeed[cluster-2]"]
    said = "no Ready sleep pod in sample of cluster-2 to call from"
    assert result["test_hello_calls_succeed[cluster-2]"].message == said
    assert result["test_calls_reach_every_cluster[cluster-2]"].status == "skipped"
    facts.clusters["cluster-2"].workloads.source_pod = "sleep-x"
    facts.curl_errors["cluster-2"] = "(Forbidden) pods/exec is forbidden"
    said = "could not run curl in sleep-x (cluster-2): (Forbidden) pods/exec is forbidden"
    assert outcomes(facts)["test_hello_calls_succeed[cluster-2]"].message == said


# -- "cannot decide" fails unless --allow-inconclusive; each place where the suite could not tell --


def _cannot_decide(outcome: checks.Outcome, *remedy: str) -> None:
    __tracebackhide__ = True
    assert (outcome.status, outcome.undecided) == ("failed", "inconclusive"), outcome
    assert outcome.message.startswith("cannot be judged: "), outcome.message
    assert outcome.message.endswith("or pass --allow-inconclusive to let the run pass without this verdict")
    for words in remedy:
        assert words in outcome.message, outcome.message
    allowed = checks.settle(outcome, allow_inconclusive=True)
    assert allowed.status == "skipped" and allowed.message.startswith(checks.NOT_JUDGED), allowed
    assert "--allow-inconclusive to let" not in allowed.message


def test_too_few_answered_calls_after_retakes_fail_with_the_calls_that_would_decide():
    facts = healthy()
    tally = facts.traffic["cluster-1"]
    tally.calls, tally.takes = 50, [50]
    tally.by_status, tally.by_version = {"200": 4, "503": 46}, {"v1": 4}  # v2 unseen in 4 answers
    result = outcomes(facts)
    _cannot_decide(
        result["test_calls_reach_every_cluster[cluster-1]"],
        "from cluster-1: 4 answered calls are too few to tell whether v2 is reachable",
        "46 of the 50 calls sent failed",
        "pass --requests 275 or more",
    )
    assert "test_hello_calls_succeed[cluster-1]" in failing(facts)


def test_unreadable_istiod_version_fails_as_undecided():
    """A digest-pinned image names no version: a pass would vouch for what was never seen."""
    facts = healthy()
    pod = facts.clusters["cluster-2"].control.istiod[0]
    pod.image, pod.version = "gcr.io/asm/pilot@sha256:" + "ab" * 32, None
    result = outcomes(facts)
    _cannot_decide(
        result["test_istiod_version[cluster-2]"],
        "the istiod image in cluster-2 names no version (gcr.io/asm/pilot@sha256:",
        "istioctl version --context gke_p_z_cluster-2",
    )
    # nothing else fails for it; the support check falls back on the revision name (asm-173-3:
    # ASM 1.7.3, judged by Istio 1.7's window, which holds this cluster's Kubernetes)
    assert failing(facts) == ["test_istiod_version[cluster-2]"]
    assert result["test_kubernetes_version_supported[cluster-2]"].status == "passed"


def test_no_istiod_pod_skips_the_version_check_behind_istiod_ready():
    facts = healthy()
    facts.clusters["cluster-2"].control.istiod = []
    facts.clusters["cluster-2"].control.deployments = {f"istiod-{REV}": REV}
    result = outcomes(facts)
    assert "test_istiod_ready[cluster-2]" in failing(facts)
    version = result["test_istiod_version[cluster-2]"]
    assert (version.status, version.undecided) == ("skipped", "premise"), version
    assert version.message.startswith("test_istiod_ready[cluster-2] failed: ")


def test_root_ca_unpublished_by_an_unready_istiod_is_that_failure_not_a_second_one():
    facts = healthy()
    control = facts.clusters["cluster-2"].control
    control.root_ca = None
    control.istiod[0].ready = False
    result = outcomes(facts)
    root = result["test_root_ca_shared[cluster-2]"]
    assert (root.status, root.undecided) == ("skipped", "premise"), root
    assert root.message.startswith("test_istiod_ready[cluster-2] failed: ")
    control.istiod[0].ready = True  # a ready istiod that publishes no root: that is this check's failure
    assert "test_root_ca_shared[cluster-2]" in failing(facts)


def test_unknown_injecting_revision_fails_as_undecided_and_skips_nothing():
    facts = healthy()
    for pod in facts.clusters["cluster-1"].workloads.pods:
        pod.injected_revision = None
    result = outcomes(facts)
    _cannot_decide(
        result["test_injected_by_revision[cluster-1]"],
        "names no injecting revision",
        "kubectl --context gke_p_z_cluster-1 -n sample get pods -o yaml",
    )
    assert failing(facts) == ["test_injected_by_revision[cluster-1]"]
    assert result["test_calls_reach_every_cluster[cluster-1]"].status == "passed"


def test_failed_calls_are_blamed_on_a_version_only_when_it_stands_out():
    facts = healthy()
    tally = facts.traffic["cluster-1"]
    per = tally.calls // 2
    tally.by_status = {"200": per + per // 2, "503": per - per // 2}
    tally.by_version = {"v1": per, "v2": per // 2}  # v2's replicas answered half their share
    message = outcomes(facts)["test_hello_calls_succeed[cluster-1]"].message
    assert "the failures most likely come from cluster-2" in message, message
    tally.by_status, tally.by_version = {"503": tally.calls}, {}  # all failed: no version stands out
    message = outcomes(facts)["test_hello_calls_succeed[cluster-1]"].message
    assert "most likely" not in message and "503" in message, message


def test_revision_offered_instead_only_when_every_cluster_was_read():
    facts = healthy(3)
    facts.clusters["cluster-2"].control.revisions = ["asm-181-5"]
    facts.clusters["cluster-1"].control.revisions = [REV, "asm-181-5"]
    facts.clusters["cluster-3"].control.revisions = [REV, "asm-181-5"]
    message = outcomes(facts)["test_revision_everywhere[cluster-2]"].message
    assert "or pass --revision asm-181-5 (installed in every cluster)" in message, message
    facts.clusters["cluster-3"].control = None
    message = outcomes(facts)["test_revision_everywhere[cluster-2]"].message
    assert "--revision cannot help" in message, message


def test_a_remote_cluster_is_named_as_such():
    """Primary-remote: a cluster without istiod whose istio-system names its primaries is a remote;
    its revision is the injector it keeps, and without one the revision check says it is a remote
    rather than report a missing istiod."""
    from meshconform.mesh import topology

    facts = healthy()
    control = facts.clusters["cluster-2"].control
    control.istiod, control.revisions, control.deployments = [], [], {}
    control.control_plane_clusters = "cluster-1"
    assert topology.model(facts) == "primary-remote, one network"
    assert [m.role for m in topology.members(facts)] == ["primary", "remote"]
    check = checks.all_checks()["test_revision_everywhere"]
    assert checks.judge(facts, check, "cluster-2").status == "passed"
    control.injectors = []
    outcome = checks.judge(facts, check, "cluster-2")
    assert outcome.status == "failed" and outcome.message.startswith("cluster-2 is a remote cluster")
    assert "topology.istio.io/controlPlaneClusters=cluster-1" in outcome.message
