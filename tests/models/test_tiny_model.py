"""The offline tiny Qwen2-VL: checkpoint layout, determinism, tokenizer and chat template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pr1bench.models.corpus import build_corpus
from pr1bench.models.tiny import MANIFEST_NAME, TinyConfig, build_tiny, mrope_section

BOX_ANSWER = "<|object_ref_start|>red circle<|object_ref_end|><|box_start|>(12,34),(56,78)<|box_end|>"
JSON_ANSWER = (
    '[{"bbox_2d": [12, 34, 56, 78], "label": "circle"}, {"bbox_2d": [0, 5, 1000, 99], "label": "star"}]'
)


def test_checkpoint_files_and_manifest(tiny_dir: Path) -> None:
    names = {p.name for p in tiny_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "processor_config.json",
        MANIFEST_NAME,
    } <= names
    manifest = json.loads((tiny_dir / MANIFEST_NAME).read_text())
    assert manifest["seed"] == 0 and manifest["config"]["hidden"] == 128
    assert 500_000 < manifest["param_count"] < 1_000_000
    assert len(manifest["weights_sha256"]["model.safetensors"]) == 64


def test_reloads_with_auto_classes(tiny: tuple[Any, Any]) -> None:
    model, processor = tiny
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2VLProcessor"
    tok = processor.tokenizer
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert model.generation_config.eos_token_id == tok.eos_token_id
    assert model.generation_config.pad_token_id == tok.pad_token_id
    assert model.generation_config.do_sample is False


def test_same_seed_gives_identical_checkpoint(tiny_dir: Path, tmp_path: Path) -> None:
    """A second build (tokenizer retrained, model re-initialised) must match byte for byte."""
    again = build_tiny(tmp_path / "again", seed=0)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny_dir / name).read_bytes(), name


def test_different_seed_gives_different_weights(tiny: tuple[Any, Any]) -> None:
    import torch

    from pr1bench.models.tiny import build_model

    tok = tiny[1].tokenizer
    a, b, c = (build_model(TinyConfig(), tok, s).state_dict() for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert all(torch.equal(a[k], v) for k, v in tiny[0].state_dict().items())  # the saved seed-0 weights


def test_refuses_to_overwrite(tiny_dir: Path) -> None:
    with pytest.raises(FileExistsError, match="overwrite"):
        build_tiny(tiny_dir)


def test_mrope_section_sums_to_half_head_dim() -> None:
    assert mrope_section(32) == [4, 6, 6]
    assert mrope_section(128) == [16, 24, 24]  # Qwen2-VL's own split
    for head_dim in (16, 32, 48, 64):
        assert sum(mrope_section(head_dim)) == head_dim // 2
        assert sum(mrope_section(head_dim, "interleaved")) == head_dim // 2
    with pytest.raises(ValueError, match="interleaved"):
        mrope_section(32, "diagonal")


def test_interleaved_mrope_gives_width_high_frequencies(tiny: tuple[Any, Any]) -> None:
    """transformers assigns section i to axis i % 3: with one frequency per section every axis gets fast ones."""
    import torch

    model = tiny[0]
    assert model.config.text_config.rope_parameters["mrope_section"] == [1] * 16
    rope = model.model.language_model.rotary_emb
    pos = torch.zeros(3, 1, 2, dtype=torch.long)
    pos[2, 0, 1] = 1  # one step along width only
    cos, _ = rope(torch.zeros(1, dtype=torch.float32), pos)
    turned = torch.arccos(cos[0, 1, :16].clamp(-1, 1))  # rotation per frequency of a one-column step
    assert turned.max() > 0.3  # chunked sections leave width at most 0.003 rad per column at head_dim 32


def test_number_embeddings_are_smooth_in_the_value(tiny: tuple[Any, Any]) -> None:
    import torch

    model, processor = tiny
    emb = model.get_input_embeddings().weight
    ids = processor.tokenizer.convert_tokens_to_ids(["57", "58", "500"])
    cos = torch.nn.functional.cosine_similarity
    assert cos(emb[ids[0]], emb[ids[1]], dim=0) > 0.5 > cos(emb[ids[0]], emb[ids[2]], dim=0)


def test_corpus_is_deterministic() -> None:
    assert build_corpus(200) == build_corpus(200)


@pytest.mark.parametrize(
    "text", [BOX_ANSWER, JSON_ANSWER, "OCR this image.", "Hello World  ünï\t, STOP", "<answer>3</answer>"]
)
def test_tokenizer_round_trips_exactly(tiny: tuple[Any, Any], text: str) -> None:
    tok = tiny[1].tokenizer
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_tokenizer_has_one_token_per_number_and_keeps_specials_whole(tiny: tuple[Any, Any]) -> None:
    tok = tiny[1].tokenizer
    pieces = tok.convert_ids_to_tokens(tok.encode(BOX_ANSWER, add_special_tokens=False))
    assert pieces[:2] == ["<|object_ref_start|>", "red"] and "<|box_start|>" in pieces
    assert [p for p in pieces if any(ch.isdigit() for ch in p)] == ["12", "34", "56", "78"]
    json_pieces = tok.convert_ids_to_tokens(tok.encode(JSON_ANSWER, add_special_tokens=False))
    assert "1000" in json_pieces and '[{"bbox_2d": [' in json_pieces and len(json_pieces) <= 24
    assert (
        len(tok.encode("Output the bounding box of the red circle in the image.", add_special_tokens=False))
        <= 14
    )
    assert 2500 <= len(tok) <= 2600  # 1536 BPE + 1001 numbers + structure fragments (builder version 3)


def test_every_ocr_task_word_is_one_token_alone_and_after_a_space(tiny: tuple[Any, Any]) -> None:
    """Builder version 3 (issue 20): the OCR task renders words of ``OCR_LEXICON``; each must be one token wherever it
    stands, or the model has to compose pieces that split differently at the start than after a space."""
    from pr1bench.data.ocr import LEXICON

    tok = tiny[1].tokenizer
    split = [w for w in LEXICON if len(tok.tokenize(w)) != 1 or len(tok.tokenize(" " + w)) != 1]
    assert split == []
    assert tok.decode(tok.encode("apple river stone", add_special_tokens=False)) == "apple river stone"


def test_chat_template_renders_image_placeholder(tiny: tuple[Any, Any], red_circle: Any) -> None:
    processor = tiny[1]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "OCR this image."}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>OCR this image.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    inputs = processor(text=[text], images=[red_circle], return_tensors="pt")
    assert (
        int((inputs["input_ids"] == processor.image_token_id).sum()) == 16
    )  # 112 px -> 8x8 patches -> 16 tokens


def test_assistant_mask_covers_answer_and_stop_token(tiny: tuple[Any, Any], red_circle: Any) -> None:
    """TRL's assistant_only_loss relies on {% generation %}; the mask must hold exactly answer + <|im_end|>."""
    processor = tiny[1]
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "You are a helpful assistant."}]},
        {
            "role": "user",
            "content": [{"type": "image", "image": red_circle}, {"type": "text", "text": "Count."}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": JSON_ANSWER}]},
    ]
    out = processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, return_tensors="pt"
    )
    ids, mask = out["input_ids"][0], out["assistant_masks"][0].bool()
    assert processor.tokenizer.decode(ids[mask]) == JSON_ANSWER + "<|im_end|>"


def test_package_import_does_not_load_torch() -> None:
    code = "import sys, pr1bench.models, pr1bench.models.loading; assert 'torch' not in sys.modules, 'torch loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
