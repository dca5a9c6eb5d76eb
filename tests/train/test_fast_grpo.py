"""The shared-prompt GRPO trainer gives TRL's GRPOTrainer's results: same completions, loss, rewards and update.

Tiny random-init models of each Qwen-VL family and 2 prompts x 4 completions. A random-init model earns no
task reward, so the reward here is a function of the completion text (its length and characters): the
advantages are non-zero, so the loss, the KL and the update really depend on every log-prob pass.
The speed itself is measured by benchmarks/bench_step.py, not here.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
import tinyfamily  # noqa: E402

from pr1bench.dataset import build_rows  # noqa: E402
from pr1bench.runspec import GRPO_DEFAULTS  # noqa: E402
from pr1bench.spec import load_task  # noqa: E402
from pr1bench.train.fast_grpo import SharedPromptGRPOTrainer, grpo_trainer_class, prompt_groups  # noqa: E402
from pr1bench.train.phases import build_grpo_trainer  # noqa: E402


class TextReward:
    """A reward that varies between completions of one prompt: (length + sum of character codes) mod 7."""

    __name__ = "text_reward"

    def __call__(self, completions: list[Any], **_: Any) -> list[float]:
        texts = [c[0]["content"] if isinstance(c, list) else str(c) for c in completions]
        return [float((len(t) + sum(map(ord, t))) % 7) for t in texts]


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {f: tinyfamily.build(f, root / f) for f in tinyfamily.FAMILIES}


def _train(model_dir: Path, cls: type, steps: int = 2) -> dict[str, Any]:
    from transformers import TrainerCallback, set_seed

    torch.set_num_threads(1)
    task = load_task("counting")
    rows = build_rows(task, "train", n=8)
    logs: list[dict[str, Any]] = []

    class Rec(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                rec.append(dict(logs))

    rec = logs
    set_seed(0)
    cfg = {**GRPO_DEFAULTS, "per_device_train_batch_size": 8, "num_generations": 4, "max_steps": steps,
           "logging_steps": 1, "save_strategy": "no", "learning_rate": 0.1, "temperature": 1.0,
           "optim": "sgd"}  # SGD: the update is linear in the gradient (Adam would blow up ~0 vs ~1e-9 entries)
    tr, _ = build_grpo_trainer(model_path=str(model_dir), rows=rows, system=None,
                               ckpt_dir=Path(tempfile.mkdtemp(prefix="fastgrpo-")), seed=0, trainer_cfg=cfg,
                               reward_funcs=[TextReward()], reward_weights=[1.0], max_completion_length=12,
                               callbacks=[Rec()], trainer_cls=cls)
    tr.train()
    return {"logs": logs, "completions": list(tr._logs["completion"]),
            "params": torch.cat([p.detach().flatten() for p in tr.model.parameters()]),
            "stats": getattr(tr, "shared_stats", None)}


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_shared_trainer_matches_trl(family_dirs: dict[str, Path], family: str) -> None:
    from trl import GRPOTrainer

    plain = _train(family_dirs[family], GRPOTrainer)
    shared = _train(family_dirs[family], SharedPromptGRPOTrainer)
    stats = shared["stats"]
    # the shared paths really ran (a silent fallback to TRL's code would pass the comparisons trivially)
    assert stats["logp_shared"] >= 2 and stats["logp_plain"] == 0 and stats["images_shared"] == 2, stats
    # generation is shared for Qwen2-VL and Qwen2.5-VL (transformers cannot expand Qwen3-VL's deepstack features)
    assert stats["gen_shared"] == (0 if family == "qwen3_vl" else 2), stats
    a, b = plain["logs"], shared["logs"]
    assert len(a) == len(b) == 2
    assert a[0]["reward_std"] > 0 and a[0]["loss"] != 0  # the comparison is not of zeros
    assert shared["completions"] == plain["completions"]
    for x, y in zip(a, b, strict=True):
        # same completions, so the same rewards exactly; the loss sums the same float32 terms in another order
        assert x["reward"] == y["reward"] and x["completions/mean_length"] == y["completions/mean_length"]
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-4, abs=1e-6)
        assert y["kl"] == pytest.approx(x["kl"], rel=1e-3, abs=1e-7)
        assert y["grad_norm"] == pytest.approx(x["grad_norm"], rel=1e-4)
    from transformers import AutoModelForImageTextToText

    start = AutoModelForImageTextToText.from_pretrained(family_dirs[family]).parameters()
    moved = (plain["params"] - torch.cat([p.detach().flatten() for p in start])).abs().max()
    assert moved > 1e-3 and torch.allclose(plain["params"], shared["params"], atol=1e-6, rtol=1e-5)


def test_prompt_groups_compare_pixels_not_only_tokens() -> None:
    ids = torch.tensor([[5, 6, 7]] * 4)
    mask = torch.ones_like(ids)
    grid = torch.tensor([[1, 2, 2]] * 4)
    img_a, img_b = torch.zeros(4, 3), torch.ones(4, 3)
    # rows 0 and 2 show image A, rows 1 and 3 image B: same prompt text, two groups
    pv = torch.cat([img_a, img_b, img_a, img_b])
    reps, inverse = prompt_groups(ids, mask, pv, grid, [1, 1, 1, 1])
    assert reps.tolist() == [0, 1] and inverse.tolist() == [0, 1, 0, 1]
    # every row distinct: nothing to share
    assert prompt_groups(ids, mask, torch.cat([img_a, img_b, img_a + 2, img_b + 2]), grid, [1] * 4) is None
    # images without their pixels cannot be compared
    assert prompt_groups(ids, mask, None, grid, [1] * 4) is None


def test_plain_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from trl import GRPOTrainer

    assert grpo_trainer_class() is SharedPromptGRPOTrainer
    monkeypatch.setenv("PR1BENCH_GRPO_TRAINER", "plain")
    assert grpo_trainer_class() is GRPOTrainer
    monkeypatch.setenv("PR1BENCH_GRPO_TRAINER", "fast")
    with pytest.raises(ValueError, match="PR1BENCH_GRPO_TRAINER"):
        grpo_trainer_class()


def test_compact_sft_head_matches_trl(family_dirs: dict[str, Path]) -> None:
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback, set_seed
    from trl import SFTConfig

    from pr1bench.train.fast_sft import compact_sft_trainer
    from pr1bench.train.phases import _common_args, grouped_sft_trainer, sft_example

    torch.set_num_threads(1)
    task = load_task("counting")
    rows = build_rows(task, "train", n=8)
    ds = Dataset.from_list([sft_example(r, None) for r in rows])
    model_dir = family_dirs["qwen2_vl"]
    base = grouped_sft_trainer([len(r.answer) for r in rows])
    out = []
    for cls in (base, compact_sft_trainer(base)):
        logs: list[dict[str, Any]] = []

        class Log(TrainerCallback):
            def __init__(self, sink: list[dict[str, Any]]):
                self.sink = sink

            def on_log(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                if kw.get("logs") and "loss" in kw["logs"]:
                    self.sink.append(dict(kw["logs"]))

        set_seed(0)
        args = SFTConfig(**_common_args(Path(tempfile.mkdtemp(prefix="fastsft-")), 0, {
            "max_length": None, "completion_only_loss": True, "per_device_train_batch_size": 4, "max_steps": 2,
            "logging_steps": 1, "save_strategy": "no", "learning_rate": 0.1, "optim": "sgd",
            "gradient_checkpointing": False}))
        tr = cls(model=AutoModelForImageTextToText.from_pretrained(model_dir), args=args, train_dataset=ds,
                 processing_class=AutoProcessor.from_pretrained(model_dir), callbacks=[Log(logs)])
        assert getattr(tr, "compact_head", cls is not base) is (cls is not base)  # the compact head is in place
        tr.train()
        out.append((logs, torch.cat([p.detach().flatten() for p in tr.model.parameters()])))
    (la, pa), (lb, pb) = out
    assert len(la) == len(lb) == 2 and la[0]["loss"] > 0
    for x, y in zip(la, lb, strict=True):
        for k in ("loss", "entropy", "mean_token_accuracy", "grad_norm"):
            assert y[k] == pytest.approx(x[k], rel=1e-5, abs=1e-7), k
    assert torch.allclose(pa, pb, atol=1e-6, rtol=1e-5)
