"""Synthetic runs of any size for the report's self-tests: facts and outcomes without a lab.

The report must read at 20 clusters, and a lab run of that size takes minutes; the layout only
needs what the report is fed. `mesh_facts(n)` builds the facts of an n-cluster mesh (vK in the
K-th cluster, one ready replica each, every source's calls spread evenly, some (source, version)
pairs never reached), `outcomes` the check entries a run would record. `write_project` writes a
small pytest project whose tests carry the suite's check names and targets and fail as asked, and
whose conftest feeds the suite's own bookkeeping (fixtures.reporting.record, shown) and page
(meshconform.report.html.summary_page) to pytest-html, so that the page a browser opens is a real
pytest-html report with a real results row behind every link.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from support import ROOT, suite_env

from meshconform.checks import all_checks
from meshconform.mesh.facts import ClusterFacts, ControlPlane, IstiodPod, MeshFacts, PodFact, Tally, Workloads
from meshconform.report import summary

REV = "asm-1285-9"
CALLS = 400  # per source: enough for every one of 20 versions to get about 20


def names(n: int) -> list[str]:
    return [f"cluster-{i}" for i in range(1, n + 1)]


def _cluster(i: int, name: str) -> ClusterFacts:
    version = f"v{i}"
    pods = [PodFact(f"helloworld-{version}-x", "helloworld", version, "Running", True, 2, 2, True, REV)]
    istiod = [IstiodPod(f"istiod-{i}", REV, True, "Running", "pilot:1.28.5", "1.28.5-asm.9", name)]
    return ClusterFacts(
        name,
        f"gke_meshconform-lab_us-central1-a_{name}",
        f"https://127.0.0.1:{40000 + i}",
        control=ControlPlane(istiod=istiod, revisions=[REV], root_ca="AB:CD", trust_domain="cluster.local"),
        workloads=Workloads("sample", {}, {}, version, 1, pods, f"sleep-{i}", "sleep"),
    )


def mesh_facts(n: int, missed: Iterable[tuple[str, str]] = ()) -> MeshFacts:
    """n clusters; each source's CALLS spread evenly over the versions but those in `missed`
    ((source, version) pairs), whose share the source's other versions take."""
    facts = MeshFacts(run_id="synthetic", namespace="sample", revision=REV)
    for i, name in enumerate(names(n), 1):
        facts.clusters[name] = _cluster(i, name)
    gaps = set(missed)
    for source in names(n):
        reached = [f"v{i}" for i in range(1, n + 1) if (source, f"v{i}") not in gaps]
        by_version = {
            v: CALLS // len(reached) + (1 if k < CALLS % len(reached) else 0) for k, v in enumerate(reached)
        }
        facts.traffic[source] = Tally(source, CALLS, {"200": CALLS}, by_version)
    return facts


def targets(n: int, scope: str) -> list[str]:
    if scope == "cluster":
        return names(n)
    return [f"{a}->{b}" for a in names(n) for b in names(n) if a != b]


def outcomes(
    n: int, failing: dict[str, set[str]], skipped: dict[str, set[str]] | None = None
) -> dict[str, Any]:
    """Every check id of an n-cluster run -> its summary entry; `failing`/`skipped`: check -> targets."""
    skipped = skipped or {}
    out: dict[str, Any] = {}
    for name, chk in all_checks().items():
        for target in targets(n, chk.scope):
            cid = chk.id(target)
            outcome = "failed" if target in failing.get(name, ()) else "passed"
            outcome = "skipped" if target in skipped.get(name, ()) else outcome
            message = f"{cid}: synthetic failure" if outcome == "failed" else ""
            out[cid] = summary.check_entry(cid, outcome, message)
    return out


TEST_FILE = '''"""Synthetic checks: named and targeted as the suite's, failing as the plan says."""
import json, pathlib, pytest
PLAN = json.loads((pathlib.Path(__file__).parent / "plan.json").read_text())

def judge(name, target):
    if target in PLAN["failing"].get(name, []):
        pytest.fail(f"{name}[{target}]: synthetic failure", pytrace=False)
'''
TEST_FUNCTION = """
@pytest.mark.parametrize("target", PLAN["targets"][{name!r}], ids=str)
def {name}(target):
    judge({name!r}, target)
"""
CONFTEST = """
from fixtures.reporting import record, shown
from meshconform.report import html
import json, pathlib, synthetic
PLAN = json.loads((pathlib.Path(__file__).parent / "tests" / "plan.json").read_text())
RESULTS = {}

def pytest_runtest_logreport(report):
    record(RESULTS, report)

def pytest_html_results_summary(prefix, session):
    facts = synthetic.mesh_facts(PLAN["n"], [tuple(p) for p in PLAN["missed"]])
    prefix.append(html.summary_page(shown(RESULTS), facts, int(session.exitstatus), None))
"""


def write_project(
    root: Path, n: int, failing: dict[str, set[str]], missed: Iterable[tuple[str, str]] = ()
) -> Path:
    """A pytest project under `root` whose run writes a synthetic report of n clusters."""
    tests = root / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    checks = all_checks()
    plan = {
        "n": n,
        "failing": {k: sorted(v) for k, v in failing.items()},
        "missed": sorted(missed),
        "targets": {name: targets(n, chk.scope) for name, chk in checks.items()},
    }
    (tests / "plan.json").write_text(json.dumps(plan))
    (tests / "test_synthetic.py").write_text(
        TEST_FILE + "".join(TEST_FUNCTION.format(name=c) for c in checks)
    )
    (root / "conftest.py").write_text(CONFTEST)
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def run_project(root: Path) -> Path:
    """Run it with pytest-html (self-contained) and return report.html."""
    report = root / "report.html"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:meshconform_options"]
    command += [f"--html={report}", "--self-contained-html", "tests"]
    path = f"{ROOT}{':'}{Path(__file__).parent}{':'}{ROOT / 'selftests'}"
    env = {**suite_env(), "PYTHONPATH": path}
    done = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert report.exists(), f"exit {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return report
