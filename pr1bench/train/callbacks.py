"""Trainer callbacks: the metrics stream (``metrics.jsonl``) and intermediate evaluation for pruning."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else None
    return None


class MetricsWriter(TrainerCallback):
    """Append every trainer log (loss, rewards per term, kl, entropy, lengths, lr, step time) as one JSON line.

    The file is flushed and fsynced per line so the parent's progress bar and a killed run both see every
    completed log step. On resume, lines past the checkpoint's step are dropped first (they will be re-logged).
    """

    def __init__(self, path: Path, phase: str):
        self.path, self.phase = path, phase
        self._last = time.time()

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill: drop it, it will be logged again
            if rec.get("phase") != self.phase or int(rec.get("step", 0)) <= step:
                keep.append(line)
        self.path.write_text("".join(f"{x}\n" for x in keep))

    def write(self, step: int, epoch: float | None, values: dict[str, Any]) -> None:
        rec: dict[str, Any] = {"step": int(step), "epoch": float(epoch or 0.0), "time": time.time(), "phase": self.phase}
        for k, v in values.items():
            if isinstance(v, int | float | bool):
                rec[k] = _finite_or_none(v)
        with self.path.open("a") as f:
            f.write(json.dumps(rec, allow_nan=False) + "\n")
            f.flush()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        values = dict(logs)
        now = time.time()
        values.setdefault("wall_since_last_log", now - self._last)
        self._last = now
        self.write(state.global_step, state.epoch, values)


class IntermediateEval(TrainerCallback):
    """Greedy evaluation on a small fixed eval subset every ``every`` steps, logged as ``eval/<metric>``.

    Sweeps read these lines to report intermediate values to Optuna's pruner; the study report draws them as
    learning curves of both phases (SFT and GRPO). Each line also carries ``eval/seconds``, the evaluation's own
    wall time: it runs inside the training loop, so the trainer's ``train_runtime`` includes it, and the study's
    compute table subtracts it to state training seconds alone.
    """

    def __init__(self, evaluator: Any, writer: MetricsWriter, every: int):
        self.evaluator, self.writer, self.every = evaluator, writer, every
        self.model: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        self.model = model

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        if state.global_step % self.every or not state.is_world_process_zero:
            return
        m = model or self.model
        was_training = m.training
        m.eval()
        start = time.perf_counter()
        try:
            summary = self.evaluator(m)
        finally:
            if was_training:
                m.train()
        values = {f"eval/{k}": v for k, v in summary.items()}
        values["eval/seconds"] = time.perf_counter() - start
        self.writer.write(state.global_step, state.epoch, values)
