"""Before an upgrade (guide step 2's prerequisites; `-m pre_upgrade` or `-k pre_upgrade`): each
cluster's Kubernetes version, control plane and proxies are within what its release supports."""

import pytest

from fixtures.verify import verify
from meshconform.checks.support import control_planes_close, kubernetes_supported, proxies_within_skew

pytestmark = pytest.mark.pre_upgrade


def test_kubernetes_version_supported(cluster, mesh_control):
    """The cluster's Kubernetes version is supported by its revision's release (and --target-version's)."""
    verify(mesh_control, kubernetes_supported, cluster)


def test_control_planes_within_one_minor(cluster, mesh_control):
    """The cluster's istiod is at most one minor version from every other cluster's."""
    verify(mesh_control, control_planes_close, cluster)


def test_proxies_within_skew(cluster, mesh_workloads):
    """Every sample proxy is no newer than its istiod and at most one minor older."""
    verify(mesh_workloads, proxies_within_skew, cluster)
