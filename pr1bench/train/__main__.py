"""`python -m pr1bench.train RUN_DIR` (what `accelerate launch` starts)."""

from __future__ import annotations

import sys

from pr1bench.train.entry import main

if __name__ == "__main__":
    sys.exit(main())
