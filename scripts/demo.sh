#!/usr/bin/env bash
# The README's main job on the embedded default (2 CPU cores): warm up the tiny model, then ask the paper's
# question on synthetic counting — base vs SFT vs GRPO vs CoT-GRPO — and store every metric in DuckDB.
# Run: bash scripts/demo.sh        (after the install in README command (a))
set -euo pipefail
PR1=${PR1BENCH:-pr1bench}
$PR1 tasks validate
$PR1 model bootstrap
$PR1 eval counting
$PR1 train counting --variant sft
$PR1 train counting --variant grpo
$PR1 train counting --variant cot-grpo
if $PR1 sql --help >/dev/null 2>&1; then
  $PR1 sql "SELECT variant, metric, round(value, 3) AS value, n FROM final_metrics WHERE task = 'counting' AND metric IN ('acc', 'reward_sampled') ORDER BY metric, variant"
fi
