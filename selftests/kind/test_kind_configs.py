"""manifests/kind and manifests/istio describe two non-overlapping clusters of one mesh and network.

These files are used unchanged by the kind plan (and readable by a user doing the steps by hand),
so their shape is checked here: kind's v1alpha4 Cluster config, and the IstioOperator of istio.io's
"Install Multi-Primary" with meshID / multiCluster.clusterName / network.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import shutil

import pytest
import yaml

from meshconform.kind.plan import REPO_ROOT, PlanError, load_cluster, validate_clusters

MANIFESTS = REPO_ROOT / "manifests"
KIND = [MANIFESTS / "kind" / f"cluster-{i}.yaml" for i in (1, 2)]
ISTIO = [MANIFESTS / "istio" / f"cluster-{i}.yaml" for i in (1, 2)]
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # istioctl --name must be one
DOCKER_DEFAULT_POOLS = ipaddress.ip_network("172.16.0.0/12")  # where docker puts the kind network


def load(path):
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", KIND, ids=lambda p: p.name)
def test_kind_config_shape(path):
    config = load(path)
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["nodes"] == [{"role": "control-plane"}]
    assert set(config["networking"]) == {"podSubnet", "serviceSubnet"}


def subnets():
    for path in KIND:
        net = load(path)["networking"]
        yield f"{path.name} podSubnet", ipaddress.ip_network(net["podSubnet"])
        yield f"{path.name} serviceSubnet", ipaddress.ip_network(net["serviceSubnet"])


def test_pod_and_service_cidrs_are_distinct_everywhere():
    nets = list(subnets())
    assert len(nets) == 4
    for (a, net_a), (b, net_b) in itertools.combinations(nets, 2):
        assert not net_a.overlaps(net_b), f"{a} {net_a} overlaps {b} {net_b}"
    for name, net in nets:
        assert not net.overlaps(DOCKER_DEFAULT_POOLS), f"{name} {net} collides with docker's networks"


@pytest.mark.parametrize(
    ("index", "path"), list(enumerate(ISTIO, start=1)), ids=lambda v: getattr(v, "name", v)
)
def test_istio_operator_config(index, path):
    config = load(path)
    assert config["apiVersion"] == "install.istio.io/v1alpha1"
    assert config["kind"] == "IstioOperator"
    glob = config["spec"]["values"]["global"]
    assert glob == {
        "meshID": "mesh1",
        "multiCluster": {"clusterName": f"cluster-{index}"},
        "network": "network1",
    }
    assert DNS1123_LABEL.match(glob["multiCluster"]["clusterName"])


def test_plan_reads_the_same_identity():
    clusters = tuple(load_cluster(MANIFESTS, i, "mc") for i in (1, 2))
    assert [(c.mesh_name, c.network, c.mesh_id) for c in clusters] == [
        ("cluster-1", "network1", "mesh1"),
        ("cluster-2", "network1", "mesh1"),
    ]
    assert [(c.pod_subnet, c.service_subnet) for c in clusters] == [
        ("10.10.0.0/16", "10.255.10.0/24"),
        ("10.20.0.0/16", "10.255.20.0/24"),
    ]
    validate_clusters(clusters)


@pytest.fixture
def manifests_copy(tmp_path):
    shutil.copytree(MANIFESTS / "kind", tmp_path / "kind")
    shutil.copytree(MANIFESTS / "istio", tmp_path / "istio")
    return tmp_path


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("kind/cluster-2.yaml", "10.20.0.0/16", "10.10.128.0/17", "overlaps"),
        ("kind/cluster-2.yaml", "10.255.20.0/24", "10.10.0.0/24", "overlaps"),
        ("kind/cluster-1.yaml", "10.10.0.0/16", "10.10.0.300/16", "is not a CIDR"),
        ("istio/cluster-2.yaml", "network: network1", "network: network2", "one network"),
        ("istio/cluster-2.yaml", "meshID: mesh1", "meshID: mesh2", "one meshID"),
        ("istio/cluster-2.yaml", "clusterName: cluster-2", "clusterName: cluster-1", "own multiCluster"),
        ("istio/cluster-1.yaml", "      network: network1\n", "", "has no spec.values.global.network"),
    ],
)
def test_bad_manifests_are_refused(manifests_copy, file, old, new, message):
    edit(manifests_copy / file, old, new)
    with pytest.raises(PlanError, match=message):
        validate_clusters(tuple(load_cluster(manifests_copy, i, "mc") for i in (1, 2)))
