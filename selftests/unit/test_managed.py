"""The managed control plane's checks over synthetic facts: a managed cluster is judged by its
ControlPlaneRevision instead of an istiod pod, endpoint discovery by multicluster_mode instead of
remote secrets, and an in-cluster mesh is untouched by them."""

from __future__ import annotations

from test_checks import EAST_WEST, REV, failing, healthy, outcomes

from meshconform.checks.managed import sidecar_synced
from meshconform.mesh import control_plane_kind
from meshconform.mesh import facts as mf
from meshconform.mesh.facts import Condition, ManagedControlPlane, MeshFacts

MANAGED = (
    "test_managed_revision_ready", "test_managed_data_plane", "test_endpoint_discovery_declared",
    "test_sidecar_synced",
)
PROVISIONED = [
    Condition("Reconciled", "True", "Ready"),
    Condition("ProvisioningFinished", "True", "Provisioned"),
    Condition("Stalled", "False", "NotStalled"),
]


def managed(facts: MeshFacts, name: str, mode: str | None = "connected", secrets: bool = False) -> None:
    """Turn `name` into a managed cluster: no istiod pod, a ControlPlaneRevision of the revision."""
    c = facts.clusters[name]
    assert c.control is not None
    c.control.istiod = []
    c.managed = ManagedControlPlane({REV: list(PROVISIONED)}, mode, "1/1", "3/3")
    facts.proxy_views[name] = synced_view(facts)
    if mode == "connected":
        for pair in [p for p in facts.pairs if p.endswith(f"->{name}")]:
            source = pair.split("->")[0]
            facts.pairs[pair] = mf.RemoteSecret(f"istio-remote-secret-{source}")  # none is made there
        if not secrets:
            c.remote_secret_ids = {}


def synced_view(facts: MeshFacts) -> mf.ProxyView:
    """A sleep sidecar that holds every cluster's helloworld pod (their IPs given here)."""
    hosts = []
    for i, c in enumerate(facts.clusters.values(), 1):
        for pod in c.workloads.pods if c.workloads else []:
            if pod.app == "helloworld":
                pod.ip = pod.ip or f"10.{i}.0.5"
                hosts.append(mf.ProxyHost(pod.ip, 5000))
    return mf.ProxyView("sleep-x", "outbound|5000||helloworld.sample.svc.cluster.local", hosts)


def managed_mesh(n: int = 2) -> MeshFacts:
    facts = healthy(n)
    for name in facts.names:
        managed(facts, name)
    return facts


def test_in_cluster_mesh_leaves_the_managed_checks_not_applicable():
    result = outcomes(healthy())
    assert failing(healthy()) == []
    for check_id, outcome in result.items():
        if check_id.startswith(MANAGED):
            assert outcome.undecided == "not-applicable", check_id
        elif not check_id.startswith(EAST_WEST):  # one network: not applicable either
            assert outcome.status == "passed", check_id


def test_healthy_managed_mesh_fails_nothing_and_skips_the_istiod_checks_as_not_applicable():
    result = outcomes(managed_mesh())
    assert failing(managed_mesh()) == []
    for name in ("cluster-1", "cluster-2"):
        assert result[f"test_managed_revision_ready[{name}]"].status == "passed"
        assert result[f"test_endpoint_discovery_declared[{name}]"].status == "passed"
        istiod = result[f"test_istiod_ready[{name}]"]
        assert istiod.undecided == "not-applicable" and "test_managed_revision_ready" in istiod.message
    present = result["test_remote_secret_present[cluster-1->cluster-2]"]
    assert present.undecided == "not-applicable" and "multicluster_mode" in present.message
    # not a quiet pass behind a not-applicable premise: every secret check says why it does not apply
    assert result["test_remote_secret_credentials[cluster-1->cluster-2]"].undecided == "not-applicable"


def test_stalled_revision_fails_its_check_only_and_names_the_object_and_the_fix():
    facts = managed_mesh()
    facts.clusters["cluster-2"].managed.revisions[REV] = [  # type: ignore[union-attr]
        Condition("Reconciled", "False", "ReconcileFailed"),
        Condition("Stalled", "True", "PreconditionFailed", "cluster is not registered to a fleet"),
    ]
    assert failing(facts) == ["test_managed_revision_ready[cluster-2]"]
    message = outcomes(facts)["test_managed_revision_ready[cluster-2]"].message
    assert f"ControlPlaneRevision istio-system/{REV} in cluster-2 is Stalled" in message
    assert "PreconditionFailed" in message and "describe controlplanerevision" in message


