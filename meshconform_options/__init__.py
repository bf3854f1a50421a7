"""The suite's command-line options (the names scripts rely on), as a pytest plugin pytest loads early.

Why a separate, installed plugin: options that only a conftest.py declares are unknown until
pytest has read its command line once, chosen its rootdir and loaded that conftest, so
`--samples-dir DIR` (separate form) with a path outside the project failed with "unrecognized
arguments". `pip install -e .` registers this package as a `pytest11` entry point
(pyproject.toml), which pytest loads before any conftest; `rootdir.repair` then undoes the rootdir
pytest had guessed from such a value. conftest.py lists this package too, under the same name:
pytest registers a plugin name once, so that only matters in a checkout that was never installed
(there, path options need the `--opt=VALUE` form).

Every pytest run in the venv loads this package, so it declares options and one ini key and
nothing else, and each option also answers to `--mc-NAME`: a plain name that another plugin or a
conftest declares too is theirs, in any order of loading (coexist.py), so installing the suite
never breaks another pytest run. No fixtures, no lab, no checks of how options combine (fixtures/
does all that, in the suite's own runs). `rootdir.repair` acts only when one of these options is
written apart from its value (`--report-dir DIR`); `refusals` only when pytest's parser refuses
the command line of a run of the suite's own tests, which then still leaves its three reports.

Every value option has a `type=` that turns a value the library's parsers refuse (ConfigError) into
an `Invalid` holding the one line that names the option, the value and what is allowed; the run
ends with that line and exit code 4 in pytest_configure, as pytest-xdist's own option parsing does.
Refused there rather than while pytest parses the command line, so that the suite's own run
(fixtures/plugin.py, whose pytest_configure runs first) can still write junit.xml, summary.json
and report.html saying why: a nightly job must show a red result, not "no test results".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from meshconform.run import config as mc

from . import coexist, refusals, rootdir

GROUP = "meshconform"
VALUE_OPTIONS: set[str] = set()  # the option strings that take a value, filled as they are declared
DECLARED: dict[str, str] = {}  # dest -> the option's name, in the order declared
LAB_MODELS = ("multi-primary", "primary-remote")  # the lab's LabOptions.model values


@dataclass(frozen=True)
class Invalid:
    """A value an option's parser refused; the line says which option, what value, what is allowed."""

    value: str
    message: str

    def __str__(self) -> str:
        return self.value


def _usage(parse: Callable[..., Any], option: str, *extra: Any) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        try:
            return parse(option, value, *extra)
        except mc.ConfigError as exc:
            return Invalid(value, str(exc))

    convert.__name__ = option.lstrip("-").replace("-", "_")
    return convert


def _revisions(option: str, value: str) -> str:
    """REV[,REV] or CLUSTER=REV[,REV], kept as typed (the lab parses it, and names what is wrong)."""
    cluster, sep, specs = value.rpartition("=")
    if (sep and not cluster) or not any(r.strip() for r in specs.split(",")):
        raise mc.ConfigError(
            f"{option} {value!r} names no revision; e.g. {option} asm-173-3,asm-181-5 or "
            f"{option} cluster-1=asm-1285-9"
        )
    return value


def _tag(option: str, value: str) -> str:
    tag, sep, rev = value.partition("=")
    if not (sep and tag and rev):
        raise mc.ConfigError(
            f"{option} {value!r} must look like TAG=REV[:CLUSTER], e.g. {option} prod-stable=asm-1285-9"
        )
    return value


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    coexist.yield_later(parser, DECLARED, VALUE_OPTIONS.discard)
    refusals.watch(parser, pluginmanager)
    group = parser.getgroup(GROUP, "multi-cluster mesh conformance")
    _clusters(group)
    _run(group)
    _lab(group)
    parser.addini("meshconform_curl_batch", "hello calls per curl (0: all in one exec)", default="0")


def invalid(config: pytest.Config) -> Invalid | None:
    """The first refused value, in the order the options are declared (None: all are usable)."""
    for dest in DECLARED:
        value = getattr(config.option, dest, None)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Invalid):
                return item
    return None


