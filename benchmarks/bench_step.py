"""Seconds per GRPO (and SFT) step: TRL's GRPOTrainer as run_grpo built it (baseline) vs the shared-prompt trainer.

Both trainers are built by ``pr1bench.train.phases.build_grpo_trainer`` (the harness's own construction: task
rows, rewards, GRPO_DEFAULTS, one torch thread) with the same seed, and train side by side in one process:
each runs in its own thread, but a baton lets only one of them run at a time and alternates them step by step
(a trainer holds it from the end of one step to the end of the next, so its step time includes fetching and
collating the batch and logging), and each trainer's RNG state is swapped in and out with the baton. So both see the same machine load
at the same moments and the same random stream: their completions, losses and rewards must agree, which the
script checks (first-step loss and reward, every step's reward and completion length; tolerances below).

Printed per task: seconds per step (median of the timed steps, warm-up dropped), completions per second, the
ratio against the baseline, and a profile of the step split into generation (prefill / decode / rest of
generate), log-prob passes (reference, old policy, policy forward), backward, optimizer, rewards and the rest.
Then the same for SFT (the harness's grouped SFTTrainer vs the compact-head one) and the cost of one full
embedded study (studies/embedded.yaml's ~70 runs) at GRPO 400 steps x 8 prompts x 8 completions, SFT at the
same seconds, before and after.

Usage: python benchmarks/bench_step.py [--tasks counting,detection] [--steps 8] [--warmup 2] [--model DIR]
       [--no-sft] [--no-study] [--ablate]    (run under `nice`; one torch thread per trainer)
--ablate also trains the shared-prompt trainer with its parts added one at a time, all side by side.
"""

from __future__ import annotations

import argparse
import collections
import functools
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-6
"""First-step loss: |a-b| <= atol + rtol*|b|. The two trainers sum the same float32 terms in a different order
(one prompt pass instead of G copies, completion-only LM head): measured differences are ~1e-8 to 1e-6."""
REWARD_ATOL = 1e-6
"""Rewards come from the same completions, so they must match to float print precision."""


class Baton:
    """Lets one trainer at a time run a step, alternating in a fixed order; a finished trainer drops out."""

    def __init__(self, n: int):
        self.cond = threading.Condition()
        self.n, self.turn, self.done = n, 0, set()

    def acquire(self, i: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.turn == i)

    def release(self, i: int) -> None:
        with self.cond:
            for k in range(1, self.n + 1):
                nxt = (i + k) % self.n
                if nxt not in self.done:
                    self.turn = nxt
                    break
            self.cond.notify_all()

    def finish(self, i: int) -> None:
        with self.cond:
            self.done.add(i)
        if self.turn == i:
            self.release(i)


def _rng_get() -> tuple[Any, ...]:
    import numpy as np
    import torch

    return torch.get_rng_state(), random.getstate(), np.random.get_state()


def _rng_set(state: tuple[Any, ...]) -> None:
    import numpy as np
    import torch

    torch.set_rng_state(state[0])
    random.setstate(state[1])
    np.random.set_state(state[2])


