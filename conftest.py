"""pytest wiring for the conformance suite: options, lab, session fixtures, reports (see fixtures/).

meshconform_options is also the pytest11 entry point `pip install -e .` installs; pytest registers a
plugin name once, so listing it here only matters in a checkout that was never installed (there,
write path options as `--report-dir=DIR`: see docs/real-clusters.md).
"""

pytest_plugins = ["meshconform_options", "fixtures.mesh", "fixtures.reporting", "fixtures.plugin"]