def test_revision_without_provisioning_conditions_is_not_ready():
    facts = managed_mesh()
    facts.clusters["cluster-1"].managed.revisions[REV] = []  # type: ignore[union-attr]
    assert failing(facts) == ["test_managed_revision_ready[cluster-1]"]


def test_multicluster_mode_missing_in_one_cluster_fails_there_with_the_patch():
    facts = healthy()
    managed(facts, "cluster-1")
    managed(facts, "cluster-2", mode=None)
    assert failing(facts) == ["test_endpoint_discovery_declared[cluster-2]"]
    message = outcomes(facts)["test_endpoint_discovery_declared[cluster-2]"].message
    assert "cluster-1 declare multicluster_mode: connected but cluster-2 does not" in message
    assert "kubectl patch configmap/asm-options" in message


def test_remote_secrets_beside_connected_mode_fail_as_stray():
    facts = managed_mesh()
    facts.clusters["cluster-2"].remote_secret_ids = {"istio-remote-secret-cluster-1": ["cluster-1"]}
    assert failing(facts) == ["test_endpoint_discovery_declared[cluster-2]"]
    message = outcomes(facts)["test_endpoint_discovery_declared[cluster-2]"].message
    assert "istio-remote-secret-cluster-1" in message


def test_managed_data_plane_controller_down_fails_the_data_plane_check():
    facts = managed_mesh()
    facts.clusters["cluster-1"].managed.mdp_controller = "0/1"  # type: ignore[union-attr]
    assert failing(facts) == ["test_managed_data_plane[cluster-1]"]
    message = outcomes(facts)["test_managed_data_plane[cluster-1]"].message
    assert "kube-system/mdp-controller has 0/1 ready" in message


def test_managed_cluster_with_remote_secrets_keeps_the_secret_checks():
    facts = healthy()
    managed(facts, "cluster-2", mode=None)  # managed istiod joined the open-source way
    assert failing(facts) == []
    result = outcomes(facts)
    assert result["test_remote_secret_present[cluster-1->cluster-2]"].status == "passed"
    assert result["test_istiod_synced[cluster-1->cluster-2]"].undecided == "not-applicable"


def test_mixed_mesh_is_named_and_round_trips_through_json():
    facts = healthy()
    managed(facts, "cluster-2")
    assert control_plane_kind.mesh_line(facts) == (
        "mixed mesh: in-cluster istiod in cluster-1, managed control plane in cluster-2"
    )
    back = mf.from_json(MeshFacts, mf.to_json(facts))
    assert back == facts
    assert isinstance(back.clusters["cluster-2"].managed.revisions[REV][0], Condition)  # type: ignore[union-attr]


# -- synced, from the sample sidecar (no istiod to ask) ---------------------------------------------


def test_managed_holder_is_judged_synced_from_its_sidecar():
    result = outcomes(managed_mesh())
    for pair in ("cluster-1->cluster-2", "cluster-2->cluster-1"):
        assert result[f"test_sidecar_synced[{pair}]"].status == "passed", pair
    in_cluster = outcomes(healthy())["test_sidecar_synced[cluster-1->cluster-2]"]
    assert in_cluster.undecided == "not-applicable"
    assert "test_istiod_synced[cluster-1->cluster-2]" in in_cluster.message


def test_sidecar_without_the_peers_endpoints_fails_sync_and_skips_that_sources_traffic():
    facts = managed_mesh()
    view = facts.proxy_views["cluster-2"]
    view.hosts = [h for h in view.hosts if h.address != "10.1.0.5"]  # cluster-1's pod never pushed
    assert failing(facts) == ["test_sidecar_synced[cluster-1->cluster-2]"]
    result = outcomes(facts)
    message = result["test_sidecar_synced[cluster-1->cluster-2]"].message
    assert message.startswith("the sidecar of sleep-x in cluster-2 holds no endpoint for 1 of cluster-1's")
    assert "10.1.0.5" in message and "same fleet" in message
    assert "gcloud container fleet memberships" in message
    reach = result["test_calls_reach_every_cluster[cluster-2]"]
    assert reach.status == "skipped" and "test_sidecar_synced[cluster-1->cluster-2] failed" in reach.message