class Timers:
    """Section timers hooked onto one trainer (instance attributes and module hooks only, never the class)."""

    def __init__(self) -> None:
        self.t: dict[str, float] = collections.defaultdict(float)
        self.in_gen = False
        self.n_fwd = 0
        self.t_fwd = 0.0

    def add(self, k: str, v: float) -> None:
        self.t[k] += v

    def wrap(self, obj: Any, name: str, key: Any) -> None:
        f = getattr(obj, name)

        def g(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                self.add(key(a, k) if callable(key) else key, time.perf_counter() - t0)

        setattr(obj, name, g)

    def install(self, tr: Any) -> None:
        import torch

        def gen(*a: Any, **k: Any) -> Any:
            self.in_gen, self.n_fwd = True, 0
            try:
                return f_gen(*a, **k)
            finally:
                self.in_gen = False

        f_gen = tr._generate_single_turn
        tr._generate_single_turn = gen
        self.wrap(tr, "_generate_single_turn", "gen: total")
        self.wrap(tr, "_calculate_rewards", "rewards")
        self.wrap(tr.accelerator, "backward", "backward")

        def lp_key(a: tuple[Any, ...], k: dict[str, Any]) -> str:
            if a[0] is tr.ref_model:
                return "logp: reference"
            return "logp: policy fwd (grad)" if torch.is_grad_enabled() else "logp: old policy"

        self.wrap(tr, "_get_per_token_logps_and_entropies", lp_key)
        model = tr.model

        def pre(_m: Any, _a: Any) -> None:
            if self.in_gen:
                self.t_fwd = time.perf_counter()

        def post(_m: Any, _a: Any, _o: Any) -> None:
            if self.in_gen:
                self.add("gen: prefill" if self.n_fwd == 0 else "gen: decode fwd", time.perf_counter() - self.t_fwd)
                self.n_fwd += 1

        model.register_forward_pre_hook(pre)
        model.register_forward_hook(post)


def _make_callback(i: int, baton: Baton, seed: int, rec: dict[str, Any], timers: Timers | None) -> Any:
    from transformers import TrainerCallback, set_seed

    class Turn(TrainerCallback):
        """Holds the baton from the end of one step to the end of the next: data loading, logging, the step."""

        rng: Any = None

        def _start(self) -> None:
            baton.acquire(i)
            if self.rng is None:
                set_seed(seed)
            else:
                _rng_set(self.rng)
            if timers is not None:
                timers.t.clear()
            self.t0 = time.perf_counter()

        def on_train_begin(self, *a: Any, **kw: Any) -> None:
            self._start()

        def on_pre_optimizer_step(self, *a: Any, **kw: Any) -> None:
            self.o = time.perf_counter()

        def on_optimizer_step(self, *a: Any, **kw: Any) -> None:
            if timers is not None:
                timers.add("optimizer", time.perf_counter() - self.o)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            rec["t"].append(time.perf_counter() - self.t0)
            if timers is not None:
                rec["sections"].append(dict(timers.t))
            self.rng = _rng_get()
            baton.release(i)
            if state.global_step < state.max_steps:
                self._start()

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                rec["logs"].append(dict(logs))

        def on_train_end(self, *a: Any, **kw: Any) -> None:
            baton.finish(i)

    return Turn()


def _side_by_side(builders: list[Any], steps: int, seed: int, profile: bool) -> list[dict[str, Any]]:
    """Train each (name, build(callbacks) -> trainer) for ``steps`` steps, alternating step by step."""
    baton = Baton(len(builders))
    recs: list[dict[str, Any]] = []
    trainers = []
    for i, build in enumerate(builders):
        rec: dict[str, Any] = {"t": [], "logs": [], "sections": []}
        timers = Timers() if profile else None
        tr = build([_make_callback(i, baton, seed, rec, timers)])
        if timers is not None:
            timers.install(tr)
        rec["trainer"] = tr
        recs.append(rec)
        trainers.append(tr)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            trainers[i].train()
        except BaseException as e:  # report after the other thread is done
            errors.append(e)
            baton.finish(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(trainers))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return recs


ABLATION = [("logps",), ("logps", "length_chunks"), ("logps", "length_chunks", "generation"),
            ("logps", "length_chunks", "generation", "preprocessing")]
"""Cumulative sets of the shared-prompt parts for --ablate (pr1bench.train.fast_grpo.PARTS)."""


def _grpo_builders(task_name: str, model: str, batch: int, gens: int, steps: int, ablate: bool = False
                   ) -> list[Any]:
    from trl import GRPOTrainer

    from pr1bench.dataset import build_rows
    from pr1bench.runspec import GRPO_DEFAULTS
    from pr1bench.spec import load_task
    from pr1bench.task_rewards import build_task_rewards
    from pr1bench.train.fast_grpo import SharedPromptGRPOTrainer
    from pr1bench.train.phases import build_grpo_trainer

    task = load_task(task_name)
    rows = build_rows(task, "train", n=max(4 * batch, 256))
    cfg = {**GRPO_DEFAULTS, "per_device_train_batch_size": batch, "num_generations": gens, "max_steps": steps,
           "logging_steps": 1, "save_strategy": "no"}

    def builder(cls: type) -> Any:
        def build(callbacks: list[Any]) -> Any:
            funcs, weights = build_task_rewards(task, cot=False)
            tr, _ = build_grpo_trainer(model_path=model, rows=rows, system=task.system_prompt,
                                       ckpt_dir=Path(tempfile.mkdtemp(prefix="bench-step-")), seed=0,
                                       trainer_cfg=cfg, reward_funcs=funcs, reward_weights=weights,
                                       max_completion_length=task.generation.max_new_tokens, callbacks=callbacks,
                                       trainer_cls=cls)
            return tr
        return build

    if not ablate:
        return [builder(GRPOTrainer), builder(SharedPromptGRPOTrainer)]
    return [builder(GRPOTrainer)] + [builder(functools.partial(SharedPromptGRPOTrainer, parts=p)) for p in ABLATION]


def _sft_builders(task_name: str, model: str, batch: int, steps: int) -> list[Any]:
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig

    from pr1bench.dataset import build_rows
    from pr1bench.runspec import SFT_DEFAULTS
    from pr1bench.spec import load_task
    from pr1bench.train.fast_sft import compact_sft_trainer
    from pr1bench.train.phases import _common_args, grouped_sft_trainer, sft_example

    task = load_task(task_name)
    rows = build_rows(task, "train", n=max(8 * batch, 256))
    ds = Dataset.from_list([sft_example(r, task.system_prompt) for r in rows])
    cfg = {"max_length": None, "completion_only_loss": True, **SFT_DEFAULTS, "per_device_train_batch_size": batch,
           "max_steps": steps, "logging_steps": 1, "save_strategy": "no"}
    base = grouped_sft_trainer([len(r.answer) for r in rows])

    def builder(cls: type) -> Any:
        def build(callbacks: list[Any]) -> Any:
            args = SFTConfig(**_common_args(Path(tempfile.mkdtemp(prefix="bench-sft-")), 0, cfg))
            return cls(model=AutoModelForImageTextToText.from_pretrained(model), args=args, train_dataset=ds,
                       processing_class=AutoProcessor.from_pretrained(model), callbacks=callbacks)
        return build

    return [builder(base), builder(compact_sft_trainer(base))]


def _median_after(xs: list[float], warmup: int) -> float:
    return statistics.median(xs[warmup:]) if len(xs) > warmup else float("nan")


def _profile_table(recs: list[dict[str, Any]], names: list[str], warmup: int) -> list[str]:
    keys: list[str] = []
    for r in recs:
        for s in r["sections"][warmup:]:
            keys += [k for k in s if k not in keys]
    order = ["gen: total", "gen: prefill", "gen: decode fwd", "logp: reference", "logp: old policy",
             "logp: policy fwd (grad)", "backward", "optimizer", "rewards"]
    keys = [k for k in order if k in keys] + [k for k in keys if k not in order]
    lines = [f"    {'section':26s}" + "".join(f"{n:>22s}" for n in names)]
    means = []
    for r in recs:
        secs = r["sections"][warmup:]
        means.append({k: statistics.mean(s.get(k, 0.0) for s in secs) for k in keys} if secs else {})
    steps = [statistics.mean(r["t"][warmup:]) for r in recs]
    for k in keys + ["rest"]:
        row = f"    {k:26s}"
        for m, st in zip(means, steps, strict=True):
            if k == "rest":
                v = st - sum(m.get(x, 0.0) for x in keys if x in ("gen: total", "logp: reference",
                             "logp: old policy", "logp: policy fwd (grad)", "backward", "optimizer", "rewards"))
            else:
                v = m.get(k, 0.0)
            row += f"{v:12.3f} s {100 * v / st:5.1f}%  "
        lines.append(row)
    lines.append("    (gen: total includes prefill and decode fwd; its remainder is sampling, padding and "
                 "generate's own bookkeeping; rest = step - gen - logp - backward - optimizer - rewards)")
    return lines


def _check_equal(recs: list[dict[str, Any]], what: str) -> tuple[bool, str]:
    a, b = recs[0]["logs"], recs[1]["logs"]
    if not a or not b:
        return False, f"{what}: no logged steps to compare"
    la, lb = a[0]["loss"], b[0]["loss"]
    ok = abs(la - lb) <= LOSS_ATOL + LOSS_RTOL * abs(lb)
    msg = f"{what}: first-step loss {la:.8g} vs {lb:.8g} (|diff| {abs(la - lb):.1e}, tol {LOSS_ATOL}+{LOSS_RTOL}*|b|)"
    if "reward" in a[0]:
        dr = max(abs(x["reward"] - y["reward"]) for x, y in zip(a, b, strict=False))
        dl = max(abs(x["completions/mean_length"] - y["completions/mean_length"]) for x, y in zip(a, b, strict=False))
        ok = ok and dr <= REWARD_ATOL and dl == 0
        msg += (f"; first-step reward {a[0]['reward']:.6g} vs {b[0]['reward']:.6g}; over {min(len(a), len(b))} "
                f"steps max |reward diff| {dr:.1e} (tol {REWARD_ATOL}), max |mean completion length diff| {dl:g}")
    else:
        dl = max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b, strict=False))
        msg += f"; over {min(len(a), len(b))} steps max |loss diff| {dl:.1e}"
    return ok, msg + ("  OK" if ok else "  MISMATCH")


