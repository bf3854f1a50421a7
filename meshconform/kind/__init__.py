"""A real two-cluster Istio mesh on kind, and the suite run on it (`python -m meshconform.kind`).

`plan` is the ordered plan as data (what `--dry-run` prints), `certs` the shared root CA and
per-cluster intermediates, `cli` the command that executes the plan. Stands alone beside the
suite's layers.
"""
