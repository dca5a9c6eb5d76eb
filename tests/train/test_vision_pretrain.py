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


def test_cell_geometry_marks_kind_and_absolute_box_at_the_centre_cell():
    from pr1bench.train.vision_pretrain import N_GEOM, N_KINDS, SHAPES, cell_geometry

    obj = {"shape": "square", "colour": COLOURS[2], "box": [60, 60, 80, 84]}  # centre (70, 72) -> cell (2, 2)
    kinds, geom, mask = cell_geometry([obj], 112, 112)
    assert len(kinds) == len(geom) == len(mask) == 16
    assert all(len(k) == N_KINDS for k in kinds) and all(len(g) == N_GEOM for g in geom)
    assert mask == [1.0 if i == 10 else 0.0 for i in range(16)]
    assert kinds[10][SHAPES.index("square") * len(COLOURS) + 2] == 1.0 and sum(map(sum, kinds)) == 1.0
    assert geom[10] == [70 / 112, 72 / 112, 60 / 112, 60 / 112, 80 / 112, 84 / 112]


def test_cell_geometry_keeps_the_larger_object_when_centres_share_a_cell():
    from pr1bench.train.vision_pretrain import cell_geometry

    small = {"shape": "circle", "colour": COLOURS[0], "box": [2, 2, 10, 10]}
    big = {"shape": "star", "colour": COLOURS[1], "box": [0, 0, 24, 24]}
    _, geom, mask = cell_geometry([big, small], 112, 112)
    assert mask[0] == 1.0 and geom[0][4] == 24 / 112


def test_cell_positions_are_cell_centres_row_major():
    from pr1bench.train.vision_pretrain import cell_positions

    pos = cell_positions(112, 112)
    assert pos[0] == [0.125, 0.125] and pos[1] == [0.375, 0.125] and pos[4] == [0.125, 0.375]


def test_digit_targets_are_the_leading_digits_of_the_answers():
    from pr1bench.train.vision_pretrain import DIGIT_CLASSES, digit_targets

    geom = [70 / 112, 111 / 112, 0.0, 0.33, 0.571, 1.0]
    assert digit_targets(geom, 112) == [7, 11, 0, 3, 5, 9]
    assert len(DIGIT_CLASSES) == 6


def test_geometry_objective_trains_every_term_and_unknown_objective_fails(raw_tiny):
    import pytest
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from pr1bench.train.vision_pretrain import LOSS_WEIGHTS, pretrain_vision

    model = AutoModelForImageTextToText.from_pretrained(raw_tiny)
    proc = AutoProcessor.from_pretrained(raw_tiny)
    stats = pretrain_vision(model, proc, steps=2, seed=0, batch_size=4, log=lambda _: None, objective="geometry")
    assert {f"last_{k}" for k in LOSS_WEIGHTS} <= set(stats)
    with pytest.raises(ValueError, match="known: cells, geometry"):
        pretrain_vision(model, proc, steps=1, seed=0, batch_size=4, log=lambda _: None, objective="boxes")


def test_text_cells_put_each_letter_and_word_where_it_was_drawn():
    """The glyph probe's targets: letters in the cells their glyphs cover, each word at its centre cell, in order."""
    from pr1bench.data.ocr import LEXICON
    from pr1bench.train.vision_pretrain import CELL, text_cells, text_scenes

    for s in text_scenes(12, seed=3):
        c = text_cells(s.meta, s.width, s.height, LEXICON)
        cols = s.width // CELL
        words = s.target["text"].split(" ")
        placed = [(c["order"][i], LEXICON[w - 1]) for i, w in enumerate(c["word"]) if w]
        assert placed and all(w in words for _, w in placed)
        assert sorted(o for o, _ in placed) == [o for o, _ in sorted(placed)]  # reading order is row-major order
        x1, y1, x2, y2 = s.meta["text_box"]
        lit = {i for i, lab in enumerate(c["letters"]) if any(lab)}
        assert lit and all(x1 // CELL <= i % cols <= (x2 - 1) // CELL and y1 // CELL <= i // cols <= y2 // CELL
                           for i in lit)
        assert {chr(97 + j) for lab in c["letters"] for j, v in enumerate(lab) if v} == set("".join(words))
