"""Bad input ends the run before any test: exit 4 (pytest's usage error), one line, no traceback.

Each case is typed as a user would type it (`python -m pytest --kubeconfig=... --ctx ...` or
`--lab ...`) against a lab started here, and the whole output is held to the promise: exactly one
`ERROR:` line naming the problem, nothing else printed, no "Traceback", and nothing created in
any cluster. The parsers behind the option values have unit tests (selftests/unit/test_config.py,
test_preflight.py); this battery proves the same refusals reach a user as exit code 4 and one line.

One input is not a usage error, by design (DESIGN.md, the reach check): an API server whose TLS
certificate the kubeconfig's CA does not verify. It is reached and it is the cluster's, so the
check "each context's API server answers with its credentials" fails for that cluster (exit 1),
with one line that says so; everything that needs the cluster is skipped, nothing is left behind.
Rejected credentials (401) are refused before any test (exit 4), as the issue asks.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from safety_support import REFUSAL_SECONDS, assert_nothing_labelled, run_suite
from support import ROOT, LabEnv, Run, eventually

USAGE_ERROR = 4
# kube.py logs each retried attempt (STYLE.md pattern 8); preflight gives a silent server two.
RETRY_NOTE = re.compile(r" attempt \d+/\d+ failed \(.*\); will retry in [0-9.]+s$")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path_factory.mktemp("bad-input")) as target:
        yield target


def assert_refused(run: Run, *fragments: str) -> str:
    """Exit 4 and the whole output is one ERROR line holding every fragment."""
    __tracebackhide__ = True
    assert "Traceback" not in run.output, run.tail()
    assert run.returncode == USAGE_ERROR, run.tail()
    lines = [line for line in run.output.splitlines() if line.strip() and not RETRY_NOTE.search(line)]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), f"expected one ERROR line:\n{run.tail()}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


# -- option values and combinations --------------------------------------------------------------


OPTION_CASES = [  # (id, arguments, fragments of the one ERROR line)
    ("requests-0", ["--lab", "--requests=0"], ["--requests '0'", ">= 1"]),
    ("requests-negative", ["--lab", "--requests=-5"], ["--requests '-5'", ">= 1"]),
    ("requests-abc", ["--lab", "--requests=abc"], ["--requests 'abc'", "not a number"]),
    ("lab-clusters-0", ["--lab", "--lab-clusters=0"], ["--lab-clusters '0'", "2 to 20"]),
    ("lab-clusters-1", ["--lab", "--lab-clusters=1"], ["--lab-clusters '1'", "2 to 20"]),
    ("lab-clusters-21", ["--lab", "--lab-clusters=21"], ["--lab-clusters '21'", "2 to 20"]),
    ("lab-clusters-99", ["--lab", "--lab-clusters=99"], ["--lab-clusters '99'", "2 to 20"]),
    ("lab-clusters-word", ["--lab", "--lab-clusters=many"], ["--lab-clusters 'many'", "not a number"]),
    ("ctx-21", [f"--ctx=c{i}" for i in range(1, 22)], ["21 contexts given", "2 to 20"]),
    ("ctx-one", ["--ctx1=only"], ["one context given (only)", "--ctx2"]),
    ("lab-latency-negative", ["--lab", "--lab-latency=-5"], ["--lab-latency '-5'", "0 to 5000 milliseconds"]),
    ("lab-latency-words", ["--lab", "--lab-latency=fast"], ["--lab-latency 'fast'", "milliseconds"]),
    ("ready-timeout-negative", ["--lab", "--ready-timeout=-1"], ["--ready-timeout '-1'", "> 0"]),
    ("ready-timeout-word", ["--lab", "--ready-timeout=soon"], ["--ready-timeout 'soon'"]),
    ("namespace-invalid", ["--lab", "--namespace=Sample_NS"], ["--namespace 'Sample_NS'", "not a valid"]),
    ("namespace-too-long", ["--lab", "--namespace=" + "n" * 64], ["at most 63"]),
    ("lab-fault-unknown", ["--lab", "--lab-fault=nope"], ["unknown lab fault 'nope'", "known:"]),
    ("lab-fault-no-such-cluster", ["--lab", "--lab-fault=api-down:cluster-9"], ["cluster-9"]),
    ("lab-model-unknown", ["--lab", "--lab-model=primary"],
     ["--lab-model 'primary' is not one of: multi-primary, primary-remote"]),
    ("lab-model-managed-primary",
     ["--lab", "--lab-model=primary-remote", "--lab-control-plane=managed-istiod"],
     ["lab model primary-remote: every primary runs its own istiod"]),
    ("lab-with-ctx", ["--lab", "--ctx=gke_p_z_c1"], ["--lab brings its own clusters", "drop --ctx"]),
    ("no-clusters", [], ["no clusters given", "--ctx1", "--lab"]),
    ("join-mode-unknown", ["--lab", "--join=overwrite"], ["--join 'overwrite'", "create, verify, replace"]),
    ("cluster-name-unknown-context", ["--ctx=a", "--ctx=b", "--cluster-name=c=east"],
     ["--cluster-name", "'c'", "not one of --ctx"]),
    ("api-server-http", ["--lab", "--api-server=x=http://10.0.0.1"], ["not an https:// URL"]),
    ("report-dir-under-a-file", ["--lab", "--report-dir=pyproject.toml/reports"],
     ["--report-dir", "pyproject.toml is a file, not a directory"]),
    ("lab-revision-invalid", ["--lab", "--lab-revisions=Bad_Rev"], ["'Bad_Rev' is not a valid revision"]),
    ("revision-not-installed", ["--lab", "--revision=asm-999"], ["--revision asm-999 has no istiod"]),
    ("revision-invalid", ["--lab", "--revision=cluster-1=Bad_Rev"], ["'Bad_Rev' is not a revision name"]),
    ("revision-twice", ["--lab", "--revision=asm-1285-9", "--revision=asm-173-3"],
     ["--revision is given twice"]),
    ("revision-unknown-cluster", ["--lab", "--revision=cluster-9=asm-1285-9"],
     ["'cluster-9' is neither a context nor a cluster name"]),
    ("revision-not-in-that-cluster", ["--lab", "--revision=cluster-2=asm-999"],
     ["cluster-2 has no istiod of revision asm-999 nor a revision tag"]),
    ("revision-not-in-that-remote",
     ["--lab", "--lab-model=primary-remote", "--revision=cluster-2=asm-999"],
     ["cluster-2 has no istiod of revision asm-999",
      "a remote (no istiod) whose injector webhook serves asm-1285-9"]),
    ("lab-tag-unknown-revision", ["--lab", "--lab-tags=prod-stable=asm-999"],
     ["no cluster there runs revision"]),
    ("target-version-patch", ["--lab", "--target-version=1.29.1"],
     ["--target-version '1.29.1' is not a release's MAJOR.MINOR", "1.29"]),
    ("target-version-word", ["--lab", "--target-version=latest"], ["--target-version 'latest'"]),
    ("lab-revisions-unknown-cluster", ["--lab", "--lab-revisions=cluster-9=asm-1285-9"], ["no such cluster"]),
]
if shutil.which("istioctl") is None:
    OPTION_CASES.append(("istioctl-missing", ["--lab", "--join-with=istioctl"], ["needs istioctl on PATH"]))


@pytest.mark.parametrize(("args", "fragments"), [pytest.param(a, f, id=i) for i, a, f in OPTION_CASES])
def test_bad_option_is_one_line(args: list[str], fragments: list[str], tmp_path: Path) -> None:
    assert_refused(run_suite(tmp_path / "reports", *args, timeout=REFUSAL_SECONDS), *fragments)


@pytest.mark.parametrize(
    ("layout", "fragment"),
    [
        ("dangling-link", "is a broken symbolic link"),
        ("under-a-dangling-link", "is a broken symbolic link"),
        ("report.html-is-a-directory", "report.html is a directory"),
        ("summary.json-is-a-directory", "summary.json is a directory"),
    ],
)
def test_report_dir_that_cannot_hold_the_reports_is_one_line(
    layout: str, fragment: str, tmp_path: Path
) -> None:
    """Found before the run, not as pytest-html's INTERNALERROR (exit 3) or a traceback after the
    clean-up that hides its summary line (exit 1)."""
    reports = tmp_path / "reports"
    if "dangling" in layout:
        reports.symlink_to(tmp_path / "gone" / "reports")
    else:
        (reports / layout.split("-is-")[0]).mkdir(parents=True)
    target = reports / "sub" if layout.startswith("under") else reports
    run = run_suite(tmp_path / "unused", "--lab", f"--report-dir={target}", timeout=REFUSAL_SECONDS)
    assert_refused(run, "--report-dir", fragment)


@pytest.mark.parametrize("layout", ["empty", "no-sleep"])
def test_samples_dir_without_the_samples_is_one_line(layout: str, tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    (samples / "helloworld").mkdir(parents=True)
    if layout == "no-sleep":
        (samples / "helloworld" / "helloworld.yaml").write_text("kind: Service\n")
    run = run_suite(tmp_path / "reports", "--lab", f"--samples-dir={samples}", timeout=REFUSAL_SECONDS)
    line = assert_refused(run, "--samples-dir", "sleep/sleep.yaml (or curl/curl.yaml)")
    assert ("helloworld/helloworld.yaml" in line) == (layout == "empty"), line


@pytest.mark.parametrize(
    ("hello", "sleep", "fragments"),
    [
        pytest.param("kind: [\n", None, ["helloworld/helloworld.yaml is unusable", "line 2"],
                     id="hello-not-yaml"),
        pytest.param("kind: Service\nmetadata: {name: helloworld, labels: {app: helloworld}}\n", None,
                     ["no Deployment labelled app=helloworld,version=v1"], id="hello-without-v1"),
        pytest.param(None, "kind: Deployment\nmetadata: {name: sleep}\n", ["sleep/sleep.yaml is unusable"],
                     id="sleep-without-spec"),
    ],
)
def test_samples_dir_with_unusable_manifests_is_one_line(
    hello: str | None, sleep: str | None, fragments: list[str], tmp_path: Path
) -> None:
    samples = tmp_path / "samples"
    for name, text in (("helloworld", hello), ("sleep", sleep)):
        (samples / name).mkdir(parents=True)
        shipped = ROOT / "manifests" / f"{name}.yaml"
        (samples / name / f"{name}.yaml").write_text(text if text is not None else shipped.read_text())
    run = run_suite(tmp_path / "reports", "--lab", f"--samples-dir={samples}", timeout=REFUSAL_SECONDS)
    assert_refused(run, f"--samples-dir {samples}: ", *fragments)


# -- kubeconfig and contexts ----------------------------------------------------------------------


def kubeconfig_doc(lab: LabEnv) -> dict:
    return yaml.safe_load(lab.kubeconfig.read_text())


def write_doc(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class KubeconfigCase:
    id: str
    make: Callable[[LabEnv, Path], tuple[list[str], dict[str, str]]]  # -> (suite args, extra env)
    fragments: tuple[str, ...]


def _unknown_context(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    return lab.args(lab.contexts[0], "gke_nope_us-central1-a_cluster-9"), {}


def _same_context_twice(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    return lab.args(lab.contexts[0], lab.contexts[0]), {}


def _alias(lab: LabEnv, tmp: Path, host: str) -> tuple[list[str], dict[str, str]]:
    """A third context `alias` for cluster-1's API server, reached as `host`."""
    doc = kubeconfig_doc(lab)
    cluster = copy.deepcopy(doc["clusters"][0])
    cluster["name"] = "alias"
    cluster["cluster"]["server"] = cluster["cluster"]["server"].replace("127.0.0.1", host)
    doc["clusters"].append(cluster)
    doc["contexts"].append({"name": "alias", "context": dict(doc["contexts"][0]["context"], cluster="alias")})
    path = write_doc(tmp / "kubeconfig", doc)
    return [f"--kubeconfig={path}", f"--ctx={lab.contexts[0]}", "--ctx=alias"], {}


