"""Sidecar injection (the guide's steps 3-5): the sample pods run istio-proxy from the right revision."""

from fixtures.verify import verify
from meshconform.checks.workloads import injected_by_revision, injector_selects, pods_ready


def test_injector_selects_namespace(cluster, mesh_workloads):
    """A webhook of the revision's injector selects the namespace labelled istio.io/rev=REV (or =TAG)."""
    verify(mesh_workloads, injector_selects, cluster)


def test_sample_pods_injected_and_ready(cluster, mesh_workloads):
    """Every helloworld and sleep pod has istio-proxy and is 2/2 Ready."""
    verify(mesh_workloads, pods_ready, cluster)


def test_injected_by_revision(cluster, mesh_workloads):
    """Each proxy's sidecar.istio.io/status names the cluster's revision."""
    verify(mesh_workloads, injected_by_revision, cluster)
