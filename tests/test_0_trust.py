"""Trust and networks (the guide's prerequisites, step 0): one root CA, one trust domain and mesh ID;
each network reachable."""

from fixtures.verify import verify
from meshconform.checks.cluster import root_ca_shared, trust_domain
from meshconform.checks.networks import cross_network_gateway, east_west_gateway, network_declared


def test_root_ca_shared(cluster, mesh_trust):
    """istio-ca-root-cert has the same root certificate as in the first cluster."""
    verify(mesh_trust, root_ca_shared, cluster)


def test_trust_domain_and_mesh_id(cluster, mesh_control):
    """The mesh config's trustDomain and meshId match the first cluster's."""
    verify(mesh_control, trust_domain, cluster)


def test_network_declared(cluster, mesh_control):
    """istio-system's topology.istio.io/network agrees with the install's and its east-west gateway's."""
    verify(mesh_control, network_declared, cluster)


def test_east_west_gateway(cluster, mesh_control):
    """On several networks: the network has an east-west gateway with an address, its ports, Ready."""
    verify(mesh_control, east_west_gateway, cluster)


def test_cross_network_gateway(cluster, mesh_control):
    """On several networks: a Gateway passes *.local through (AUTO_PASSTHROUGH) on the gateway's 15443."""
    verify(mesh_control, cross_network_gateway, cluster)
