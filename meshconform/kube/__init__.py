"""The Kubernetes API layer: everything that talks to an API server and knows nothing of Istio.

Clients per context (`client`), the errors they raise (`errors`), waits that watch with a deadline
(`waits`), one call per cluster at a time (`fanout`), label selectors (`selectors`), safe YAML
(`yamlload`) and the redaction every output passes (`redact`). Nothing here imports the mesh, the
run, the checks or the report.
"""
