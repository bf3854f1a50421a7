"""``python -m meshconform.bench``."""

import sys

from meshconform.bench.cli import main

sys.exit(main())