def given(config: pytest.Config) -> dict[str, Any]:
    """The options this run was given or defaulted to, by name (a refused value as it was typed)."""
    out: dict[str, Any] = {}
    for dest, name in DECLARED.items():
        value = getattr(config.option, dest, None)
        if value in (None, [], False):
            continue
        if isinstance(value, list):  # CTX=NAME pairs, repeated values
            out[name] = ["=".join(v) if isinstance(v, tuple) else _shown(v) for v in value]
        else:
            out[name] = ",".join(value) if isinstance(value, tuple) else _shown(value)
    return out


def _shown(value: Any) -> Any:
    return value if isinstance(value, bool | int | float) else str(value)


def not_ours(config: pytest.Config) -> str | None:
    """For the suite's own runs: the refusal of a plain name it used that another plugin owns
    here (the value went to that plugin, not to the suite), else None."""
    taken = coexist.used(config.invocation_params.args)
    if taken is None:
        return None
    return (
        f"{taken} is declared by another pytest plugin or conftest in this environment, so it is "
        f"not the suite's here; write {coexist.alias(taken)}"
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """In every other pytest run (the suite's own refuses earlier, after writing its reports)."""
    bad = invalid(config)
    if bad is not None:
        raise pytest.UsageError(bad.message)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    try:
        rootdir.repair(early_config, parser, args, VALUE_OPTIONS)
    except pytest.UsageError as exc:  # about one of our options: the suite's run, refused
        refusals.write(early_config, str(exc))
        raise


def _adder(group: Any) -> Callable[..., None]:
    def add(name: str, **attrs: Any) -> None:
        names = coexist.free_names(group.parser, [name])
        if attrs.get("action", "store") in ("store", "append"):
            VALUE_OPTIONS.update(names)
        DECLARED[attrs["dest"]] = name
        group.addoption(*names, **attrs)

    return add


def _clusters(group: Any) -> None:
    add = _adder(group)
    add("--ctx1", dest="mc_ctx1", metavar="CTX", help="kube context of the cluster already in the mesh.")
    add("--ctx2", dest="mc_ctx2", metavar="CTX", help="kube context of the cluster being added.")
    add("--ctx", dest="mc_ctx", action="append", default=[], metavar="CTX",
        help="kube context of one more cluster (repeatable; 2 to 20 clusters in all).")
    add("--kubeconfig", dest="mc_kubeconfig", metavar="PATH",
        help="kubeconfig file (default: KUBECONFIG, then ~/.kube/config).")
    add("--cluster-name", dest="mc_cluster_name", action="append", default=[], metavar="CTX=NAME",
        type=_usage(mc.parse_cluster_name, "--cluster-name"),
        help="cluster name for a context (default: NAME of gke_PROJECT_LOCATION_NAME, else the context).")
    add("--api-server", dest="mc_api_server", action="append", default=[], metavar="CTX=URL",
        type=_usage(mc.parse_api_server, "--api-server"),
        help="API server URL to write into remote secrets for a context (default: the kubeconfig's).")
    add("--revision", dest="mc_revision", action="append", default=[], metavar="[CTX=]REV",
        type=_usage(mc.parse_revision, "--revision"),
        help="istiod revision or revision tag to check, in every cluster or (CTX=REV, repeatable) in one "
        "(default: the one each cluster runs).")


def _run(group: Any) -> None:
    add = _adder(group)
    add("--join", dest="mc_join", default="create", metavar="MODE",
        type=_usage(mc.parse_choice, "--join", mc.JOIN_MODES),
        help="create: make missing remote secrets, never overwrite; verify: write nothing in istio-system; "
        "replace: recreate ours (default: create).")
    add("--join-with", dest="mc_join_with", default="native", metavar="HOW",
        type=_usage(mc.parse_choice, "--join-with", mc.JOIN_WITH),
        help="build remote secrets natively or with istioctl x create-remote-secret (default: native).")
    add("--namespace", dest="mc_namespace", default="sample", metavar="NAME",
        type=_usage(mc.parse_namespace, "--namespace"),
        help="namespace for the sample workloads (default: sample).")
    add("--requests", dest="mc_requests", default=mc.REQUESTS_DEFAULT, metavar="N",
        type=_usage(mc.parse_positive_int, "--requests"),
        help="hello calls per source cluster at least; more are sent when the smallest replica share "
        "needs more to be judged (default: 50).")
    add("--samples-dir", dest="mc_samples_dir", metavar="DIR",
        type=_usage(mc.parse_samples_dir, "--samples-dir"),
        help="an Istio/ASM release's samples/ directory (default: our manifests/).")
    add("--ready-timeout", dest="mc_ready_timeout", metavar="SECONDS",
        type=_usage(mc.parse_seconds, "--ready-timeout"),
        help=f"deadline of every wait (default: {mc.READY_TIMEOUT_DEFAULT:.0f}, "
        f"{mc.LAB_READY_TIMEOUT_DEFAULT:.0f} with --lab).")
    add("--report-dir", dest="mc_report_dir", default="reports", metavar="DIR",
        type=_usage(mc.parse_report_dir, "--report-dir"),
        help="where report.html, junit.xml and summary.json go (default: reports/).")
    add("--baseline", dest="mc_baseline", metavar="PATH",
        type=_usage(mc.parse_baseline, "--baseline"),
        help="a previous run's summary.json: say which checks changed outcome (regressions first), what "
        "moved and whether the traffic split drifted.")
    add("--target-version", dest="mc_target_version", metavar="X.Y",
        type=_usage(mc.parse_target_version, "--target-version"),
        help="the Istio or Cloud Service Mesh minor an upgrade is headed for: each cluster's Kubernetes "
        "version must be among those it supports too.")
    add("--allow-inconclusive", dest="mc_allow_inconclusive", action="store_true",
        help="skip, instead of failing, a check whose facts cannot decide (and say so).")
    add("--keep", dest="mc_keep", action="store_true", help="keep what the run created, and say so.")
    add("--cleanup-only", dest="mc_cleanup_only", action="store_true",
        help="delete what earlier runs left (by label) on every context, say what, and run no checks.")


def _lab(group: Any) -> None:
    add = _adder(group)
    add("--lab", dest="mc_lab", action="store_true",
        help="start the embedded lab of emulated clusters and run against it.")
    add("--lab-clusters", dest="mc_lab_clusters", default=2, metavar="N",
        type=_usage(mc.parse_cluster_count, "--lab-clusters"),
        help=f"number of lab clusters, {mc.MIN_CLUSTERS} to {mc.MAX_CLUSTERS} (default: 2).")
    add("--lab-networks", dest="mc_lab_networks", default=1, metavar="N",
        type=_usage(mc.parse_network_count, "--lab-networks"),
        help="Istio networks the lab clusters are dealt onto round-robin, each with its east-west "
        "gateway (default: 1).")
    add("--lab-model", dest="mc_lab_model", default="multi-primary", metavar="MODEL",
        type=_usage(mc.parse_choice, "--lab-model", LAB_MODELS),
        help="Istio's multicluster model the lab installs: multi-primary (default) or primary-remote "
        "(the first cluster of each network is a primary, the others its remotes).")
    add("--lab-fault", dest="mc_lab_fault", action="append", default=[], metavar="NAME[:ARG]",
        help="lab fault to inject (repeatable); see python -m meshconform.lab serve --help.")
    add("--lab-revisions", dest="mc_lab_revisions", action="append", default=[],
        metavar="[CLUSTER=]REV[,REV]", type=_usage(_revisions, "--lab-revisions"),
        help="istiod revisions the lab installs, REV or REV@VERSION, in every cluster or (CLUSTER=, "
        "repeatable) in one (default: asm-1285-9; the guide's ASM 1.7: asm-173-3; a default-revision "
        "Istio 1.7: default@1.7.3).")
    add("--lab-tags", dest="mc_lab_tags", action="append", default=[], metavar="TAG=REV[:CLUSTER]",
        type=_usage(_tag, "--lab-tags"),
        help="revision tag the lab sets, as istioctl tag set TAG --revision REV, in CLUSTER or in every "
        "cluster that runs REV (repeatable).")
    add("--lab-control-plane", dest="mc_lab_control_plane", action="append", default=[],
        metavar="KIND|CLUSTER=KIND",
        help="who serves a lab cluster's revision: in-cluster (default), managed-istiod or managed-td "
        "(Google's managed control plane); KIND for every cluster, CLUSTER=KIND for one (repeatable).")
    add("--lab-joined", dest="mc_lab_joined", action="store_true",
        help="start the lab with remote secrets in place.")
    add("--lab-latency", dest="mc_lab_latency", default=0.0, metavar="MS",
        type=_usage(mc.parse_milliseconds, "--lab-latency"),
        help="milliseconds every lab API request waits first, as a real API server's round trip "
        "(default: 0).")
