"""The embedded model that ships in the package: intact, identified, and able to see (a real floor, not a smoke test)."""

from __future__ import annotations

import json

import pytest

from pr1bench.embedded import SHIPPED_DIR, identity, is_ready, resolve_model


def test_the_default_model_is_the_shipped_checkpoint_with_no_bootstrap() -> None:
    assert is_ready(SHIPPED_DIR)
    assert resolve_model(None) == str(SHIPPED_DIR) == resolve_model("embedded")


def test_manifest_sha256_matches_the_weights_and_names_the_model() -> None:
    from pr1bench.models.tiny import BUILDER_VERSION, _sha256

    manifest = json.loads((SHIPPED_DIR / "pr1bench_model.json").read_text())
    assert manifest["builder_version"] == BUILDER_VERSION
    sha = _sha256(SHIPPED_DIR / "model.safetensors")
    assert manifest["weights_sha256"] == {"model.safetensors": sha}
    ident = identity(SHIPPED_DIR)
    assert ident is not None and ident["shipped"] and ident["pretrained"]
    from pr1bench.train.pretrain import LAST_STAGE

    assert ident["name"] == f"embedded-v{BUILDER_VERSION}s{LAST_STAGE}:{sha[:12]}"  # the last pretraining stage
    assert (SHIPPED_DIR / "RECIPE.md").is_file() and (SHIPPED_DIR / "bootstrap_eval.json").is_file()
    assert str(SHIPPED_DIR.parent) not in (SHIPPED_DIR / "pr1bench_model.json").read_text()  # no machine paths


def _greedy_on_50(task_name: str) -> dict:
    pytest.importorskip("transformers")
    import torch

    from pr1bench.dataset import build_rows
    from pr1bench.evaluate.core import evaluate_rows, hf_generator
    from pr1bench.models.loading import load_model_and_processor
    from pr1bench.spec import load_task

    torch.set_num_threads(1)
    model, processor = load_model_and_processor(SHIPPED_DIR)
    task = load_task(task_name)
    rows = build_rows(task, "eval", n=50)
    res = evaluate_rows(task, rows, hf_generator(model, processor, task, batch_size=25, cot=False),
                        cot=False, sampled=False)
    return res.summary["metrics"]


def test_shipped_model_counts_shapes_it_has_never_seen() -> None:
    """Greedy counting accuracy on 50 images of the task's eval split; chance is ~0.1, broken weights give 0.

    embedded-v3s6 measured 0.46 on these 50 (0.480 on 300); v3s3 0.56 (0.560 on 300); v3 0.48 (0.493 on 300); v2
    0.377 on 300."""
    m = _greedy_on_50("counting")
    assert m["parse_rate"] >= 0.9
    assert m["acc"] >= 0.3


def test_shipped_model_detects_shapes_it_has_never_seen() -> None:
    """Greedy COCO AP of detection on 50 eval images: embedded-v3s6 measured 0.154 (0.151 on 300), v3s3 0.181 (0.158
    on 300), stage 2 alone 0.171, v3 0.115 (0.103 on 300; v2 0.062), so a floor of 0.14 fails a model that regressed
    to v3's level, and broken weights give 0."""
    m = _greedy_on_50("detection")
    assert m["parse_rate"] >= 0.9
    assert m["AP"] >= 0.14


def test_shipped_model_reads_words_it_has_never_seen() -> None:
    """Greedy token F1 of OCR on 50 eval images: embedded-v3s6 measured 0.487 (0.486 on 300), v3s3 0.01 (0.033 on
    300), so the floor fails a model that cannot read (stage 6 with OCR at 0.05 of its steps fell to 0.345 on 300);
    broken weights give 0."""
    m = _greedy_on_50("ocr")
    assert m["parse_rate"] >= 0.9
    assert m["f1"] >= 0.3


def test_the_shipped_stage_is_the_last_pretraining_stage() -> None:
    from pr1bench.embedded import SHIPPED_NAME, SHIPPED_STAGE
    from pr1bench.train.pretrain import LAST_STAGE

    assert SHIPPED_STAGE == LAST_STAGE and SHIPPED_NAME.endswith(f"s{LAST_STAGE}")


def test_bootstrap_defaults_rebuild_the_shipped_recipe_from_todays_random_init(raw_tiny) -> None:
    """`pr1bench model bootstrap` with its defaults follows the shipped recipe of every stage from the same random init.

    The recipe digests cover every setting of both stages (steps, lr, mixture, vision stage, where stage 2 starts);
    the random-init sha256 catches a builder change that would make the rebuild start elsewhere (it once did,
    silently); the stage-1 sha256 ties the shipped last-stage weights to the shipped stage-1 weights they grew from.
    """
    from pr1bench.embedded import STAGE1_DIR
    from pr1bench.models.tiny import MANIFEST_NAME, _sha256
    from pr1bench.train.pretrain import LAST_STAGE, STAGES, Recipe, earlier_stages

    chain = [Recipe()]
    for n in range(2, LAST_STAGE + 1):
        chain.append(STAGES[n](chain[-1].digest()))
    shipped = json.loads((SHIPPED_DIR / MANIFEST_NAME).read_text())
    earlier = earlier_stages(shipped)
    assert shipped["pretrain"]["recipe_digest"] == chain[-1].digest()
    assert [e["recipe_digest"] for e in earlier] == [c.digest() for c in chain[:-1]]
    stage1 = json.loads((STAGE1_DIR / MANIFEST_NAME).read_text())
    assert stage1["pretrain"]["recipe_digest"] == Recipe().digest()
    assert earlier[0]["weights_sha256"] == stage1["weights_sha256"] == {
        "model.safetensors": _sha256(STAGE1_DIR / "model.safetensors")}
    raw = json.loads((raw_tiny / MANIFEST_NAME).read_text())
    assert raw["weights_sha256"] == shipped["base_weights_sha256"] == stage1["base_weights_sha256"]
