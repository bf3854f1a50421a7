"""Managed control plane: where Google runs the revision, it is provisioned, discovery declared."""

from fixtures.verify import verify
from meshconform.checks import managed as checks


def test_managed_revision_ready(cluster, mesh_control):
    """The revision's ControlPlaneRevision is Reconciled or ProvisioningFinished, and not Stalled."""
    verify(mesh_control, checks.revision_ready, cluster)


def test_managed_data_plane(cluster, mesh_control):
    """kube-system/mdp-controller and istio-cni-node, where installed, have every replica ready."""
    verify(mesh_control, checks.data_plane, cluster)


def test_endpoint_discovery_declared(cluster, mesh_joined):
    """Once one cluster declares multicluster_mode: connected, every managed one does, no secret left."""
    verify(mesh_joined, checks.discovery_declared, cluster)
