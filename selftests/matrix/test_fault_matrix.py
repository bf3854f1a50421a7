"""The fault matrix: every check can fail, and is shown to fail (DESIGN.md, "The checks").

Each case runs the suite as a user does (`pytest --lab --lab-fault F`, in a subprocess) and
asserts the EXACT set of failing test ids from its junit.xml: the fault's own check fails, with a
message that names where the fault is, and nothing else fails (checks that depend on a broken
fact are skipped with a reason, not failed again). The clean runs pass every check, for 2 and 3
clusters. The suite never learns which fault is on: it must find each through the Kubernetes API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import Run, run_suite

JOIN_FAULTS = {
    "no-secret", "stale-secret", "reader-rbac-missing", "duplicate-cluster-name", "api-unreachable-from",
    "duplicate-secret", "secret-unannotated", "secret-renamed", "secret-other-address", "secrets-under-td",
    "multicluster-mode-missing",  # --join create declares it: the fault is found with --join verify
    "remote-no-secret",
}


@dataclass(frozen=True)
class Case:
    fault: str
    failing: frozenset[str]
    where: str  # a word every failure message must contain: the cluster or pair at fault
    extra: tuple[str, ...] = ()
    variant: str = ""  # tells two cases of one fault apart in the test id

    @property
    def id(self) -> str:
        return f"{self.fault}@{self.variant}" if self.variant else self.fault


def case(fault: str, where: str, *failing: str, extra: tuple[str, ...] = (), variant: str = "") -> Case:
    return Case(fault, frozenset(failing), where, extra, variant)


PAIR = "cluster-1->cluster-2"
NETWORKS = ("--lab-networks=2",)
PRIMARY_REMOTE = ("--lab-model=primary-remote",)
MIX = ("--lab-clusters=6", "--lab-networks=2")  # a primary and two remotes on each network
TD, ISTIOD = "managed-td", "managed-istiod"
# The managed control plane's checks do not apply to an in-cluster istiod: skipped, saying so.
MANAGED_IDS = ("test_managed_revision_ready", "test_managed_data_plane", "test_endpoint_discovery_declared")
MANAGED_PAIR_IDS = ("test_sidecar_synced",)  # per pair: B's sidecar, where B is managed
# The guide's ASM 1.7 (and 1.6): no Google supported-platforms page for it was found, so its
# Kubernetes is judged by the Istio release it is built on (Istio 1.7: 1.16-1.18; the lab serves 1.18).
GUIDE = ("--lab-revisions=asm-173-3",)
REVISION = "asm-1285-9"  # the lab's default revision (CSM 1.28)
# The primary-remote checks do not apply where every cluster runs istiod (multi-primary).
REMOTE_IDS = ("test_control_plane_exposed", "test_remote_uses_primary")
MATRIX = [
    case("api-down:cluster-2", "cluster-2", "test_api_server_answers[cluster-2]"),
    case("istiod-down:cluster-2", "cluster-2", "test_istiod_ready[cluster-2]"),
    # cluster-2 runs ASM 1.8 beside cluster-1's CSM 1.28: each is judged against its own revision,
    # and the control planes are 20 minors apart (Google's page for ASM 1.8's Kubernetes versions was
    # not found: that check cannot decide). Named everywhere, the revision is missing in cluster-2.
    case("revision-mismatch", "cluster-2", "test_control_planes_within_one_minor[cluster-1]",
         "test_control_planes_within_one_minor[cluster-2]", "test_kubernetes_version_supported[cluster-2]"),
    case("revision-mismatch", "cluster-2", "test_revision_everywhere[cluster-2]",
         extra=("--revision=asm-1285-9",), variant="named"),
    case("old-istiod:cluster-2", "cluster-2", "test_istiod_version[cluster-2]"),
    # The upgrade rehearsal's faults: a Kubernetes outside the revision's window; the newest
    # revision's istiod without its ClusterRoleBinding (never Ready: its log names the Forbidden list).
    case("kubernetes-version-unsupported:cluster-2", "cluster-2",
         "test_kubernetes_version_supported[cluster-2]"),
    case("istiod-reader-rbac-missing:cluster-2", "cluster-2", "test_istiod_ready[cluster-2]"),
    # cluster-2's injector hands out a proxy two minors older than its istiod.
    case("proxy-outdated:cluster-2", "cluster-2", "test_proxies_within_skew[cluster-2]"),
    case("root-ca-mismatch", "cluster-2", "test_root_ca_shared[cluster-2]"),
    # A root rotation in progress: old and new root in every bundle (another order in each),
    # cluster-1 already signs with the new one. Healthy: nothing fails.
    case("root-rotation", ""),
    # ... but cluster-2 was not given the new root: it rejects cluster-1's workloads.
    case("root-rotation-incomplete", "cluster-2", "test_root_ca_shared[cluster-2]"),
    case("trust-domain-mismatch", "cluster-2", "test_trust_domain_and_mesh_id[cluster-2]"),
    # Each cluster labelled its own network, and no east-west gateway anywhere: neither network
    # can be reached from the other (the traffic checks are skipped on that premise).
    case("multi-network", "east-west gateway",
         "test_east_west_gateway[cluster-1]", "test_east_west_gateway[cluster-2]"),
    # cluster-2 is on network2 (its install, its gateway) but istio-system says network1.
    case("wrong-network:cluster-2", "cluster-2", "test_network_declared[cluster-2]", extra=NETWORKS),
    # ... and on one network, the label makes a second network that nothing can reach.
    case("wrong-network:cluster-2", "cluster-", "test_network_declared[cluster-2]",
         "test_east_west_gateway[cluster-1]", variant="one-network"),
    case("ew-gateway-pending:cluster-2", "cluster-2", "test_east_west_gateway[cluster-2]", extra=NETWORKS),
    case("no-cross-network-gateway:cluster-2", "cluster-2", "test_cross_network_gateway[cluster-2]",
         extra=NETWORKS),
    # cluster-1's sidecars declare no network: istiod sends them network2's pod IPs, which do not
    # route (cluster-1's calls are skipped on that premise; cluster-2's cross through the gateways).
    case("proxy-network-unset:cluster-1", "cluster-1",
         "test_sidecar_routes_networks_through_gateways[cluster-1]", extra=NETWORKS),
    # A firewall drops 15443 between the networks: nothing in the API shows it; the calls that
    # go to the other network's gateway time out (Envoy's 10 s connect timeout outlasts curl's -m 5).
    case("port-15443-closed", "check that port 15443 is open from network",
         "test_hello_calls_succeed[cluster-1]", "test_hello_calls_succeed[cluster-2]", extra=NETWORKS),
    case(f"no-secret:{PAIR}", "cluster-2", f"test_remote_secret_present[{PAIR}]"),
    case(f"stale-secret:{PAIR}", "cluster-2", f"test_remote_secret_targets_cluster[{PAIR}]"),
    case("reader-rbac-missing:cluster-1", "cluster-1", f"test_remote_secret_credentials[{PAIR}]"),
    case("duplicate-cluster-name", "cluster-2", "test_cluster_names_unique[cluster-2]"),
    # Two secrets in cluster-2 reach cluster-1 (its kube-system UID) under two names.
    case(f"duplicate-secret:{PAIR}", "cluster-2", "test_cluster_names_unique[cluster-2]"),
    case("api-unreachable-from:cluster-2->cluster-1", "cluster-2", f"test_istiod_synced[{PAIR}]"),
    # The guide's ASM 1.7: its istiod has no /debug/clusterz, so istiod's sync check does not apply;
    # cluster-2's sample sidecar, which holds no endpoint of cluster-1, shows the fault instead (and
    # the calls from cluster-2 are skipped behind it).
    case("api-unreachable-from:cluster-2->cluster-1", "cluster-2",
         f"test_sidecar_synced[{PAIR}]",
         extra=GUIDE, variant="asm-173-3"),
    case("webhook-missing:cluster-2", "cluster-2", "test_injector_selects_namespace[cluster-2]"),
    # A default revision of Istio 1.7 (its webhook selects istio-injection=enabled only): the suite
    # labels the namespace so and passes; without the webhook it fails the same check.
    case("webhook-missing:cluster-2", "cluster-2", "test_injector_selects_namespace[cluster-2]",
         extra=("--lab-revisions=default@1.7.3",), variant="default@1.7.3"),
    case("proxy-not-ready:cluster-2", "cluster-2", "test_sample_pods_injected_and_ready[cluster-2]",
         extra=("--ready-timeout=8",)),
    case("stale-injector:cluster-2", "cluster-2", "test_injected_by_revision[cluster-2]"),
    # Before Istio 1.11 the injected revision is the pod's istio.io/rev label, not in the status.
    case("stale-injector:cluster-2", "cluster-2", "test_injected_by_revision[cluster-2]",
         extra=GUIDE, variant="asm-173-3"),
    # A revision tag moved by hand in cluster-2 (its webhook relabelled, still calling the istiod it
    # called): the suite resolves the tag by the label, and the pods show the other revision.
    case("tag-relabelled:cluster-2", "cluster-2", "test_injected_by_revision[cluster-2]",
         extra=("--lab-revisions=asm-1295-1,asm-1285-9", "--lab-tags=prod-stable=asm-1295-1",
                "--revision=prod-stable"), variant="tag"),
    case("hello-errors:cluster-2", "from cluster-",
         "test_hello_calls_succeed[cluster-1]", "test_hello_calls_succeed[cluster-2]"),
    case("partition:cluster-1,cluster-2", "did not reach",
         "test_calls_reach_every_cluster[cluster-1]", "test_calls_reach_every_cluster[cluster-2]"),
    # helloworld v2 listens on 127.0.0.1 only: from Istio 1.10 no sidecar reaches it, not even
    # cluster-2's own; every call is retried onto v1 and answers, so only the reach check fails.
    case("hello-localhost:cluster-2", "did not reach v2 (cluster-2)",
         "test_calls_reach_every_cluster[cluster-1]", "test_calls_reach_every_cluster[cluster-2]"),
    # Before 1.10 the sidecar handed inbound calls to the app on 127.0.0.1: the same app is reached.
    case("hello-localhost:cluster-2", "", extra=GUIDE, variant="asm-173-3"),
    case("locality-lb", "DestinationRule",
         "test_calls_reach_every_cluster[cluster-1]", "test_calls_reach_every_cluster[cluster-2]"),
    case("skew", "replica-weighted",
         "test_split_follows_replicas[cluster-1]", "test_split_follows_replicas[cluster-2]"),
    # cluster-2's sleep sends in plain text past its sidecar; the run's STRICT PeerAuthentication
    # makes every server reset it (curl 56), so its hello calls fail (the servers' view of them is
    # skipped on that premise); without STRICT they would quietly stay in cluster-2.
    case("sidecar-bypass:cluster-2", "from cluster-2", "test_hello_calls_succeed[cluster-2]"),
    # cluster-2's proxies count nothing: the servers' view of cluster-1's calls cannot be had, and
    # the check says which Telemetry resource to change.
    case("telemetry-off:cluster-2", "cluster-2", f"test_calls_arrive_over_mtls[{PAIR}]"),
    # A third cluster of the mesh, not given to the suite, serves helloworld-v2 in `sample`: its pod
    # answers both sources (named), and cluster-2's sidecars confirm only their share of v2's answers;
    # every message names cluster-3, which the istiods register (the mesh has 3 clusters; 2 under test).
    case("outside-cluster:cluster-2", "cluster-3", "test_answers_come_from_this_run[cluster-1]",
         "test_answers_come_from_this_run[cluster-2]", f"test_calls_arrive_over_mtls[{PAIR}]"),
    # A pod of the run answers as another cluster's version (an admission policy rewrites cluster-2's
    # SERVICE_VERSION to v1): no call counts for v2, and the answer's pod says where the lie is.
    case("version-mislabel:cluster-2", "cluster-2",
         "test_calls_reach_every_cluster[cluster-1]", "test_calls_reach_every_cluster[cluster-2]",
         "test_answers_come_from_this_run[cluster-1]", "test_answers_come_from_this_run[cluster-2]"),
    # cluster-2 keeps Istio 1.4's mesh-wide DestinationRule with tls DISABLE: its sidecars call in plain
    # text and the run's STRICT servers close it (503); the message names the rule and the fix.
    case("tls-disabled:cluster-2", "cluster-2", "test_hello_calls_succeed[cluster-2]"),
    # ... and where every new namespace gets a PERMISSIVE `default` first (the run's STRICT `default`
    # then meets AlreadyExists), the plain text is taken: only the servers' view shows it, naming the
    # rule that sends it and the policy that lets it in.
    case("tls-disabled:cluster-1", "cluster-1", f"test_calls_arrive_over_mtls[{PAIR}]",
         extra=("--lab-fault=permissive-default:cluster-1", "--lab-fault=permissive-default:cluster-2"),
         variant="permissive"),
    # A PERMISSIVE policy alone changes nothing a healthy mesh does: every call still goes over mTLS.
    case("permissive-default:cluster-2", ""),
    # Every mesh config moved to a new trust domain (the old one an alias), istiod not restarted: a
    # 1.28 istiod signs the new one and all passes; the guide's 1.7 istiod still signs the old one,
    # so the servers see the sleep identity under it, and the message says to restart istiod.
    case("trust-domain-migration", ""),
    case("trust-domain-migration", "trust domain",
         f"test_calls_arrive_over_mtls[{PAIR}]", "test_calls_arrive_over_mtls[cluster-2->cluster-1]",
         extra=GUIDE, variant="asm-173-3"),
    case("flaky-api", ""),
    case("slow-start", ""),
    # Healthy secrets as other tools make them: istiod reads the label and the data keys only.
    case(f"secret-unannotated:{PAIR}", ""),
    case(f"secret-renamed:{PAIR}", ""),
    case(f"secret-other-address:{PAIR}", ""),
    # istioctl 1.6.8 without --name: istio.io/clusterContext, the cluster named after its UID.
    case(f"secret-renamed:{PAIR}", "", extra=("--lab-revisions=asm-168-9",),
         variant="asm-168-9"),
    # Google's managed control plane: its ControlPlaneRevision stalled, its data plane controller
    # crash-looping, its CNI not ready on a node, one TRAFFIC_DIRECTOR cluster without
    # multicluster_mode, remote secrets left in a TRAFFIC_DIRECTOR cluster.
    # Primary-remote: cluster-2's remote profile points at an address no primary exposes (its
    # injector refuses every pod, so the pods and traffic are skipped on that premise); cluster-2's
    # secret missing in its primary (and, in the 6-cluster mix, in both primaries).
    case("remote-injector-dead-istiod:cluster-2", "cluster-2", "test_remote_uses_primary[cluster-2]",
         extra=PRIMARY_REMOTE),
    case("remote-injector-dead-istiod:cluster-3", "cluster-3", "test_remote_uses_primary[cluster-3]",
         extra=(*PRIMARY_REMOTE, "--lab-clusters=3"), variant="3"),
    # ... and a remote on another network than its primary (Istio's "Primary-Remote on different
    # networks"): no pod in cluster-2, so neither its traffic nor its sidecar's routing is judged.
    case("remote-injector-dead-istiod:cluster-2", "cluster-2", "test_remote_uses_primary[cluster-2]",
         extra=(*PRIMARY_REMOTE, *NETWORKS), variant="networks"),
    case("remote-no-secret:cluster-2", "cluster-2", "test_remote_secret_present[cluster-2->cluster-1]",
         extra=PRIMARY_REMOTE),
    # The primary never applied expose-istiod.yaml: its east-west gateway has no listener on 15012
    # and 15017, so the remote's webhook call is refused (its pods are skipped behind this failure).
    case("istiod-not-exposed:cluster-1", "expose-istiod.yaml", "test_control_plane_exposed[cluster-1]",
         extra=PRIMARY_REMOTE),
    case("remote-no-secret:cluster-5", "cluster-5", "test_remote_secret_present[cluster-5->cluster-1]",
         "test_remote_secret_present[cluster-5->cluster-2]", extra=(*PRIMARY_REMOTE, *MIX), variant="mix"),
    case("revision-stalled:cluster-2", "cluster-2", "test_managed_revision_ready[cluster-2]",
         extra=(f"--lab-control-plane={TD}",)),
    case("mdp-down:cluster-1", "cluster-1", "test_managed_data_plane[cluster-1]",
         extra=(f"--lab-control-plane={ISTIOD}",)),
    # The declaration missing is the one failure: the sidecars' sync and the calls are skipped on it.
    case("multicluster-mode-missing:cluster-2", "cluster-2", "test_endpoint_discovery_declared[cluster-2]",
         extra=(f"--lab-control-plane={TD}",)),
    # Both declare connected, yet cluster-2 is not of the others' fleet: neither sidecar holds the
    # other's endpoints, which only the sidecars show.
    case("fleet-discovery-broken:cluster-2", "cluster-2", f"test_sidecar_synced[{PAIR}]",
         "test_sidecar_synced[cluster-2->cluster-1]", extra=(f"--lab-control-plane={TD}",)),
    case("cni-node-not-ready:cluster-1", "cluster-1", "test_managed_data_plane[cluster-1]",
         extra=(f"--lab-control-plane={ISTIOD}",)),
    case("secrets-under-td:cluster-2", "cluster-2", "test_endpoint_discovery_declared[cluster-2]",
         extra=(f"--lab-control-plane={TD}",)),
]


def run_lab(tmp_path: Path, *args: str) -> Run:
    """`pytest --lab -q ARGS` as a user types it; the verdicts must be in junit.xml."""
    run = run_suite(tmp_path / "reports", "--lab", *args)
    assert (run.report_dir / "junit.xml").exists(), f"no junit.xml from {' '.join(args)}:\n{run.tail(3000)}"
    return run


@pytest.mark.selftest_slow
@pytest.mark.parametrize("case", MATRIX, ids=lambda c: c.id)
def test_fault_fails_exactly_its_checks(case: Case, tmp_path: Path) -> None:
    args = ["--lab-fault", case.fault, *case.extra]
    if case.fault.split(":")[0] in JOIN_FAULTS:
        args += ["--join", "verify"]  # so that the suite does not repair the fault it must find
    out = run_lab(tmp_path, *args)
    assert set(out.failures) == case.failing, (
        f"--lab-fault {case.fault}: expected failing {sorted(case.failing)}, got {sorted(out.failures)}\n"
        + "\n".join(f"  {k}: {v[:200]}" for k, v in out.failures.items())
        + f"\n{out.tail(3000)}"
    )
    assert (out.returncode == 0) == (not case.failing), f"exit code {out.returncode} for {case.fault}"
    for name, message in out.failures.items():
        first = message.splitlines()[0] if message else ""
        assert case.where in first, f"{name}: message does not say where ({case.where!r}): {first}"
        assert len(first) > 40, f"{name}: message too thin to act on: {first!r}"
    for name, reason in out.skips.items():
        assert reason.strip(), f"{name} was skipped without a reason"


# On one network the three east-west checks do not apply (skipped, saying so); on several they do.
ONE_NETWORK_SKIPS = (
    "test_east_west_gateway", "test_cross_network_gateway", "test_sidecar_routes_networks_through_gateways",
)


@pytest.mark.selftest_slow
@pytest.mark.parametrize(("clusters", "networks"), [(2, 1), (3, 1), (2, 2), (3, 2)])
def test_clean_lab_passes_every_check(clusters: int, networks: int, tmp_path: Path) -> None:
    out = run_lab(tmp_path, f"--lab-clusters={clusters}", f"--lab-networks={networks}")
    assert out.returncode == 0 and not out.failures, out.tail(3000)
    names = [f"cluster-{i + 1}" for i in range(clusters)]
    skips = {f"{check}[{n}]" for check in ONE_NETWORK_SKIPS for n in names} if networks == 1 else set()
    managed = {f"{check}[{n}]" for check in MANAGED_IDS for n in names}  # an in-cluster istiod each
    remote = {f"{check}[{n}]" for check in REMOTE_IDS for n in names}  # every cluster a primary
    managed |= {f"{check}[{a}->{b}]" for check in MANAGED_PAIR_IDS for a in names for b in names if a != b}
    assert set(out.skips) == skips | managed | remote, out.tail(3000)
    assert all("does not apply: every cluster is on network network1" in r for n, r in out.skips.items()
               if n not in managed | remote)
    assert all("does not apply" in out.skips[n] for n in remote)
    assert all(_not_applicable_managed(n, out.skips[n]) for n in managed)
    pairs = clusters * (clusters - 1)
    # per cluster: reach, 3 control plane, 2 trust, the network, 1 name, 3 injection, 4 traffic, 3
    # pre-upgrade; per pair: 4 join and the servers' view of the calls; on several networks 3 more
    # per cluster
    passed = sum(c.outcome == "passed" for c in out.cases)
    per_cluster = 18 if networks == 1 else 21
    assert passed == per_cluster * clusters + 5 * pairs, f"unexpected number of checks:\n{out.tail(3000)}"


def _not_applicable_managed(name: str, reason: str) -> bool:
    return name.startswith(MANAGED_IDS + MANAGED_PAIR_IDS) and "does not apply" in reason


@pytest.mark.selftest_slow
@pytest.mark.parametrize("control_plane", [TD, ISTIOD, f"cluster-2={ISTIOD}", f"cluster-1={ISTIOD}"])
def test_clean_managed_lab_passes(control_plane: str, tmp_path: Path) -> None:
    """Managed clusters of each implementation, and mixed meshes, fail nothing; what is skipped does
    not apply to them (no istiod pod, no remote secret under multicluster_mode) and says so."""
    out = run_lab(tmp_path, f"--lab-control-plane={control_plane}")
    assert out.returncode == 0 and not out.failures, out.tail(3000)
    for name, reason in out.skips.items():
        assert "does not apply" in reason, f"{name} skipped for another reason: {reason}"


@pytest.mark.selftest_slow
@pytest.mark.parametrize(("clusters", "networks"), [(2, 1), (3, 1), (2, 2), (3, 2), (6, 2)])
def test_clean_primary_remote_lab_passes(clusters: int, networks: int, tmp_path: Path) -> None:
    """Istio's primary-remote model (the first cluster of each network its primary; with a cluster
    per network, cluster-1 the primary of all, across networks): nothing fails, every skip does not
    apply, each primary exposes istiod and holds every remote's secret, and each remote uses its
    primary."""
    out = run_lab(tmp_path, *PRIMARY_REMOTE, f"--lab-clusters={clusters}", f"--lab-networks={networks}")
    assert out.returncode == 0 and not out.failures, out.tail(3000)
    assert all("does not apply" in reason for reason in out.skips.values()), out.skips
    names = [f"cluster-{i + 1}" for i in range(clusters)]
    lead = 1 if networks == clusters else networks  # how many primaries
    primaries, remotes = names[:lead], names[lead:]
    serving = {names[i % lead] for i in range(lead, clusters)}  # a primary with remotes
    must_pass = {
        *(f"test_control_plane_exposed[{p}]" for p in serving),
        *(f"test_remote_uses_primary[{r}]" for r in remotes),
        *(f"test_remote_secret_present[{r}->{p}]" for r in remotes for p in primaries),
        *(f"test_istiod_synced[{r}->{p}]" for r in remotes for p in primaries),
        *(f"test_calls_reach_every_cluster[{n}]" for n in names),
    }
    assert {k: out.outcomes.get(k) for k in must_pass} == dict.fromkeys(must_pass, "passed"), out.tail(3000)
    into_remotes = {f"test_remote_secret_present[{a}->{r}]" for r in remotes for a in names if a != r}
    assert into_remotes <= set(out.skips)
    # --join create made each remote's secret in each primary, and none in a remote
    secret = r"(cluster-\d+): secret istio-system/istio-remote-secret-(cluster-\d+)"
    made = {m.groups() for r in out.summary["cleanup"]["removed"] if (m := re.fullmatch(secret, r))}
    assert made == {(p, o) for p in primaries for o in names if o != p}, out.tail(3000)
    spread = "one network" if networks == 1 else f"{networks} networks"
    assert out.summary["model"] == f"primary-remote, {spread}"
    assert {n: c["role"] for n, c in out.summary["clusters"].items()} == {
        n: "primary" if n in primaries else "remote" for n in names
    }


@pytest.mark.selftest_slow
def test_a_remote_named_in_per_cluster_revisions_is_judged_by_its_injector(tmp_path: Path) -> None:
    """--revision CTX=REV for every cluster, as a rollout script writes it, names a remote too: a
    remote runs no istiod, and the revision its injector webhook serves is the one it runs."""
    args = [f"--revision=cluster-{i}={REVISION}" for i in (1, 2)]
    out = run_lab(tmp_path, *PRIMARY_REMOTE, *args)
    assert out.returncode == 0 and not out.failures, out.tail(3000)
    assert out.outcomes.get("test_remote_uses_primary[cluster-2]") == "passed", out.tail(3000)


@pytest.mark.selftest_slow
def test_mixed_mesh_of_in_cluster_istiod_and_traffic_director_is_red_naming_both(tmp_path: Path) -> None:
    """A TRAFFIC_DIRECTOR cluster discovers only managed clusters that declare multicluster_mode; an
    in-cluster istiod cannot: exactly the declaration check of the in-cluster cluster fails, naming
    both, and the sync and calls that cannot work are skipped on it."""
    out = run_lab(tmp_path, f"--lab-control-plane=cluster-2={TD}")
    assert set(out.failures) == {"test_endpoint_discovery_declared[cluster-1]"}, out.tail(3000)
    message = out.failures["test_endpoint_discovery_declared[cluster-1]"]
    assert "cluster-2 discover other clusters by multicluster_mode" in message and "cluster-1 runs" in message
    assert out.skips[f"test_sidecar_synced[{PAIR}]"].startswith("test_endpoint_discovery_declared[cluster-1]")
