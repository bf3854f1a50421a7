"""Which secret is A's: by what it reaches (kube-system's UID), not by its name, annotation or URL.

The data are the shapes real tools make: istioctl 1.6.8's own tested output (istio.io/clusterContext,
a cluster named after kube-system's UID; selftests/kind/data), istioctl 1.7+ (networking.istio.io/
cluster), and the same without any annotation (Helm, Terraform, by hand).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshconform import checks
from meshconform.checks import join
from meshconform.mesh import cluster_identity, remote_secrets, secret_inspection
from meshconform.mesh.facts import ClusterFacts, MeshFacts, RemoteSecret, SecretClaim

DATA = Path(__file__).parents[1] / "kind" / "data"
UID_1, UID_2, UID_3 = "uid-cluster-1", "uid-cluster-2", "uid-cluster-3"


def upstream(name: str) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all((DATA / name).read_text()) if d is not None]
    return doc  # type: ignore[no-any-return]


def istioctl_168() -> dict[str, Any]:
    return upstream("istioctl-1.6.8-remote-secret.yaml")


def istioctl_documented() -> dict[str, Any]:
    return upstream("istioctl-remote-secret.yaml")


def unannotated() -> dict[str, Any]:
    s = copy.deepcopy(istioctl_documented())
    del s["metadata"]["annotations"]
    return s


def entry(secret: dict[str, Any], uid: str | None, unknown: str | None = None) -> cluster_identity.Entry:
    (e,) = cluster_identity.entries(secret)
    e.uid, e.unknown = uid, unknown
    return e


@pytest.mark.parametrize(
    ("make", "annotation"),
    [
        (istioctl_168, "istio.io/clusterContext: test-context"),
        (istioctl_documented, "networking.istio.io/cluster: primary"),
        (unannotated, "none"),
    ],
    ids=["istioctl-1.6.8", "istioctl-1.7+", "no-annotation"],
)
def test_every_tools_shape_is_read_and_its_annotation_reported(make, annotation):
    secret = make()
    assert secret_inspection.labelled(secret) and remote_secrets.decode_data(secret)
    assert secret_inspection.annotation(secret) == annotation
    (e,) = cluster_identity.entries(secret)
    assert e.kubeconfig is not None and e.kubeconfig["server"] == "server" and e.unknown is None


def test_the_entry_that_reaches_a_is_as_whatever_its_name():
    """istioctl 1.6.8 without --name: istio-remote-secret-<UID>, no trace of our name for A."""
    renamed, other = entry(istioctl_168(), UID_1), entry(istioctl_documented(), UID_3)
    match = cluster_identity.match([other, renamed], "cluster-1", UID_1)
    assert match.by == "identity" and match.entry is renamed and match.twins == []


def test_name_is_the_fallback_only_where_the_identity_is_unknown():
    named = copy.deepcopy(istioctl_documented())
    named["metadata"]["name"] = remote_secrets.secret_name("cluster-1")
    unknown = entry(named, None, "its token may not get namespace kube-system (403 Forbidden)")
    match = cluster_identity.match([unknown], "cluster-1", UID_1)
    assert match.by == "name" and match.entry is unknown
    assert cluster_identity.match([entry(istioctl_168(), None, "x")], "cluster-1", UID_1).entry is None


def test_among_twins_the_one_named_for_a_is_kept_and_the_other_reported():
    named = copy.deepcopy(istioctl_documented())
    named["metadata"]["name"] = remote_secrets.secret_name("cluster-1")
    ours, twin = entry(named, UID_1), entry(istioctl_168(), UID_1)
    match = cluster_identity.match([twin, ours], "cluster-1", UID_1)
    assert match.entry is ours and match.twins == [twin]


class Source:
    """What inspect needs of A: its name and the server the user's context reaches it at."""

    name = "cluster-1"
    server = "https://34.0.0.1"
    context = "gke_p_z_cluster-1"


def inspect(secret: dict[str, Any], reached: secret_inspection.Reached) -> Any:
    (e,) = cluster_identity.entries(secret)
    return secret_inspection.inspect(secret, e.key, reached, Source, Source.server, "sample")  # type: ignore[arg-type]


def targets(fact: RemoteSecret) -> str | None:
    """The targets verdict on what was seen of A's secret in B."""
    return join.targets_problem(fact, "cluster-1", "cluster-2", Source.context)


def test_a_secret_that_reaches_a_at_another_address_targets_a(monkeypatch):
    """Its server ("server", not the user's https://34.0.0.1) is one more address of A's API server:
    the UID read through the secret's own server and CA proves it; no URL comparison is made."""
    monkeypatch.setattr(secret_inspection, "reader_denied", lambda *a: None)
    fact = inspect(istioctl_168(), secret_inspection.Reached(UID_1, None, UID_1))
    assert fact.present and join.shape_problem(fact, "cluster-2") is None and targets(fact) is None
    assert fact.ca_verified is None  # no handshake: the UID settled it
    assert fact.cluster_id == "54643f96-eca0-11e9-bb97-42010a80000a"
    assert fact.annotation == "istio.io/clusterContext: test-context"
    said = f"cluster-1: its server, CA and token reach kube-system uid {UID_1}"
    assert join.secret_identity(fact, "cluster-1").startswith(said)


