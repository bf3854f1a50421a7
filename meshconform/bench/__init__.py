"""The benchmark: the suite against the lab, clusters x requests, as ratios (`nox -s bench`).

`cli` starts the lab in its own process and drives `driver` (a warm pytest runner) through the
matrix; `figures` holds the arithmetic and the printout. Stands alone beside the suite's layers.
"""
