"""Control plane (guide step 2): istiod of each cluster's revision runs there, recent enough."""

from fixtures.verify import verify
from meshconform.checks.cluster import istiod_ready, istiod_version, revision_installed


def test_revision_everywhere(cluster, mesh_control):
    """The cluster's revision (named, a tag's, or the one it runs) has an istiod here."""
    verify(mesh_control, revision_installed, cluster)


def test_istiod_ready(cluster, mesh_control):
    """An istiod pod of the cluster's revision is running and Ready."""
    verify(mesh_control, istiod_ready, cluster)


def test_istiod_version(cluster, mesh_control):
    """istiod is at least 1.6.8, the guide's prerequisite."""
    verify(mesh_control, istiod_version, cluster)