def test_a_secret_named_for_a_that_reaches_another_cluster_is_stale():
    fact = inspect(istioctl_documented(), secret_inspection.Reached(UID_3, None, UID_1, "cluster-3"))
    where = "Secret istio-system/istio-remote-secret-primary in cluster-2"
    problem = targets(fact) or ""
    assert problem.startswith(f"{where} reaches")
    assert f"cluster-3 (kube-system uid {UID_3})" in problem
    assert f"not cluster-1 (uid {UID_1})" in problem and "recreate it" in problem
    assert fact.reader_denied is None and fact.ca_verified is None  # not asked: it leads elsewhere


def test_without_identity_the_server_must_match_and_the_message_says_why():
    why = "its server cannot be reached from here (ConnectionRefused)"
    fact = inspect(istioctl_documented(), secret_inspection.Reached(None, why, UID_1))
    problem = targets(fact) or ""
    assert "points at server, not cluster-1's API server https://34.0.0.1" in problem
    said = f"(its cluster identity could not be read through it: {why}; if server is another address"
    assert said in problem
    assert problem.endswith("pass --api-server gke_p_z_cluster-1=server)")
    said = f"not confirmed ({why}); taken as cluster-1's by its name and server"
    assert join.secret_identity(fact, "cluster-1") == said


def test_reader_without_a_token_is_not_read(tmp_path):
    secret = copy.deepcopy(istioctl_documented())
    kc = yaml.safe_load(secret["stringData"]["primary"])
    kc["users"][0]["user"] = {"auth-provider": {"name": "gcp"}}
    secret["stringData"]["primary"] = yaml.safe_dump(kc)
    (e,) = cluster_identity.entries(secret)
    cluster_identity.read_identity(e)  # no request: the runner does not run a plugin of the secret's
    assert e.uid is None
    assert e.unknown == "its user authenticates by auth-provider, which the suite does not run"


# -- the names check, over facts ---------------------------------------------------------------------


def mesh(*claims: SecretClaim) -> MeshFacts:
    facts = MeshFacts(run_id="r", namespace="sample")
    for name, uid in (("cluster-1", UID_1), ("cluster-2", UID_2)):
        facts.clusters[name] = ClusterFacts(name, f"gke_p_z_{name}", "https://x", uid=uid)
    c2 = facts.clusters["cluster-2"]
    c2.remote_secret_claims = list(claims)
    for c in claims:
        c2.remote_secret_ids.setdefault(c.secret, []).append(c.cluster_id)
    return facts


def names(facts: MeshFacts) -> str | None:
    return checks.judge(facts, join.names_unique, "cluster-2").message or None


def test_one_cluster_under_two_names_fails_naming_both_secrets_and_the_fix():
    ours = SecretClaim("istio-remote-secret-cluster-1", "cluster-1", uid=UID_1, reaches="cluster-1")
    twin = SecretClaim(f"istio-remote-secret-{UID_1}", UID_1, uid=UID_1, reaches="cluster-1")
    message = names(mesh(twin, ours))
    assert message is not None and message.startswith("cluster-1 is claimed twice in cluster-2, by Secret")
    assert "istio-remote-secret-cluster-1 (name cluster-1)" in message and f"(name {UID_1})" in message
    fix = f"kubectl --context=gke_p_z_cluster-2 -n istio-system delete secret {twin.secret}"
    assert message.endswith(fix)
    assert names(mesh(ours)) is None


def test_a_secret_reaching_its_own_cluster_under_another_name_fails():
    looped = SecretClaim("istio-remote-secret-cluster-2-private", "cluster-2-private", uid=UID_2)
    message = names(mesh(looped))
    assert message is not None and "reaches cluster-2 itself" in message and "delete it" in message


def test_its_own_secret_under_its_own_name_is_what_istiod_skips_by_design():
    """Every cluster's secrets applied to every cluster: istiod ignores the one for itself."""
    own = SecretClaim("istio-remote-secret-cluster-2", "cluster-2", uid=UID_2, reaches="cluster-2")
    assert names(mesh(own)) is None
    misnamed = SecretClaim("istio-remote-secret-cluster-1", "cluster-2", uid=UID_1, reaches="cluster-1")
    assert "which is cluster-2's own CLUSTER_ID" in (names(mesh(misnamed)) or "")


def test_a_missing_secret_names_the_secrets_that_could_not_be_identified():
    why = "its token may not get namespace kube-system"
    facts = mesh(SecretClaim("istio-remote-secret-x", "x", unknown=why))
    facts.pairs["cluster-1->cluster-2"] = RemoteSecret("istio-remote-secret-cluster-1")
    message = checks.judge(facts, join.secret_present, "cluster-1->cluster-2").message
    assert message.startswith("cluster-2 has no remote secret for cluster-1 (none reaches cluster-1's API")
    assert f"1 of its remote secrets could not be identified (istio-remote-secret-x: {why})" in message



def test_claims_round_trip_through_json():
    """xdist workers read the facts from a file: what each secret reaches must survive it."""
    from meshconform.mesh import facts as mf

    facts = mesh(SecretClaim("istio-remote-secret-cluster-1", "cluster-1", "https://x", UID_1, "cluster-1"))
    again = mf.from_json(MeshFacts, mf.to_json(facts))
    assert again == facts and isinstance(again.clusters["cluster-2"].remote_secret_claims[0], SecretClaim)
