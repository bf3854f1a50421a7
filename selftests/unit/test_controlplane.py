"""Where the suite reads a cluster's network: the istio-system label, else the injector's values."""

from __future__ import annotations

import json
import types

from meshconform.kube import errors
from meshconform.mesh import controlplane

REV = "asm-173-3"


class Cluster:
    """Just enough of kube.Cluster: istio-system's labels and the injector ConfigMaps."""

    name = "cluster-1"

    def __init__(self, labels: dict[str, str], configmaps: dict[str, dict[str, str]]) -> None:
        self.core = types.SimpleNamespace(
            read_namespace=lambda name: {"metadata": {"name": name, "labels": labels}},
            read_namespaced_config_map=lambda name, ns: self._cm(configmaps, name),
        )

    @staticmethod
    def _cm(configmaps: dict[str, dict[str, str]], name: str) -> dict:
        if name not in configmaps:
            raise errors.NotFound(f"GET configmap istio-system/{name}", "NotFound")
        return {"metadata": {"name": name}, "data": configmaps[name]}

    def read(self, what, fn, *args, **kwargs):
        return fn(*args, **kwargs)


def values(network: str) -> dict[str, str]:
    """ConfigMap istio-sidecar-injector-REV `values` as the 1.7 istio-discovery chart writes it."""
    doc = {"global": {"network": network, "meshID": "proj-1", "multiCluster": {"clusterName": "c1"}}}
    return {"config": "policy: enabled\n", "values": json.dumps(doc, indent=2)}


def test_the_istio_system_label_wins():
    c = Cluster({"topology.istio.io/network": "net-a"}, {f"istio-sidecar-injector-{REV}": values("net-b")})
    assert controlplane.network(c, REV) == "net-a"


def test_without_the_label_the_injector_values_name_the_network():
    """Istio before 1.10 (the guide's ASM 1.7) set networks with values.global.network only: two
    clusters on different networks that way were both read as '(unset)' and judged one network."""
    c = Cluster({}, {f"istio-sidecar-injector-{REV}": values("net-b")})
    assert controlplane.network(c, REV) == "net-b"
    default = Cluster({}, {"istio-sidecar-injector": values("net-c")})
    assert controlplane.network(default, "default") == "net-c"


def test_no_label_and_no_network_value_is_unset():
    assert controlplane.network(Cluster({}, {f"istio-sidecar-injector-{REV}": values("")}), REV) is None
    assert controlplane.network(Cluster({}, {}), REV) is None
    broken = Cluster({}, {f"istio-sidecar-injector-{REV}": {"values": "{not: [json"}})
    assert controlplane.network(broken, REV) is None
    odd = Cluster({}, {f"istio-sidecar-injector-{REV}": {"values": '{"global": "x"}'}})
    assert controlplane.network(odd, REV) is None  # not an AttributeError escaping as a traceback
