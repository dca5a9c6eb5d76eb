"""Vision pretraining labels (pure) and one real pretraining step on the raw tiny model."""

from __future__ import annotations

from pr1bench.train.vision_pretrain import CELL, COLOURS, N_LABELS, cell_labels, scenes


def test_cell_labels_mark_shape_colour_and_centre():
    obj = {"shape": "circle", "colour": COLOURS[0], "box": [30, 2, 50, 20]}  # spans cells (1,0) only in y, x 1
    labels = cell_labels([obj], 112, 112)
    assert len(labels) == 16 and all(len(x) == N_LABELS for x in labels)
    hit = [i for i, lab in enumerate(labels) if any(lab)]
    assert hit == [1]  # x 30-49 -> column 1; y 2-19 -> row 0
    assert labels[1][0] == 1.0 and labels[1][5] == 1.0 and labels[1][-1] == 1.0


def test_cell_labels_span_cells_and_centre_once():
    obj = {"shape": "square", "colour": COLOURS[1], "box": [20, 20, 40, 40]}  # crosses the 28-px boundary
    labels = cell_labels([obj], 112, 112)
    hit = {i for i, lab in enumerate(labels) if any(lab[:-1])}
    assert hit == {0, 1, 4, 5}
    assert sum(lab[-1] for lab in labels) == 1.0 and labels[(30 // CELL) * 4 + 30 // CELL][-1] == 1.0


def test_scenes_are_generic_and_deterministic():
    a, b = scenes(3, 0), scenes(3, 0)
    assert [s.meta["objects"] for s in a] == [s.meta["objects"] for s in b]
    assert all(s.width == 112 for s in a)


def test_pretrain_changes_only_the_vision_tower(raw_tiny):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from pr1bench.train.vision_pretrain import pretrain_vision

    model = AutoModelForImageTextToText.from_pretrained(raw_tiny)
    proc = AutoProcessor.from_pretrained(raw_tiny)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = pretrain_vision(model, proc, steps=3, seed=0, batch_size=4, log=lambda _: None)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("visual" in k for k in changed)
    assert stats["first_loss"] > 0 and stats["last_loss"] > 0
