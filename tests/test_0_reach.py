"""Reach (the guide's prerequisites, step 0): every context's API server answers with its credentials."""

from fixtures.verify import verify
from meshconform.checks.cluster import reach


def test_api_server_answers(cluster, mesh_clusters):
    """GET /version and a SelfSubjectAccessReview succeed with the context's own credentials."""
    verify(mesh_clusters, reach, cluster)