def bench_grpo(task: str, a: argparse.Namespace) -> dict[str, float]:
    recs = _side_by_side(_grpo_builders(task, a.model, a.batch, a.gens, a.warmup + a.steps), a.warmup + a.steps,
                         0, profile=True)
    names = ["plain TRL (baseline)", "shared-prompt"]
    t = [_median_after(r["t"], a.warmup) for r in recs]
    lens = [statistics.mean(x["completions/mean_length"] for x in r["logs"][a.warmup:]) for r in recs]
    stats = recs[1]["trainer"].shared_stats
    print(f"\nGRPO step, {task}: {a.batch // a.gens} prompts x {a.gens} completions, median of {a.steps} steps "
          f"after {a.warmup} warm-up, one torch thread, interleaved step by step")
    for n, x in zip(names, t, strict=True):
        print(f"  {n:22s} {x:7.3f} s/step   {a.batch / x:7.1f} completions/s")
    print(f"  ratio: {t[0] / t[1]:.2f}x more optimizer steps per second than the baseline (plain TRL GRPOTrainer "
          f"as run_grpo built it); mean completion length {lens[0]:.1f} vs {lens[1]:.1f} tokens")
    print(f"  shared-path calls: {stats}")
    for line in _profile_table(recs, names, a.warmup):
        print(line)
    ok, msg = _check_equal(recs, "equivalence (same seed)")
    print("  " + msg)
    return {"plain": t[0], "shared": t[1], "ok": float(ok)}


