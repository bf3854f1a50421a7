"""PyYAML's safe loader, libyaml's when PyYAML was built with it (as its wheels are).

Why: the pure-Python loader spends milliseconds on a kubeconfig's long base64 scalars, and a run
parses one per remote secret and per pod annotation; profiled for issue 6. Same safety: the C
loader builds only the safe constructor's plain types.
"""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
