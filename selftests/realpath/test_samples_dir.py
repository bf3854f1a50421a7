"""`--samples-dir`: an Istio / ASM release's samples/ used as the guide does, unchanged.

The guide deploys `samples/helloworld/helloworld.yaml` by label (the Service with `-l
service=helloworld`, one `-l version=vN` per cluster) and `samples/sleep/sleep.yaml`; newer
releases renamed sleep to `samples/curl/curl.yaml`. Both layouts are tested with copies of the
upstream files that hold only one of them, then the upstream directory as it is for three clusters
(helloworld has v1 and v2 only, so v3 is cloned from v1). Each run keeps its objects (`--keep`) so
that what was deployed can be read back through the API.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from realpath_support import UPSTREAM_SAMPLES
from support import LabEnv, run_suite

pytestmark = [
    pytest.mark.selftest_slow,
    pytest.mark.skipif(not UPSTREAM_SAMPLES.is_dir(), reason=f"no upstream samples at {UPSTREAM_SAMPLES}"),
]
MANAGED = "app.kubernetes.io/managed-by=meshconform"


def samples_copy(tmp_path: Path, source: str) -> Path:
    """A samples/ directory with helloworld and only `source` (sleep or curl), files unchanged."""
    root = tmp_path / "samples"
    for rel in ("helloworld/helloworld.yaml", f"{source}/{source}.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(UPSTREAM_SAMPLES / rel, root / rel)
    return root


def deployed(env: LabEnv, i: int) -> dict[str, dict[str, str]]:
    """Deployment name -> pod template labels, of what the suite made in cluster i's `sample`."""
    deps = env.apps(i).list_namespaced_deployment("sample", label_selector=MANAGED).items
    return {d.metadata.name: dict(d.spec.template.metadata.labels) for d in deps}


def injected_revisions(env: LabEnv, i: int) -> set[str]:
    pods = env.core(i).list_namespaced_pod("sample", label_selector=MANAGED).items
    return {
        str(
            (yaml.safe_load(p.metadata.annotations.get("sidecar.istio.io/status", "{}")) or {}).get(
                "revision"
            )
        )
        for p in pods
    }


@pytest.mark.parametrize("source", ["curl", "sleep"])
def test_release_layout_passes_and_deploys_that_source(source: str, tmp_path: Path) -> None:
    samples = samples_copy(tmp_path, source)
    with LabEnv.start(tmp_path) as env:
        run = run_suite(tmp_path / "reports", *env.args(), f"--samples-dir={samples}", "--keep")
        assert run.returncode == 0, run.tail()
        assert run.healthy, run.messages
        for i, version in enumerate(("v1", "v2")):
            made = deployed(env, i)
            assert set(made) == {f"helloworld-{version}", source}, made
            assert made[f"helloworld-{version}"]["version"] == version
            # the release's Service and ServiceAccount came along, carrying our ownership labels
            services = {s.metadata.name for s in env.core(i).list_namespaced_service("sample").items}
            assert {"helloworld", source} <= services
            accounts = env.core(i).list_namespaced_service_account("sample", label_selector=MANAGED).items
            assert source in {a.metadata.name for a in accounts}
            assert injected_revisions(env, i) == {"asm-1285-9"}  # the lab's default
    assert run.summary["options"]["--samples-dir"] == str(samples)


def test_upstream_samples_for_three_clusters(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path, clusters=3) as env:
        run = run_suite(tmp_path / "reports", *env.args(), f"--samples-dir={UPSTREAM_SAMPLES}", "--keep")
        assert run.returncode == 0, run.tail()
        outcomes = run.outcomes
        assert run.healthy and len(outcomes) == 26 * 3 + 6 * 6, run.messages
        for i in range(3):
            made = deployed(env, i)
            # both layouts present: sleep, the guide's name, wins
            assert set(made) == {f"helloworld-v{i + 1}", "sleep"}, made
    matrix = run.summary["traffic_matrix"]
    for source in ("cluster-1", "cluster-2", "cluster-3"):
        assert set(matrix["sources"][source]["counts"]) == {"v1", "v2", "v3"}, matrix["sources"][source]


@pytest.mark.parametrize(
    ("files", "missing"),
    [
        (["helloworld/helloworld.yaml"], "sleep/sleep.yaml (or curl/curl.yaml)"),
        (["curl/curl.yaml"], "helloworld/helloworld.yaml"),
    ],
)
def test_incomplete_samples_dir_is_a_usage_error(files: list[str], missing: str, tmp_path: Path) -> None:
    root = tmp_path / "samples"
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(UPSTREAM_SAMPLES / rel, root / rel)
    run = run_suite(tmp_path / "reports", "--lab", f"--samples-dir={root}")
    assert run.returncode == 4, run.tail()
    assert "--samples-dir" in run.stderr and missing in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
