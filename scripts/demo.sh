#!/usr/bin/env bash
# The README's main job on the embedded default (2 CPU cores): warm up the tiny model, run the detection
# sweep, train the baselines with the sweep's base settings, and print the report (Markdown, plus plots).
# Run: bash scripts/demo.sh        (after the install in README command (a)); results land in ./results
set -euo pipefail
PR1=${PR1BENCH:-pr1bench}
OUT=${PR1BENCH_REPORT_DIR:-results/report}
# The same small detection setting as sweeps/detection.yaml's base, so every row of the table is comparable.
QUICK=(data.train=64 "data.n_objects=[1, 3]" generation.max_new_tokens=48 eval.n=24 eval.batch_size=24)
$PR1 tasks validate
$PR1 model bootstrap
$PR1 eval detection "${QUICK[@]}"
$PR1 train detection --variant sft "${QUICK[@]}" max_steps=40 per_device_train_batch_size=8
$PR1 train detection --variant grpo "${QUICK[@]}" max_steps=40 per_device_train_batch_size=8 num_generations=8
$PR1 sweep detection --trials 6 --jobs 2
$PR1 report --tasks detection --sweep detection --format markdown --out "$OUT"
