"""Watch semantics: resourceVersion replay, 410 Expired, selector transitions, bookmarks, timeouts."""

from __future__ import annotations

import json
import threading
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from labapi_support import Running, lab_fixture
from support import until

env = lab_fixture(clusters=1)


@pytest.fixture(scope="module")
def core(env: Running) -> client.CoreV1Api:
    api = client.CoreV1Api(env.api())
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="w")))
    return api


def _cm(name: str, labels: dict | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data={"k": "v"})


def test_watch_from_list_rv_sees_changes_in_order(core):
    rv = core.list_namespaced_config_map("w").metadata.resource_version
    core.create_namespaced_config_map("w", _cm("a"))
    core.patch_namespaced_config_map("a", "w", {"data": {"k": "2"}})
    core.delete_namespaced_config_map("a", "w")
    seen = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, "w", resource_version=rv, timeout_seconds=1
        )
    ]
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_without_rv_starts_with_synthetic_adds(core):
    core.create_namespaced_config_map("w", _cm("existing"))
    seen = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(core.list_namespaced_config_map, "w", timeout_seconds=1)
    ]
    assert ("ADDED", "existing") in seen


def _watching(env: Running) -> int:
    """How many watches the lab's store serves: one more once a watch request has been taken."""
    store = env.cluster().store
    return env.lab.call(lambda: len(store._watches))


def test_watch_follows_live_events(env, core):
    w = watch.Watch()
    got: list[tuple[str, str]] = []

    def consume() -> None:
        for e in w.stream(core.list_namespaced_config_map, "w", label_selector="live=yes", timeout_seconds=5):
            got.append((e["type"], e["object"].metadata.name))
            if len(got) == 3:
                w.stop()

    before = _watching(env)
    t = threading.Thread(target=consume)
    t.start()
    # A live watch sees only what happens after it is taken (no resourceVersion): wait for that.
    until(lambda: _watching(env), lambda n: n > before, 5, "the lab to take the watch request")
    core.create_namespaced_config_map("w", _cm("live", {"live": "yes"}))
    core.patch_namespaced_config_map("live", "w", {"metadata": {"labels": {"live": "no"}}})  # leaves selector
    core.patch_namespaced_config_map("live", "w", {"metadata": {"labels": {"live": "yes"}}})  # re-enters
    t.join(10)
    assert got == [("ADDED", "live"), ("DELETED", "live"), ("ADDED", "live")]


def test_too_old_resource_version_is_410_expired(env, core):
    core.create_namespaced_config_map("w", _cm("before-compaction"))
    env.lab.call(env.cluster().store.compact)
    code, _, body = env.raw(
        "GET", "/api/v1/namespaces/w/configmaps?watch=true&resourceVersion=2&timeoutSeconds=1"
    )
    event = json.loads(body.splitlines()[0])
    assert code == 200 and event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    assert event["object"]["message"].startswith("too old resource version: 2 (")
    with pytest.raises(ApiException) as e:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "w", resource_version="2", timeout_seconds=1
        ):
            pass
    assert e.value.status == 410


def test_bookmarks_and_timeout(env, core):
    started = time.monotonic()
    code, _, body = env.raw(
        "GET",
        "/api/v1/namespaces/w/configmaps?watch=1&allowWatchBookmarks=true"
        f"&resourceVersion={env.cluster().store.resource_version}&timeoutSeconds=3",
    )
    took = time.monotonic() - started
    events = [json.loads(line) for line in body.splitlines()]
    assert code == 200 and 2.5 < took < 5
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"]["kind"] == "ConfigMap" and events[0]["object"]["metadata"]["resourceVersion"]


def test_watch_a_single_object_by_name(core):
    core.create_namespaced_config_map("w", _cm("one"))
    core.create_namespaced_config_map("w", _cm("two"))
    seen = {
        e["object"].metadata.name
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, "w", field_selector="metadata.name=one", timeout_seconds=1
        )
    }
    assert seen == {"one"}