def test_sidecar_sync_over_remote_secrets_names_the_secret_and_needs_it_first():
    facts = healthy()
    managed(facts, "cluster-2", mode=None)
    facts.proxy_views["cluster-2"].hosts = []
    message = outcomes(facts)["test_sidecar_synced[cluster-1->cluster-2]"].message
    assert "test_remote_secret_credentials[cluster-1->cluster-2]" in message
    facts.pairs["cluster-1->cluster-2"].present = False
    skipped = outcomes(facts)["test_sidecar_synced[cluster-1->cluster-2]"]
    assert skipped.undecided == "premise" and "test_remote_secret_present" in skipped.message


def test_undeclared_discovery_is_the_one_failure_not_the_sync_it_prevents():
    facts = managed_mesh()
    facts.clusters["cluster-2"].managed.multicluster_mode = None  # type: ignore[union-attr]
    for view in facts.proxy_views.values():
        view.hosts = []  # neither side discovers the other, as on a real fleet
    assert failing(facts) == ["test_endpoint_discovery_declared[cluster-2]"]
    result = outcomes(facts)
    for pair in ("cluster-1->cluster-2", "cluster-2->cluster-1"):
        assert result[f"test_sidecar_synced[{pair}]"].undecided == "premise"


def test_unread_sidecar_cannot_tell_sync():
    facts = managed_mesh()
    facts.proxy_views["cluster-2"].problem = "exec into sleep-x/istio-proxy failed: boom"
    synced = outcomes(facts)["test_sidecar_synced[cluster-1->cluster-2]"]
    assert synced.status == "failed" and synced.inconclusive and "boom" in synced.message


def test_sidecar_on_another_network_must_hold_the_peers_gateway():
    facts = managed_mesh()
    for n, c in facts.clusters.items():
        c.control.network = f"network{n[-1]}"  # type: ignore[union-attr]
        gateway = mf.NetworkGateway("ew", f"network{n[-1]}", "LoadBalancer", f"192.0.2.{n[-1]}", [15443], 1)
        c.control.gateways = [gateway]  # type: ignore[union-attr]
    facts.proxy_views["cluster-2"].hosts = [mf.ProxyHost("192.0.2.1", 15443, 1)]
    assert sidecar_synced.evaluate(facts, "cluster-1->cluster-2") is None  # the premises: networks' checks
    facts.proxy_views["cluster-2"].hosts = [mf.ProxyHost("10.1.0.5", 5000, 1)]  # a pod IP it cannot reach
    problem = sidecar_synced.evaluate(facts, "cluster-1->cluster-2")
    assert problem and "no endpoint at cluster-1's network network1 gateway (192.0.2.1:15443)" in problem


def test_cni_node_not_ready_names_the_nodes_and_the_pods_to_read():
    facts = managed_mesh()
    cp = facts.clusters["cluster-2"].managed
    assert cp is not None
    cp.cni_node, cp.cni_unready_nodes = "2/3", ["node-b"]
    assert failing(facts) == ["test_managed_data_plane[cluster-2]"]
    message = outcomes(facts)["test_managed_data_plane[cluster-2]"].message
    assert "DaemonSet kube-system/istio-cni-node has 2/3 ready (not Ready on node-b)" in message
    assert "kubectl -n kube-system describe pods -l k8s-app=istio-cni-node --context" in message


def test_in_cluster_istiod_beside_a_connected_managed_cluster_cannot_be_discovered():
    """A mixed mesh whose managed cluster discovers by multicluster_mode: the in-cluster one cannot
    declare it, so the managed cluster never learns its endpoints; one red check names both, and the
    sync and the calls it prevents are skipped on it."""
    facts = healthy()
    managed(facts, "cluster-2")
    view = facts.proxy_views["cluster-2"]
    view.hosts = [h for h in view.hosts if h.address != "10.1.0.5"]  # as the real one: no cluster-1
    assert failing(facts) == ["test_endpoint_discovery_declared[cluster-1]"]
    result = outcomes(facts)
    message = result["test_endpoint_discovery_declared[cluster-1]"].message
    assert message.startswith("cluster-2 discover other clusters by multicluster_mode: connected")
    assert "cluster-1 runs its own istiod and cannot declare it" in message
    assert "gcloud container fleet mesh update --management automatic" in message
    assert result["test_sidecar_synced[cluster-1->cluster-2]"].undecided == "premise"
    assert result["test_calls_reach_every_cluster[cluster-2]"].status == "skipped"
