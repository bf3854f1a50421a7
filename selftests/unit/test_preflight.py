"""Preflight: bad input found before any test, each as one ConfigError line (exit 4 in a run)."""

from __future__ import annotations

import pytest
import yaml

from meshconform.run import config as mc
from meshconform.run import preflight


def cfg(kubeconfig, *contexts, **kw):
    names = mc.resolve_cluster_names(contexts, {})
    return mc.RunConfig(
        contexts=contexts, cluster_names=names, kubeconfig=str(kubeconfig), run_id="rtest", **kw
    )


def test_malformed_kubeconfig_is_one_line(tmp_path):
    bad = tmp_path / "kc"
    bad.write_text("clusters: [this is: not, a kubeconfig")
    with pytest.raises(mc.ConfigError, match=r"^cannot read .*kc"):
        preflight.known_contexts(str(bad))


def test_unknown_context_lists_the_known_ones(two_cluster_lab):
    path, contexts = two_cluster_lab.kubeconfig, two_cluster_lab.contexts
    with pytest.raises(mc.ConfigError, match=r"context 'nope' is not in the kubeconfig; known: gke_"):
        preflight.run(cfg(path, contexts[0], "nope"))


def test_lab_contexts_pass_preflight(two_cluster_lab):
    path, contexts = two_cluster_lab.kubeconfig, two_cluster_lab.contexts
    clusters = preflight.run(cfg(path, *contexts))
    assert list(clusters) == ["cluster-1", "cluster-2"]


def test_one_cluster_under_two_names_is_refused(two_cluster_lab, tmp_path):
    path = two_cluster_lab.kubeconfig
    kc = yaml.safe_load(path.read_text())
    alias = {"name": "alias", "cluster": dict(kc["clusters"][0]["cluster"])}
    alias["cluster"]["server"] = alias["cluster"]["server"].replace("127.0.0.1", "localhost")
    kc["clusters"].append(alias)
    kc["contexts"].append({"name": "alias", "context": dict(kc["contexts"][0]["context"], cluster="alias")})
    other = tmp_path / "kc"
    other.write_text(yaml.safe_dump(kc))
    first = next(c for c in kc["contexts"] if c["context"]["cluster"] == kc["clusters"][0]["name"])["name"]
    with pytest.raises(mc.ConfigError, match="reach the same cluster"):
        preflight.run(cfg(other, first, "alias"))


def test_foreign_namespace_is_refused(two_cluster_lab):
    path, contexts = two_cluster_lab.kubeconfig, two_cluster_lab.contexts
    clusters = preflight.connect(cfg(path, *contexts))
    core = clusters["cluster-1"].core
    core.create_namespace({"metadata": {"name": "theirs"}})
    try:
        with pytest.raises(mc.ConfigError, match="exists in cluster-1 and was not created by meshconform"):
            preflight.run(cfg(path, *contexts, namespace="theirs"))
    finally:
        core.delete_namespace("theirs")


def test_rejected_credentials_are_bad_input(two_cluster_lab, tmp_path):
    path, contexts = two_cluster_lab.kubeconfig, two_cluster_lab.contexts
    kc = yaml.safe_load(path.read_text())
    for user in kc["users"]:
        user["user"]["token"] = "expired-" + "x" * 24
    other = tmp_path / "kc"
    other.write_text(yaml.safe_dump(kc))
    with pytest.raises(mc.ConfigError, match=r"rejects its credentials \(401 Unauthorized\); refresh them"):
        preflight.run(cfg(other, *contexts))