def bench_ablation(task: str, a: argparse.Namespace) -> None:
    """Each shared-prompt part added in turn, all trainers side by side, so each part's gain is a measured ratio."""
    recs = _side_by_side(_grpo_builders(task, a.model, a.batch, a.gens, a.warmup + a.steps, ablate=True),
                         a.warmup + a.steps, 0, profile=False)
    t = [_median_after(r["t"], a.warmup) for r in recs]
    names = ["plain TRL (baseline)"] + ["+ " + p[-1] for p in ABLATION]
    print(f"\nwhat each part buys, {task} ({a.batch // a.gens} prompts x {a.gens}; parts added in turn, "
          f"{len(recs)} trainers interleaved step by step, median of {a.steps} steps)")
    for i, (n, x) in enumerate(zip(names, t, strict=True)):
        gain = "" if i == 0 else f"   this part: {t[i - 1] / x:.2f}x"
        print(f"  {n:24s} {x:7.3f} s/step   {t[0] / x:5.2f}x vs baseline{gain}")
    for r in recs[1:]:
        ok, msg = _check_equal([recs[0], r], "equivalence")
        if not ok:
            print("  " + msg)


def bench_sft(task: str, a: argparse.Namespace) -> dict[str, float]:
    recs = _side_by_side(_sft_builders(task, a.model, a.sft_batch, a.warmup + a.steps), a.warmup + a.steps, 0,
                         profile=False)
    t = [_median_after(r["t"], a.warmup) for r in recs]
    print(f"\nSFT step, {task}: batch {a.sft_batch}, median of {a.steps} steps after {a.warmup} warm-up, interleaved")
    for n, x in zip(["grouped SFTTrainer (baseline)", "compact LM head"], t, strict=True):
        print(f"  {n:30s} {x:7.3f} s/step   {a.sft_batch / x:7.1f} sequences/s")
    print(f"  ratio: {t[0] / t[1]:.2f}x (baseline: the SFTTrainer run_sft built before this change)")
    ok, msg = _check_equal(recs, "equivalence (same seed)")
    print("  " + msg)
    return {"plain": t[0], "shared": t[1], "ok": float(ok)}


