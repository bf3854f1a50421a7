"""manifests/kind and manifests/istio describe two non-overlapping clusters of one mesh per model.

These files are used unchanged by the kind plan (and readable by a user doing the steps by hand),
so their shape is checked here: kind's v1alpha4 Cluster config; the IstioOperator of each of
istio.io's four multicluster install pages (meshID / multiCluster.clusterName / network, the
primary's externalIstiod and the remote profile's injectionPath); the east-west gateway that
samples/multicluster/gen-eastwest-gateway.sh prints; and the Gateway / VirtualService of
expose-services.yaml and expose-istiod.yaml against the v1 schemas of Istio's own CRDs (1.30.3).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from meshconform.kind.models import Model
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
        ("istio/cluster-2.yaml", "network: network1", "network: network2", "puts cluster-2 on network1"),
        ("istio/cluster-2.yaml", "meshID: mesh1", "meshID: mesh2", "one meshID"),
        ("istio/cluster-2.yaml", "clusterName: cluster-2", "clusterName: cluster-1", "own multiCluster"),
        ("istio/cluster-1.yaml", "      network: network1\n", "", "has no spec.values.global.network"),
    ],
)
def test_bad_manifests_are_refused(manifests_copy, file, old, new, message):
    edit(manifests_copy / file, old, new)
    with pytest.raises(PlanError, match=message):
        validate_clusters(tuple(load_cluster(manifests_copy, i, "mc") for i in (1, 2)))


MODELS = [Model(name, networks) for name in ("multi-primary", "primary-remote") for networks in (1, 2)]
SCHEMAS = json.loads((Path(__file__).parent / "data" / "istio-1.30.3-networking-v1-schemas.json").read_text())


def istio_file(model, index):
    return MANIFESTS / "istio" / model.config_dir / f"cluster-{index}.yaml"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.slug)
def test_each_model_has_the_istio_configs_of_its_page(model):
    primary = load(istio_file(model, 1))
    assert (primary["apiVersion"], primary["kind"]) == ("install.istio.io/v1alpha1", "IstioOperator")
    expected = {"meshID": "mesh1", "multiCluster": {"clusterName": "cluster-1"}, "network": "network1"}
    if model.name == "primary-remote":
        expected["externalIstiod"] = True  # the primary also serves remotes (the page's cluster1.yaml)
    assert primary["spec"] == {"values": {"global": expected}}
    second = load(istio_file(model, 2))
    network = f"network{model.networks}"
    if model.name == "primary-remote":
        assert second["spec"] == {
            "profile": "remote",
            "values": {
                "istiodRemote": {"injectionPath": f"/inject/cluster/cluster-2/net/{network}"},
                "global": {"multiCluster": {"clusterName": "cluster-2"}, "network": network},
            },
        }
    else:
        assert second["spec"]["values"]["global"] == {
            "meshID": "mesh1", "multiCluster": {"clusterName": "cluster-2"}, "network": network,
        }  # fmt: skip
    clusters = tuple(load_cluster(MANIFESTS, i, "mc", model) for i in (1, 2))
    validate_clusters(clusters, model)
    assert [(c.network, c.role) for c in clusters] == [
        ("network1", "primary"), (network, "remote" if model.name == "primary-remote" else "primary"),
    ]  # fmt: skip


@pytest.mark.parametrize("network", ["network1", "network2"])
def test_east_west_gateway_is_what_gen_eastwest_gateway_prints(network):
    """The multi-network branch of gen-eastwest-gateway.sh (istio 1.30.3), revision unset."""
    config = load(MANIFESTS / "istio" / f"eastwest-{network}.yaml")
    assert (config["kind"], config["metadata"], config["spec"]["profile"]) == (
        "IstioOperator", {"name": "eastwest"}, "empty",
    )  # fmt: skip
    (gateway,) = config["spec"]["components"]["ingressGateways"]
    assert gateway["name"] == "istio-eastwestgateway" and gateway["enabled"] is True
    assert gateway["label"] == {
        "istio": "eastwestgateway", "app": "istio-eastwestgateway", "topology.istio.io/network": network,
    }  # fmt: skip
    assert gateway["k8s"]["env"] == [{"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": network}]
    ports = {(p["name"], p["port"], p["targetPort"]) for p in gateway["k8s"]["service"]["ports"]}
    assert ports == {
        ("status-port", 15021, 15021), ("tls", 15443, 15443),
        ("tls-istiod", 15012, 15012), ("tls-webhook", 15017, 15017),
    }  # fmt: skip
    assert config["spec"]["values"] == {
        "gateways": {"istio-ingressgateway": {"injectionTemplate": "gateway"}},
        "global": {"network": network},
    }


def crd_kind(doc):
    plural = {"Gateway": "gateways", "VirtualService": "virtualservices"}[doc["kind"]]
    return f"{plural}.networking.istio.io"


def validate_istio_object(doc):
    assert doc["apiVersion"] == "networking.istio.io/v1"
    jsonschema.validate(doc, SCHEMAS[crd_kind(doc)])


def expose(name):
    return [d for d in yaml.safe_load_all((MANIFESTS / "istio" / f"expose-{name}.yaml").read_text()) if d]


def test_expose_services_is_the_cross_network_gateway_on_15443():
    (gateway,) = expose("services")
    validate_istio_object(gateway)
    assert gateway["kind"] == "Gateway" and gateway["spec"]["selector"] == {"istio": "eastwestgateway"}
    (server,) = gateway["spec"]["servers"]
    assert server["port"]["number"] == 15443
    assert server["tls"] == {"mode": "AUTO_PASSTHROUGH"} and server["hosts"] == ["*.local"]


def test_expose_istiod_routes_15012_and_15017_to_istiod():
    gateway, service = expose("istiod")
    for doc in (gateway, service):
        validate_istio_object(doc)
    assert [s["port"]["number"] for s in gateway["spec"]["servers"]] == [15012, 15017]
    assert all(s["tls"] == {"mode": "PASSTHROUGH"} for s in gateway["spec"]["servers"])
    assert service["spec"]["gateways"] == ["istiod-gateway"]
    routes = {r["match"][0]["port"]: r["route"][0]["destination"] for r in service["spec"]["tls"]}
    assert routes == {
        15012: {"host": "istiod.istio-system.svc.cluster.local", "port": {"number": 15012}},
        15017: {"host": "istiod.istio-system.svc.cluster.local", "port": {"number": 443}},
    }


@pytest.mark.parametrize(
    ("edit_doc", "complaint"),
    [
        (lambda d: d["spec"]["servers"][0]["tls"].update(mode="AUTO_PASS"), "is not one of"),
        (lambda d: d["spec"]["servers"][0]["port"].update(number="15443"), "is not of type"),
        (lambda d: d["spec"].update(servers="*.local"), "is not of type"),
    ],
)
def test_the_crd_schema_catches_a_broken_gateway(edit_doc, complaint):
    """The schema check is not vacuous: a mode, a port or a shape Istio's CRD refuses is caught."""
    (gateway,) = expose("services")
    edit_doc(gateway)
    with pytest.raises(jsonschema.ValidationError, match=complaint):
        validate_istio_object(gateway)


