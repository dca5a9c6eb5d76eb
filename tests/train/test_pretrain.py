"""The embedded model's pretraining: its schedule, its data (not the tasks' splits) and its batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pr1bench.train.pretrain import MIXTURE, Batcher, Recipe, Stream, lr_at, schedule


def test_schedule_is_a_pure_function_of_seed_and_step_and_follows_the_mixture() -> None:
    r = Recipe(steps=4000)
    names = [schedule(r, s)[0] for s in range(4000)]
    assert names[:50] == [schedule(r, s)[0] for s in range(50)]
    w = {k: v.weight for k, v in MIXTURE.items()}
    total = sum(w.values())
    for name, weight in w.items():
        assert abs(names.count(name) / 4000 - weight / total) < 0.03, name
    assert names != [schedule(Recipe(steps=4000, seed=1), s)[0] for s in range(4000)]


def test_lr_warms_up_then_decays_to_the_floor() -> None:
    r = Recipe(steps=1000, warmup=100, lr=1e-3, min_lr_frac=0.05)
    assert lr_at(r, 0) == pytest.approx(1e-5)
    assert lr_at(r, 99) == pytest.approx(1e-3, rel=0.03)  # the cosine runs from step 0
    assert lr_at(r, 999) == pytest.approx(5e-5)
    assert all(lr_at(r, s) >= lr_at(r, s + 1) for s in range(100, 999))


def test_recipe_digest_changes_with_the_recipe() -> None:
    assert Recipe().digest() == Recipe().digest() != Recipe(steps=10).digest()


def test_pretraining_draws_an_easier_distribution_than_the_task_and_never_its_images() -> None:
    from pr1bench.dataset import build_rows

    s = Stream("counting", MIXTURE["counting"], seed=0)
    rows = s.rows(0, 40, np.random.default_rng(0), cot_fraction=0.0)
    counts = [a.count("], [") + 1 for _, _, a in rows]
    assert max(counts) <= 8 < 10  # the task has 1-10 objects
    assert {p for _, p, _ in rows} - {s.task.prompt.format(label=x) for x in ("red circles", "blue squares",
                                                                                "green triangles")}
    task_images = {r.image.tobytes() for r in build_rows(s.task, "eval", n=40)}
    task_images |= {r.image.tobytes() for r in build_rows(s.task, "train", n=40)}
    assert not task_images & {im.tobytes() for im, _, _ in rows}
    later = s.rows(20, 5, np.random.default_rng(0), cot_fraction=0.0)  # per-index seeding: same images
    assert [im.tobytes() for im, _, _ in later] == [im.tobytes() for im, _, _ in rows[20:25]]


def test_cot_rows_use_the_think_answer_shape() -> None:
    s = Stream("ocr", MIXTURE["ocr"], seed=0)
    rows = s.rows(0, 10, np.random.default_rng(0), cot_fraction=1.0)
    assert all(a.startswith("<think>") and a.endswith("</answer>") and "<think>" in p for _, p, a in rows)


def test_batches_match_what_trl_feeds_the_model(raw_tiny: Path) -> None:
    """The plain loop and TRL's SFT collator must train on the same tokens, images and positions."""
    pytest.importorskip("trl")
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from pr1bench.dataset import build_rows
    from pr1bench.spec import load_task
    from pr1bench.train.phases import sft_example
    from pr1bench.train.pretrain import answer_loss

    torch.set_num_threads(1)
    processor = AutoProcessor.from_pretrained(raw_tiny)
    model = AutoModelForImageTextToText.from_pretrained(raw_tiny).eval()
    rows = build_rows(load_task("detection"), "train", n=6)
    trl = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)(
        [sft_example(r, None) for r in rows])
    mine = Batcher(processor)([(r.image, r.prompt_text, r.answer) for r in rows])
    assert torch.equal(trl["pixel_values"], mine["pixel_values"])
    for i in range(len(rows)):
        n = int(mine["attention_mask"][i].sum())
        assert trl["input_ids"][i][:n].tolist() == mine["input_ids"][i][:n].tolist()
        assert trl["mm_token_type_ids"][i][:n].tolist() == mine["mm_token_type_ids"][i][:n].tolist()
        trl_lab, my_lab = trl["labels"][i] != -100, mine["labels"][i] != -100
        assert trl_lab[:n].tolist() == my_lab[:n].tolist()  # TRL also labels the "\n" after <|im_end|>
        assert int(trl_lab.sum()) == int(my_lab.sum()) + 1
    with torch.no_grad():
        assert float(answer_loss(model, mine)) == pytest.approx(float(model(**trl).loss), rel=0.05)


def test_stage2_recipe_continues_from_stage1_and_keeps_stage1_digests_unchanged() -> None:
    from pr1bench.train.pretrain import STAGE2_MIXTURE, stage2_recipe

    s1 = Recipe()
    assert s1.init is None and s1.digest() == "f1ee042ded009e3c"  # the shipped stage 1: its digest must not move
    s2 = stage2_recipe()
    assert s2.init == f"recipe:{s1.digest()}" and s2.vision_steps == 0
    assert s2.digest() != stage2_recipe("0" * 16).digest()  # another stage 1 makes another stage 2
    assert s2.mixture["detection"]["data"] == {"n_objects": [1, 10]} == STAGE2_MIXTURE["detection"].data
    assert s2.mixture["detection"]["weight"] > max(v["weight"] for k, v in s2.mixture.items() if k != "detection")


def test_a_continuation_refuses_a_base_that_is_not_the_previous_stage(raw_tiny: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from pr1bench.embedded import STAGE1_DIR
    from pr1bench.train.pretrain import continuation, earlier_stages, stage2_recipe, stage_of

    assert stage_of(STAGE1_DIR) == (1, Recipe().digest())
    assert continuation(2, STAGE1_DIR) == stage2_recipe()
    with pytest.raises(SystemExit, match="not a pretrained pr1bench checkpoint"):
        stage_of(raw_tiny)
    with pytest.raises(SystemExit, match="no stage 99"):
        continuation(99, STAGE1_DIR)
    s2 = tmp_path / "s2"  # a stage-2 output: stage 1's record moves to earlier_stages
    shutil.copytree(STAGE1_DIR, s2, ignore=shutil.ignore_patterns("*.safetensors"))
    m = json.loads((s2 / "pr1bench_model.json").read_text())
    m["earlier_stages"] = [m["pretrain"]]
    (s2 / "pr1bench_model.json").write_text(json.dumps(m))
    assert stage_of(s2)[0] == 2 and earlier_stages(m) == [m["pretrain"]]
    with pytest.raises(SystemExit, match="output of stage 2; stage 2 continues from stage 1"):
        continuation(2, s2)
