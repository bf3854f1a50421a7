"""Sample workloads: vK per cluster (cloned beyond v2), ownership labels, sleep or curl, pod facts."""

from __future__ import annotations

import json
from pathlib import Path

from meshconform.mesh import samples

UPSTREAM = Path("/work/shared/upstream-samples/samples")


def docs(samples_dir=None):
    hello, sleep = samples.sample_files(samples_dir)
    return samples.load_manifest(hello), samples.load_manifest(sleep)


def test_our_manifests_and_upstream_have_the_same_selection():
    for samples_dir in (None, UPSTREAM):
        hello, _ = docs(samples_dir)
        objs = samples.helloworld_objects(hello, "v2")
        assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
            ("Service", "helloworld"),
            ("Deployment", "helloworld-v2"),
        ]


def test_v3_is_cloned_from_v1():
    hello, _ = docs(UPSTREAM)
    dep = samples.helloworld_objects(hello, "v3")[1]
    assert dep["metadata"]["name"] == "helloworld-v3"
    assert dep["metadata"]["labels"]["version"] == "v3"
    assert dep["spec"]["selector"]["matchLabels"] == {"app": "helloworld", "version": "v3"}
    assert dep["spec"]["template"]["metadata"]["labels"]["version"] == "v3"
    assert {"name": "SERVICE_VERSION", "value": "v3"} in dep["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    assert (
        samples.helloworld_objects(hello, "v1")[1]["metadata"]["labels"]["version"] == "v1"
    )  # source unchanged


def test_every_object_and_pod_template_is_labelled_ours():
    hello, sleep = docs()
    objs = samples.label_objects(samples.helloworld_objects(hello, "v1") + sleep, "r123")
    for obj in objs:
        assert obj["metadata"]["labels"][samples.MANAGED_BY] == "meshconform"
        assert obj["metadata"]["labels"][samples.RUN_ID] == "r123"
        if obj["kind"] == "Deployment":
            assert obj["spec"]["template"]["metadata"]["labels"][samples.RUN_ID] == "r123"
    assert samples.MANAGED_BY not in (hello[0]["metadata"].get("labels") or {})  # input not mutated


def test_source_app_sleep_or_curl(tmp_path):
    _, sleep = docs(UPSTREAM)
    assert samples.source_app(sleep) == ("sleep", "sleep")
    curl = samples.load_manifest(UPSTREAM / "curl" / "curl.yaml")
    assert samples.source_app(curl) == ("curl", "curl")


def test_selectors_of_ours():
    assert (
        samples.ours_selector("r1") == "app.kubernetes.io/managed-by=meshconform,meshconform.io/run-id=r1"
    )
    assert samples.ours_selector() == "app.kubernetes.io/managed-by=meshconform,meshconform.io/run-id"


def pod(containers, ready=True, annotation=None, init=()):
    return {
        "metadata": {
            "name": "helloworld-v1-x",
            "labels": {"app": "helloworld", "version": "v1"},
            "annotations": {"sidecar.istio.io/status": annotation} if annotation else {},
        },
        "spec": {"containers": [{"name": c} for c in containers], "initContainers": list(init)},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": c, "ready": ready, "state": {"running": {}}} for c in containers],
        },
    }


def test_pod_fact_reads_injection():
    status = json.dumps(
        {"initContainers": ["istio-init"], "containers": ["istio-proxy"], "revision": "asm-173-3"}
    )
    fact = samples.pod_fact(pod(["helloworld", "istio-proxy"], annotation=status))
    assert fact.has_proxy and fact.ready and fact.ready_containers == 2 and fact.total_containers == 2
    assert fact.injected_revision == "asm-173-3" and fact.version == "v1"
    bare = samples.pod_fact(pod(["helloworld"]))
    assert not bare.has_proxy and bare.injected_revision is None


def test_pod_fact_native_sidecar():
    p = pod(["helloworld"], init=[{"name": "istio-proxy", "restartPolicy": "Always"}])
    p["status"]["initContainerStatuses"] = [
        {"name": "istio-proxy", "ready": True, "started": True, "state": {"running": {}}}
    ]
    fact = samples.pod_fact(p)
    assert fact.has_proxy and fact.total_containers == 2 and fact.ready_containers == 2


def test_version_for_cluster_index():
    assert [samples.version_for(i) for i in range(3)] == ["v1", "v2", "v3"]


def test_injected_revision_falls_back_to_the_pod_label():
    p = pod(["helloworld", "istio-proxy"], annotation='{"containers": ["istio-proxy"]}')
    p["metadata"]["labels"]["istio.io/rev"] = "asm-173-3"
    assert samples.pod_fact(p).injected_revision == "asm-173-3"
    bare = pod(["helloworld"])
    bare["metadata"]["labels"]["istio.io/rev"] = "asm-173-3"
    assert samples.pod_fact(bare).injected_revision is None


def test_the_run_deploys_a_strict_peer_authentication_labelled_ours():
    from meshconform.mesh.facts import ClusterFacts, MeshFacts
    from meshconform.run import pipeline
    from meshconform.run.config import RunConfig

    cfg = RunConfig(contexts=("ctx",), cluster_names=("c1",), run_id="r9")
    facts = MeshFacts("r9", "sample", {"c1": ClusterFacts("c1", "ctx", "https://x")})
    objs, _ = pipeline.sample_objects(cfg, facts)
    (pa,) = [o for o in objs["c1"] if o["kind"] == "PeerAuthentication"]
    assert pa["apiVersion"] == "security.istio.io/v1beta1" and pa["spec"] == {"mtls": {"mode": "STRICT"}}
    assert "selector" not in pa["spec"] and pa["metadata"]["labels"][samples.RUN_ID] == "r9"
