#!/usr/bin/env bash
# The nightly gate's one command, shared by the GitHub, GitLab and Cloud Build setups beside it.
# Fetches a kube context per cluster with `gcloud container clusters get-credentials` (which needs
# gke-gcloud-auth-plugin, as kubectl does), then runs the suite against all of them.
#
#   MESHCONFORM_PROJECT   Google Cloud project of the clusters
#   MESHCONFORM_CLUSTERS  "LOCATION/NAME LOCATION/NAME ...", e.g. "us-central1-a/cluster-1 us-east1-b/cluster-2"
#   MESHCONFORM_JOIN      verify (default: the gate checks the mesh as it is and writes nothing in
#                         istio-system), or create (then bind ci/rbac/meshconform-join.yaml too)
#   MESHCONFORM_ARGS      more pytest options, e.g. "--revision asm-1285-9 --requests 100"
#   MESHCONFORM_NAMESPACE the run's namespace (default: meshconform-nightly)
#   MESHCONFORM_REPORT_DIR where report.html, junit.xml and summary.json go (default: reports)
#
# Exit code: pytest's. 0 every check passed; 1 a check failed; 4 the run was refused before any
# test (expired credentials, a context or cluster that is gone, a bad option): reports/ then
# still holds junit.xml with one error, summary.json ("verdict": "refused") and report.html.
set -euo pipefail
cd "$(dirname "$0")/.."  # the suite's checkout: its conftest.py, tests/ and pyproject.toml

: "${MESHCONFORM_PROJECT:?set MESHCONFORM_PROJECT to the project of the clusters}"
: "${MESHCONFORM_CLUSTERS:?set MESHCONFORM_CLUSTERS to \"LOCATION/NAME ...\"}"
export KUBECONFIG="${KUBECONFIG:-$PWD/.nightly-kubeconfig}"
export USE_GKE_GCLOUD_AUTH_PLUGIN=True

contexts=()
for cluster in $MESHCONFORM_CLUSTERS; do
  location=${cluster%%/*}
  name=${cluster#*/}
  gcloud container clusters get-credentials "$name" --location "$location" --project "$MESHCONFORM_PROJECT"
  contexts+=("--ctx=gke_${MESHCONFORM_PROJECT}_${location}_${name}")
done

# shellcheck disable=SC2086  # MESHCONFORM_ARGS is a list of options, split on purpose
exec python -m pytest -p no:cacheprovider "${contexts[@]}" \
  --join="${MESHCONFORM_JOIN:-verify}" \
  --namespace="${MESHCONFORM_NAMESPACE:-meshconform-nightly}" \
  --report-dir="${MESHCONFORM_REPORT_DIR:-reports}" ${MESHCONFORM_ARGS:-}