def study_cost(grpo: dict[str, dict[str, float]], steps: int, jobs: int) -> None:
    """The embedded study at `steps` GRPO steps per GRPO phase, SFT runs at the same seconds, before and after."""
    from pr1bench.study.spec import load_study, plan

    spec, _ = load_study("embedded")
    runs = plan(spec)
    measured = sorted(grpo)
    per_task = collections.Counter()
    for r in runs:
        if r.variant == "base":
            continue
        phases = 2 if (r.variant == "sft-grpo" and not r.needs) else 1  # sft-grpo reuses its seed's SFT run
        per_task[r.task] += phases
    print(f"\nstudy cost, studies/embedded.yaml: {len(runs)} runs ({sum(per_task.values())} training phases; "
          f"base runs only evaluate), GRPO {steps} steps x 8 prompts x 8 completions per GRPO phase, each SFT "
          f"phase the same seconds, {jobs} jobs on {jobs} cores; training time only")
    tot = {"plain": 0.0, "shared": 0.0}
    for task, n in sorted(per_task.items()):
        src = task if task in grpo else "counting" if "counting" in grpo else measured[0]
        for k in tot:
            tot[k] += n * steps * grpo[src][k]
        note = "" if src == task else f" (step time of {src}: not measured for {task})"
        print(f"  {task:10s} {n:3d} phases x {steps} steps: {n * steps * grpo[src]['plain'] / 3600:6.2f} h -> "
              f"{n * steps * grpo[src]['shared'] / 3600:6.2f} h core time{note}")
    print(f"  total: {tot['plain'] / 3600 / jobs:.2f} h -> {tot['shared'] / 3600 / jobs:.2f} h wall on {jobs} cores "
          f"({tot['plain'] / tot['shared']:.2f}x); CoT-GRPO's longer completions are costed at GRPO's step time; "
          f"the hours use this run's step times, so they carry this machine's load at the time (the ratio is the "
          f"comparison)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="counting,detection")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per trainer")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64, help="per_device_train_batch_size (completions per step)")
    ap.add_argument("--gens", type=int, default=8, help="num_generations")
    ap.add_argument("--sft-batch", type=int, default=16)
    ap.add_argument("--sft-task", default="counting")
    ap.add_argument("--model", default=None, help="model dir (default: the shipped embedded model)")
    ap.add_argument("--no-sft", action="store_true")
    ap.add_argument("--no-study", action="store_true")
    ap.add_argument("--ablate", action="store_true", help="also time each shared-prompt part added in turn (first "
                    "task only)")
    ap.add_argument("--study-steps", type=int, default=400)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from pr1bench.embedded import resolve_model

    a.model = resolve_model(a.model)
    print(f"model: {a.model}; torch threads: {torch.get_num_threads()}")
    grpo = {t: bench_grpo(t, a) for t in a.tasks.split(",") if t}
    if a.ablate and grpo:
        bench_ablation(a.tasks.split(",")[0], a)
    sft = {} if a.no_sft else {a.sft_task: bench_sft(a.sft_task, a)}
    if not a.no_study and grpo:
        study_cost(grpo, a.study_steps, 2)
    bad = [k for k, v in {**grpo, **{f"sft-{k}": v for k, v in sft.items()}}.items() if not v["ok"]]
    if bad:
        print(f"\nequivalence check FAILED for {bad}")
        sys.exit(1)


if __name__ == "__main__":
    main()
