"""`pr1bench ...` with the fake training child patched in (for tests that kill the driver process itself)."""

from __future__ import annotations

import sys
from pathlib import Path

import pr1bench.launch as launch

FAKE = Path(__file__).with_name("fake_train.py")
launch.build_command = lambda spec, run_dir: [sys.executable, str(FAKE), str(run_dir)]

from pr1bench.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "pr1bench"
    main()