def _missing(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    return [f"--kubeconfig={tmp / 'no-such-kubeconfig'}", *lab.args()[1:]], {}


def _directory(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    return [f"--kubeconfig={tmp}", *lab.args()[1:]], {}


def _unreadable(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    path = tmp / "kubeconfig"
    path.write_text(lab.kubeconfig.read_text())
    path.chmod(0)
    return [f"--kubeconfig={path}", *lab.args()[1:]], {}


def _malformed(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    path = tmp / "kubeconfig"
    path.write_text("apiVersion: v1\nclusters: [this is: not, a kubeconfig\n")
    return [f"--kubeconfig={path}", *lab.args()[1:]], {}


def _not_a_kubeconfig(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    return [f"--kubeconfig={write_doc(tmp / 'kubeconfig', ['a', 'list'])}", *lab.args()[1:]], {}


def _malformed_env(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    path = tmp / "kubeconfig"
    path.write_text("contexts: [[[\n")
    return [f"--ctx={c}" for c in lab.contexts], {"KUBECONFIG": str(path)}


def _context_without_cluster(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    doc = kubeconfig_doc(lab)
    doc["contexts"][1]["context"]["cluster"] = "deleted-cluster"
    return [f"--kubeconfig={write_doc(tmp / 'kubeconfig', doc)}", *lab.args()[1:]], {}


def _user_without_name(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
    doc = kubeconfig_doc(lab)
    del doc["users"][1]["name"]  # the client's merger raised a bare KeyError: exit 3, INTERNALERROR
    return [f"--kubeconfig={write_doc(tmp / 'kubeconfig', doc)}", *lab.args()[1:]], {}


def _exec_plugin(command: str) -> Callable[[LabEnv, Path], tuple[list[str], dict[str, str]]]:
    """cluster-2's user gets its token from an exec plugin, as GKE's gke-gcloud-auth-plugin does."""

    def make(lab: LabEnv, tmp: Path) -> tuple[list[str], dict[str, str]]:
        doc = kubeconfig_doc(lab)
        user = doc["users"][1]["user"]
        del user["token"]
        user["exec"] = {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": command,
            "installHint": "Install the credential plugin",
            "provideClusterInfo": True,
        }
        return [f"--kubeconfig={write_doc(tmp / 'kubeconfig', doc)}", *lab.args()[1:]], {}

    return make


KUBECONFIG_CASES = [
    KubeconfigCase("unknown-context", _unknown_context,
                   ("context 'gke_nope_us-central1-a_cluster-9' is not in the kubeconfig", "known: gke_")),
    KubeconfigCase("same-context-twice", _same_context_twice, ("is given twice",)),
    KubeconfigCase("one-server-two-contexts", lambda lab, tmp: _alias(lab, tmp, "127.0.0.1"),
                   ("reach the same API server https://127.0.0.1:", "give each cluster once")),
    KubeconfigCase("one-cluster-two-addresses", lambda lab, tmp: _alias(lab, tmp, "localhost"),
                   ("reach the same cluster (kube-system uid", "give each cluster once")),
    KubeconfigCase("kubeconfig-missing", _missing, ("no-such-kubeconfig' is not a readable file",)),
    KubeconfigCase("kubeconfig-is-a-directory", _directory, ("is not a readable file",)),
    KubeconfigCase("kubeconfig-malformed", _malformed, ("cannot read", "kubeconfig")),
    KubeconfigCase("kubeconfig-not-a-mapping", _not_a_kubeconfig, ("cannot read", "kubeconfig")),
    KubeconfigCase("KUBECONFIG-malformed", _malformed_env, ("cannot read the kubeconfig (KUBECONFIG",)),
    KubeconfigCase("user-without-name", _user_without_name, ("cannot read", "an entry has no 'name' field")),
    KubeconfigCase("context-names-missing-cluster", _context_without_cluster,
                   ("cannot load context", "deleted-cluster")),
    KubeconfigCase("exec-plugin-missing", _exec_plugin("no-such-auth-plugin"),
                   ("cannot get credentials for context 'gke_meshconform-lab_us-east1-b_cluster-2'",
                    "no-such-auth-plugin")),
    KubeconfigCase("exec-plugin-fails", _exec_plugin("false"),
                   ("cannot get credentials for context 'gke_meshconform-lab_us-east1-b_cluster-2'",
                    "gcloud auth login")),
]
KUBECONFIG_PARAMS = [pytest.param(c, id=c.id) for c in KUBECONFIG_CASES] + [
    pytest.param(
        KubeconfigCase("kubeconfig-unreadable", _unreadable, ("is not a readable file",)),
        id="kubeconfig-unreadable",
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file: see -missing"),
    )
]


@pytest.mark.parametrize("case", KUBECONFIG_PARAMS)
def test_bad_kubeconfig_or_context_is_one_line(case: KubeconfigCase, lab: LabEnv, tmp_path: Path) -> None:
    args, env = case.make(lab, tmp_path)
    run = run_suite(tmp_path / "reports", *args, timeout=REFUSAL_SECONDS, env=env)
    assert_refused(run, *case.fragments)
    assert lab.kubeconfig.read_text() not in run.output


# -- servers that do not answer -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mute_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a wedged API server or proxy)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def _server_at(lab: LabEnv, tmp: Path, port: int) -> list[str]:
    doc = kubeconfig_doc(lab)
    doc["clusters"][1]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    return [f"--kubeconfig={write_doc(tmp / 'kubeconfig', doc)}", *lab.args()[1:]]


def test_closed_port_is_refused_at_once_with_address_and_timeout(lab: LabEnv, tmp_path: Path) -> None:
    port = _closed_port()
    run = run_suite(tmp_path / "reports", *_server_at(lab, tmp_path, port), timeout=REFUSAL_SECONDS)
    assert_refused(run, f"context '{lab.contexts[1]}'", f"https://127.0.0.1:{port}", "within 5s", "refused")
    assert run.seconds < 30, f"a refused connection took {run.seconds:.0f}s to report (imports take ~3s)"
    assert_nothing_labelled(lab)


def test_server_that_never_answers_is_refused_with_address_and_timeout(
    lab: LabEnv, mute_server: int, tmp_path: Path
) -> None:
    """TCP is accepted, TLS never completes: refused within a couple of connect timeouts, not after
    every later call has waited out its own (that took over a minute)."""
    run = run_suite(tmp_path / "reports", *_server_at(lab, tmp_path, mute_server), timeout=REFUSAL_SECONDS)
    assert_refused(run, f"https://127.0.0.1:{mute_server}", "did not answer within 5s")
    assert run.seconds < 40, run.tail()
    assert_nothing_labelled(lab)


# -- a certificate the kubeconfig's CA does not verify: not a usage error ------------------------


def _reach_fails(run: Run, lab: LabEnv, *fragments: str) -> None:
    __tracebackhide__ = True
    assert "Traceback" not in run.output, run.tail()
    assert run.returncode == 1, run.tail()
    failed = [line for line in run.output.splitlines() if line.startswith("FAILED ")]
    assert failed == [failed[0]] and "test_api_server_answers[cluster-2]" in failed[0], run.tail()
    message = [line for line in run.output.splitlines() if line.startswith("the API server of cluster-2")]
    assert len(message) == 1, run.tail()
    for fragment in fragments:
        assert fragment in message[0], message[0]
    assert_nothing_labelled(lab)


def test_rejected_credentials_are_one_line(lab: LabEnv, tmp_path: Path) -> None:
    doc = kubeconfig_doc(lab)
    real = doc["users"][1]["user"]["token"]
    doc["users"][1]["user"]["token"] = wrong = "expired-" + real[::-1]
    path = write_doc(tmp_path / "kubeconfig", doc)
    run = run_suite(tmp_path / "reports", f"--kubeconfig={path}", *lab.args()[1:], timeout=REFUSAL_SECONDS)
    assert_refused(run, f"context '{lab.contexts[1]}'", "rejects its credentials", "401 Unauthorized")
    assert real not in run.output and wrong not in run.output
    assert_nothing_labelled(lab)


def test_wrong_ca_fails_the_reach_check_in_one_line(lab: LabEnv, tmp_path: Path) -> None:
    doc = kubeconfig_doc(lab)
    doc["clusters"][1]["cluster"]["certificate-authority-data"] = doc["clusters"][0]["cluster"][
        "certificate-authority-data"
    ]
    path = write_doc(tmp_path / "kubeconfig", doc)
    run = run_suite(tmp_path / "reports", f"--kubeconfig={path}", *lab.args()[1:], "--ready-timeout=10")
    _reach_fails(run, lab, "CERTIFICATE_VERIFY_FAILED")


# -- a mesh that is not there ---------------------------------------------------------------------


def _remove_istiod(lab: LabEnv, context: str) -> None:
    from kubernetes import client

    apps, core = client.AppsV1Api(lab.api(context)), lab.core(context)
    istiod = "app=istiod"
    for dep in apps.list_namespaced_deployment("istio-system", label_selector=istiod).items:
        apps.delete_namespaced_deployment(dep.metadata.name, "istio-system", propagation_policy="Foreground")
    eventually(
        lambda: not core.list_namespaced_pod("istio-system", label_selector=istiod).items,
        10,
        lambda: "istiod pods outlived their deployment",
    )


def test_no_istiod_anywhere_is_one_line(tmp_path: Path) -> None:
    with LabEnv.start(tmp_path) as lab:
        for context in lab.contexts:
            _remove_istiod(lab, context)
        run = run_suite(tmp_path / "reports", *lab.args(), timeout=REFUSAL_SECONDS)
        assert_refused(run, "no istiod found", "in any cluster", "install Istio / ASM first")
        assert_nothing_labelled(lab)
