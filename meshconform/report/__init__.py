"""What a run tells people and machines: report.html extras, summary.json, diagnostics, hints.

The library half of reporting; the pytest half (hooks, pytest-html extras, JUnit properties,
live progress) is fixtures/reporting.py. Modules:

- hints: per check, the likely fix and Istio/ASM documentation links, and its area.
- evidence: the facts each check judged, per test.
- matrix, svg: the traffic matrix (source cluster x version) and its inline SVG chart.
- grid: the check outcomes as grids, the pair checks as source x target matrices.
- groups: many targets named in a few words (`cluster-3->*`), for the terminal and the verdict.
- sections, gather: diagnostics read from the clusters when a check fails, bounded.
- html: the fragments pytest-html shows; summary: summary.json (docs/summary.schema.json).
- redact (meshconform.kube.redact, a leaf the API layer uses too): the last line of defence against a
  secret in any output.

Nothing here imports pytest; nothing here ever holds a token (fingerprints stand in).
"""

from meshconform.kube.redact import redact

__all__ = ["redact"]
