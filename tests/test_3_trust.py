"""Trust and network: one root CA, one trust domain and mesh ID, one network."""

from fixtures.verify import verify
from meshconform.checks import cluster as checks


def test_root_ca_shared(cluster, mesh_control):
    """istio-ca-root-cert has the same root certificate as in the first cluster."""
    verify(mesh_control, checks.root_ca_shared, cluster)


def test_trust_domain_and_mesh_id(cluster, mesh_control):
    """The mesh config's trustDomain and meshId match the first cluster's."""
    verify(mesh_control, checks.trust_domain, cluster)


def test_single_network(cluster, mesh_control):
    """istio-system's topology.istio.io/network matches the first cluster's (the guide's model)."""
    verify(mesh_control, checks.single_network, cluster)
