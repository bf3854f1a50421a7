"""``python -m meshconform.kind``."""

import sys

from meshconform.kind.cli import main

sys.exit(main())
