"""`python -m pr1bench.train.build_tiny OUT_DIR [--seed N]`: build the tiny model in a subprocess.

The CLI process never imports torch for a model build; it runs this module instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    from pr1bench.models.tiny import build_tiny

    build_tiny(a.out_dir, seed=a.seed, overwrite=a.overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
