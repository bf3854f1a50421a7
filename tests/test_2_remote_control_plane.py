"""Control plane of a primary-remote mesh (the guide's step 2, where remotes run no istiod): the
primary exposes istiod, each remote's injector and discovery address lead to it."""

from fixtures.verify import verify
from meshconform.checks.remotes import control_plane_exposed, remote_uses_primary


def test_control_plane_exposed(cluster, mesh_control):
    """A primary remotes name: its Ready east-west gateway with an address passes 15012 and 15017 through."""
    verify(mesh_control, control_plane_exposed, cluster)


def test_remote_uses_primary(cluster, mesh_joined):
    """A remote names a primary under test; its injector (path naming it) and istiod Service lead there."""
    verify(mesh_joined, remote_uses_primary, cluster)
