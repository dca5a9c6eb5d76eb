#!/usr/bin/env bash
# The README's main job on the embedded default (2 CPU cores): show the shipped tiny model, run the quick form of the
# replication study (base, SFT, GRPO and CoT-GRPO on the four synthetic tasks, one seed, counting scored on 1,000
# images), the detection sweep, and print both reports (Markdown, plus plots).
# Run: bash scripts/demo.sh        (after the install in README command (a)); results land in ./results
set -euo pipefail
PR1=${PR1BENCH:-pr1bench}
OUT=${PR1BENCH_REPORT_DIR:-results/report}
$PR1 tasks validate
$PR1 model info embedded        # the shipped checkpoint: nothing is trained before the study starts
$PR1 study run embedded --quick --report results/study-quick
cat results/study-quick/study.md
$PR1 sweep detection --trials 6 --jobs 2 --resume   # --resume: a second run of this script continues the sweep
$PR1 report --tasks detection --sweep detection --format markdown --out "$OUT"
