"""Endpoint discovery (the guide's step 1): for A->B, B holds A's remote secret and istiod uses it."""

from fixtures.verify import verify
from meshconform.checks.join import (
    istiod_synced,
    names_unique,
    secret_credentials,
    secret_present,
    secret_targets,
)
from meshconform.checks.managed import discovery_declared


def test_remote_secret_present(pair, mesh_joined):
    """A secret in B's istio-system reaches A (else is named for A), labelled istio/multiCluster=true."""
    verify(mesh_joined, secret_present, pair)


def test_remote_secret_targets_cluster(pair, mesh_joined):
    """Its kubeconfig reaches A with its own server, CA and token (else: A's server, CA verifies A)."""
    verify(mesh_joined, secret_targets, pair)


def test_remote_secret_credentials(pair, mesh_joined):
    """Its token authenticates to A and may list and watch what istiod reads."""
    verify(mesh_joined, secret_credentials, pair)


def test_cluster_names_unique(cluster, mesh_joined):
    """No cluster name is claimed twice (two secrets, a secret and istiod, two istiods), no cluster twice."""
    verify(mesh_joined, names_unique, cluster)


def test_istiod_synced(pair, mesh_synced):
    """istiod in B lists A in /debug/clusterz as synced."""
    verify(mesh_synced, istiod_synced, pair)


def test_endpoint_discovery_declared(cluster, mesh_joined):
    """Once one cluster declares multicluster_mode: connected, every managed one does, no secret left."""
    verify(mesh_joined, discovery_declared, cluster)
