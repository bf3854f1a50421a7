"""Cross-cluster load balancing (the guide's step 6), from each cluster's sleep pod."""

from fixtures.verify import verify
from meshconform.checks.managed import sidecar_synced
from meshconform.checks.mtls import arrive_over_mtls
from meshconform.checks.networks import through_gateways
from meshconform.checks.origin import answers_from_this_run
from meshconform.checks.traffic import hello_ok, reach_every_cluster, split_follows_replicas


def test_sidecar_routes_networks_through_gateways(cluster, mesh_traffic):
    """On several networks: the sleep sidecar holds other networks' gateways for helloworld, not pod IPs."""
    verify(mesh_traffic, through_gateways, cluster)


def test_sidecar_synced(pair, mesh_traffic):
    """Where Google manages B's control plane (no istiod to ask): B's sleep sidecar holds A's helloworld."""
    verify(mesh_traffic, sidecar_synced, pair)


def test_hello_calls_succeed(cluster, mesh_traffic):
    """Every hello call answers 200 with `Hello version: vN, instance: POD`."""
    verify(mesh_traffic, hello_ok, cluster)


def test_calls_reach_every_cluster(cluster, mesh_traffic):
    """Calls reach every cluster's version (a healthy one is missed by chance in < 1e-6 of runs)."""
    verify(mesh_traffic, reach_every_cluster, cluster)


def test_split_follows_replicas(cluster, mesh_traffic):
    """Each version's share fits its replicas' (exact binomial; false alarms < 1e-3 per run)."""
    verify(mesh_traffic, split_follows_replicas, cluster)


def test_answers_come_from_this_run(cluster, mesh_traffic):
    """Every answer names (`instance: POD`) a helloworld pod this run deployed, in a cluster under test."""
    verify(mesh_traffic, answers_from_this_run, cluster)


def test_calls_arrive_over_mtls(pair, mesh_traffic):
    """A->B: the calls from A that B's version answered, B's sidecars counted as received over
    mutual TLS from A's sleep identity (istio_requests_total, reporter=destination)."""
    verify(mesh_traffic, arrive_over_mtls, pair)
