"""Endpoint discovery (guide step 1): for A->B, B holds A's remote secret and istiod uses it."""

from fixtures.verify import verify
from meshconform.checks import join as checks


def test_remote_secret_present(pair, mesh_joined):
    """Secret istio-remote-secret-A is in B's istio-system, labelled and annotated as istioctl makes it."""
    verify(mesh_joined, checks.secret_present, pair)


def test_remote_secret_targets_cluster(pair, mesh_joined):
    """Its kubeconfig points at A's API server (or --api-server) and its CA verifies A."""
    verify(mesh_joined, checks.secret_targets, pair)


def test_remote_secret_credentials(pair, mesh_joined):
    """Its token authenticates to A and may list and watch what istiod reads."""
    verify(mesh_joined, checks.secret_credentials, pair)


def test_cluster_names_unique(cluster, mesh_joined):
    """No cluster name is claimed twice: by two secrets, by a secret and istiod, or by two istiods."""
    verify(mesh_joined, checks.names_unique, cluster)


def test_istiod_synced(pair, mesh_synced):
    """istiod in B lists A in /debug/clusterz as synced."""
    verify(mesh_synced, checks.istiod_synced, pair)
