"""The plugin's terminal lines that grow with the fleet."""

from __future__ import annotations

from fixtures import plugin


def test_a_few_removed_objects_are_listed():
    """Up to three clusters' worth, the clean-up line names each object it removed."""
    removed = ["cluster-1: namespace sample", "cluster-2: namespace sample"]
    assert plugin._removed(removed) == "2 objects: cluster-1: namespace sample; cluster-2: namespace sample"


def test_a_fleet_s_removed_objects_are_counted_by_kind():
    """At 20 clusters (400 objects) the line counts each kind and points at summary.json."""
    removed = [f"cluster-{i}: namespace sample" for i in range(1, 21)]
    secret = "secret istio-system/istio-remote-secret-x"
    removed += [f"cluster-{i}: {secret}{j}" for i in range(1, 21) for j in range(19)]
    line = plugin._removed(removed)
    assert line == "400 objects: 20 namespace, 380 secret; each is listed in summary.json (cleanup.removed)"


def test_checks_that_do_not_apply_are_counted_by_name():
    """A healthy run's skips are explained in one line: the checks that do not apply, per name."""
    ids = [
        "test_east_west_gateway[cluster-1]",
        "test_east_west_gateway[cluster-2]",
        "test_managed_data_plane[cluster-1]",
    ]
    assert plugin._not_applicable(ids) == (
        "3 skipped: they do not apply to this mesh (no verdict lost; -rs says why for each): "
        "test_east_west_gateway (2), test_managed_data_plane"
    )
    assert plugin._not_applicable([]) == ""
