"""Option parsing and validation: each bad value is one line naming option, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshconform.run import config as mc

UPSTREAM = Path("/work/shared/upstream-samples/samples")


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5"])
def test_requests_must_be_positive_whole_numbers(value):
    with pytest.raises(mc.ConfigError, match=r"--requests '.*'"):
        mc.parse_positive_int("--requests", value)


def test_requests_accepts_positive():
    assert mc.parse_positive_int("--requests", "50") == 50


@pytest.mark.parametrize("value", ["Sample", "-x", "a_b", "x" * 64, ""])
def test_namespace_must_be_a_dns_label(value):
    with pytest.raises(mc.ConfigError, match="not a valid namespace name; allowed: lowercase"):
        mc.parse_namespace("--namespace", value)


def test_join_mode_names_allowed_values():
    with pytest.raises(mc.ConfigError, match="--join 'fix' is not one of: create, verify, replace"):
        mc.parse_choice("--join", "fix", mc.JOIN_MODES)


@pytest.mark.parametrize("value", ["ctx", "=https://x", "ctx=http://x", "ctx=x"])
def test_api_server_needs_ctx_and_https_url(value):
    with pytest.raises(mc.ConfigError, match="--api-server"):
        mc.parse_api_server("--api-server", value)


def test_cluster_name_assignment():
    assert mc.parse_cluster_name("--cluster-name", "gke_p_z_c=east") == ("gke_p_z_c", "east")
    with pytest.raises(mc.ConfigError, match="DNS-1123"):
        mc.parse_cluster_name("--cluster-name", "ctx=East_1")


def test_gke_context_gives_cluster_name():
    assert mc.cluster_name_from_context("gke_my-proj_us-central1-a_cluster-1") == "cluster-1"
    assert mc.cluster_name_from_context("kind-east") == "kind-east"


def test_same_context_twice_is_refused():
    with pytest.raises(mc.ConfigError, match="context 'a' is given twice"):
        mc.resolve_contexts("a", None, ["a"])
    assert mc.resolve_contexts("a", "b", ["c"]) == ("a", "b", "c")


def test_cluster_names_must_be_unique_and_valid():
    with pytest.raises(mc.ConfigError, match="claimed by two contexts"):
        mc.resolve_cluster_names(["gke_p_a_x", "gke_p_b_x"], {})
    with pytest.raises(mc.ConfigError, match="pass --cluster-name"):
        mc.resolve_cluster_names(["Weird_Context"], {})
    assert mc.resolve_cluster_names(["gke_p_a_x", "gke_p_b_x"], {"gke_p_b_x": "y"}) == ("x", "y")
    with pytest.raises(mc.ConfigError, match="not one of --ctx"):
        mc.resolve_cluster_names(["a"], {"b": "c"})


def test_samples_dir_upstream_works_unchanged():
    assert mc.parse_samples_dir("--samples-dir", str(UPSTREAM)) == UPSTREAM


def test_samples_dir_without_files_is_refused(tmp_path):
    with pytest.raises(mc.ConfigError, match=r"lacks helloworld/helloworld\.yaml, sleep/sleep\.yaml"):
        mc.parse_samples_dir("--samples-dir", str(tmp_path))


def test_samples_dir_accepts_curl_instead_of_sleep(tmp_path):
    (tmp_path / "helloworld").mkdir()
    (tmp_path / "helloworld" / "helloworld.yaml").write_text("")
    (tmp_path / "curl").mkdir()
    (tmp_path / "curl" / "curl.yaml").write_text("")
    assert mc.parse_samples_dir("--samples-dir", str(tmp_path)) == tmp_path


def test_unreadable_kubeconfig_is_refused(tmp_path):
    with pytest.raises(mc.ConfigError, match="is not a readable file"):
        mc.kubeconfig_path(str(tmp_path / "nope"))


def test_unreachable_server_names_address_and_timeout():
    with pytest.raises(mc.ConfigError, match=r"at https://127.0.0.1:9 within 0.5s"):
        mc.probe_tcp("https://127.0.0.1:9", "ctx", timeout=0.5)


def test_seconds_must_be_positive():
    with pytest.raises(mc.ConfigError, match="must be > 0"):
        mc.parse_seconds("--ready-timeout", "0")


def test_run_config_is_frozen_and_maps_names():
    cfg = mc.RunConfig(contexts=("c1", "c2"), cluster_names=("a", "b"), api_servers={"c2": "https://x"})
    assert cfg.name_of("c2") == "b" and cfg.context_of("a") == "c1"
    assert cfg.api_server_for("b") == "https://x" and cfg.api_server_for("a") is None
    with pytest.raises(AttributeError):
        cfg.requests = 3  # type: ignore[misc]
