"""PyYAML's safe loader and dumper, libyaml's when PyYAML was built with it (as its wheels are).

Why: the pure-Python loader spends milliseconds on a kubeconfig's long base64 scalars, and a run
parses one per remote secret and per pod annotation; profiled with the benchmark. Same safety: the C
loader builds only the safe constructor's plain types.
"""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The join writes one kubeconfig per ordered pair: the pure-Python emitter took about 7 ms for each
# (its long base64 and token scalars), 2.9 s of CPU for 380 pairs at 20 clusters, against 0.3 s
# with libyaml's; the text is the same.
SAFE_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
