"""Reach: every context's API server answers with its credentials."""

from fixtures.verify import verify
from meshconform.checks import cluster as checks


def test_api_server_answers(cluster, mesh_clusters):
    """GET /version and a SelfSubjectAccessReview succeed with the context's own credentials."""
    verify(mesh_clusters, checks.reach, cluster)
