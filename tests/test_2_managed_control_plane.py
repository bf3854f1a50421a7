"""Managed control plane (the guide's step 2, where Google runs istiod): the revision is provisioned."""

from fixtures.verify import verify
from meshconform.checks.managed import data_plane, revision_ready


def test_managed_revision_ready(cluster, mesh_control):
    """The revision's ControlPlaneRevision is Reconciled or ProvisioningFinished, and not Stalled."""
    verify(mesh_control, revision_ready, cluster)


def test_managed_data_plane(cluster, mesh_control):
    """kube-system/mdp-controller and istio-cni-node, where installed, have every replica ready."""
    verify(mesh_control, data_plane, cluster)