@pytest.mark.parametrize(
    ("model", "file", "old", "new", "message"),
    [
        (MODELS[1], "istio/multi-primary_multi-network/cluster-2.yaml", "network: network2",
         "network: network1", "on 2 networks puts cluster-2 on network2"),
        (MODELS[2], "istio/primary-remote/cluster-2.yaml", "  profile: remote\n", "",
         "primary-remote/cluster-2.yaml has no spec.values.global.meshID"),
        (MODELS[3], "istio/primary-remote_multi-network/cluster-2.yaml", "net/network2", "net/network1",
         "/cluster-2/net/network1; expected /inject/cluster/cluster-2/net/network2"),
        (MODELS[2], "istio/primary-remote/cluster-1.yaml", "  values:\n", "  profile: remote\n  values:\n",
         "has no spec.values.istiodRemote.injectionPath"),
    ],
)  # fmt: skip
def test_bad_model_manifests_are_refused(manifests_copy, model, file, old, new, message):
    edit(manifests_copy / file, old, new)
    with pytest.raises(PlanError, match=re.escape(message)):
        validate_clusters(tuple(load_cluster(manifests_copy, i, "mc", model) for i in (1, 2)), model)


def test_a_primary_where_the_model_needs_a_remote_is_refused(manifests_copy):
    istio = manifests_copy / "istio"
    shutil.copy(istio / "cluster-2.yaml", istio / "primary-remote" / "cluster-2.yaml")  # a primary's config
    model = MODELS[2]
    with pytest.raises(PlanError, match="makes cluster-2 a primary; primary-remote needs a remote there"):
        validate_clusters(tuple(load_cluster(manifests_copy, i, "mc", model) for i in (1, 2)), model)
