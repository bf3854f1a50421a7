"""Cross-cluster load balancing (guide step 6), from each cluster's sleep pod."""

from fixtures.verify import verify
from meshconform.checks import traffic as checks


def test_hello_calls_succeed(cluster, mesh_traffic):
    """Every hello call answers 200 with `Hello version: vN, instance: POD`."""
    verify(mesh_traffic, checks.hello_ok, cluster)


def test_calls_reach_every_cluster(cluster, mesh_traffic):
    """Calls reach every cluster's version; enough are sent that a healthy one is missed by
    chance in under 1 run in a million (budget split over sources x versions)."""
    verify(mesh_traffic, checks.reach_every_cluster, cluster)


def test_split_follows_replicas(cluster, mesh_traffic):
    """Each version's share is consistent with its replicas' (exact binomial per version; a healthy
    run fails a statistical check in at most 1 run in 1,000)."""
    verify(mesh_traffic, checks.split_follows_replicas, cluster)
