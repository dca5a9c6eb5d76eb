"""Missing and corrupt data, the bad-sample policy, split selection and deterministic subsets."""

from __future__ import annotations

import logging

import pytest
import realfix as fx

from pr1bench.data.real import BadSampleError, RealDataError, load_real, load_real_report
from pr1bench.spec import ConfigError, load_task


def _refcoco_task(tmp_path, n=8, **data):
    fx.refcoco_json(tmp_path, n)
    return load_task(str(fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / "refcoco_val.json"),
                                                            "images": str(tmp_path / "images"), **data})))


def test_missing_annotation_file_names_the_key(tmp_path) -> None:
    task = load_task(str(fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / "nope.jsonl"),
                                                            "images": str(tmp_path)})))
    with pytest.raises(RealDataError, match=r"data\.annotations: file not found: .*nope\.jsonl") as e:
        load_real(task, "eval", 5)
    assert isinstance(e.value, ConfigError)  # the CLI prints it as one clear line


def test_missing_images_skipped_counted_and_listed_by_default(tmp_path, caplog) -> None:
    task = _refcoco_task(tmp_path, 8, eval=8, train=0)
    for i in range(7):
        (tmp_path / "images" / f"COCO_train2014_{i:012d}.png").unlink()
    with caplog.at_level(logging.WARNING, logger="pr1bench.data.real"):
        samples, report = load_real_report(task, "eval", 8)
        from pr1bench.data.real import log_skipped

        log_skipped(report)
    assert len(samples) == 1 and len(report.missing) == 7 and report.n_loaded == 1 and not report.bad
    assert "7 of 8 images are missing and were skipped" in caplog.text
    assert report.missing[0].file.endswith("refcoco_val.json") and report.missing[0].pos == "row 1"


def test_missing_images_fail_policy_counts_and_lists(tmp_path) -> None:
    task = _refcoco_task(tmp_path, 8, eval=8, train=0, missing_images="fail")
    for i in range(7):
        (tmp_path / "images" / f"COCO_train2014_{i:012d}.png").unlink()
    with pytest.raises(RealDataError) as e:
        load_real(task, "eval", 8)
    msg = str(e.value)
    assert "data.images: 7 of 8 image paths are missing" in msg
    assert msg.count("COCO_train2014_") == 5 and "... and 2 more" in msg and "task YAML" in msg


def test_every_image_missing_is_a_configuration_error_even_when_skipping(tmp_path) -> None:
    task = _refcoco_task(tmp_path, 3, eval=3, train=0, images=str(tmp_path / "wrong"))
    with pytest.raises(RealDataError, match="every selected image is missing"):
        load_real(task, "eval", 3)


def test_bad_missing_images_value(tmp_path) -> None:
    task = _refcoco_task(tmp_path, 2, missing_images="ignore")
    with pytest.raises(RealDataError, match="data.missing_images: must be skip or fail"):
        load_real(task, "eval", 1)


def test_corrupt_image_skipped_and_counted_never_substituted(tmp_path, caplog) -> None:
    task = _refcoco_task(tmp_path, 8, eval=8, train=0)
    clean = [s.id for s in load_real(task, "eval", 4)]
    victim = clean[1]
    name = next(s.meta["image_path"] for s in load_real(task, "eval", 4) if s.id == victim)
    fx.corrupt(tmp_path / "images" / name.rsplit("/", 1)[1])
    with caplog.at_level(logging.WARNING, logger="pr1bench.data.real"):
        samples = load_real(task, "eval", 4)
    assert [s.id for s in samples] == [i for i in clean if i != victim]  # 3, not a replacement 4th
    assert "skipped 1 of 4" in caplog.text and "not replaced" in caplog.text
    _, report = load_real_report(task, "eval", 4)
    assert report.n_selected == 4 and report.n_loaded == 3 and report.bad[0][0] == victim.split("-", 1)[1]
    with pytest.raises(BadSampleError, match="unreadable image"):
        load_real(task, "eval", 4, on_bad_sample="fail")


def test_bad_annotation_rows_keep_their_place(tmp_path) -> None:
    """A row without a box is a bad sample of its own; the other rows' sample ids do not move."""
    fx.image(tmp_path / "im" / "a.png", (130, 90))
    rows = [{"image": "a.png", "problem": f"thing {i}", "solution": [1, 2, 30, 40]} for i in range(4)]
    rows[2] = {"image": "a.png", "problem": "no box"}
    rows[3]["solution"] = [1, 2, 500, 40]  # outside the 130x90 image
    fx.write_jsonl(tmp_path / "a.jsonl", rows)
    task = load_task(str(fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / "a.jsonl"),
                                                            "images": str(tmp_path / "im"), "eval": 4, "train": 0})))
    samples, report = load_real_report(task, "eval", 4)
    assert [s.id for s in samples] == ["eval-000000", "eval-000001"]
    assert [b.key for b in report.bad] == ["000002", "000003"]
    assert [b.pos for b in report.bad] == ["line 3", "line 4"] and all(b.file.endswith("a.jsonl") for b in report.bad)
    assert "no box" in report.bad[0][1] and "outside" in report.bad[1][1]


def test_size_mismatch_with_annotation_is_bad(tmp_path) -> None:
    fx.coco(tmp_path, "val2017", [1, 1])
    fx.coco(tmp_path, "train2017", [1])
    fx.image(tmp_path / "val2017" / "000000000002.jpg", (64, 64))  # annotation says 100x120
    task = load_task(str(fx.task_file(tmp_path, "coco-detection", {
        "annotations": str(tmp_path / "annotations" / "instances_train2017.json"),
        "images": str(tmp_path / "train2017"), "eval": 5})))
    samples, report = load_real_report(task, "eval", 5)
    assert len(samples) == 1 and "annotation says 100x120" in report.bad[0][1]


def test_unknown_split_lists_the_available_ones(tmp_path) -> None:
    fx.refer_layout(tmp_path)
    task = load_task(str(fx.task_file(tmp_path, "refcoco", {
        "annotations": str(tmp_path / "refcoco" / "instances.json"), "refs": str(tmp_path / "refcoco" / "refs(unc).p"),
        "images": str(tmp_path / "train2014"), "split": "testA"})))
    with pytest.raises(RealDataError, match=r"data\.eval_split: no refs with split 'testA'.*\['train', 'val'\]"):
        load_real(task, "eval", 5)


def test_refs_pickle_with_code_is_refused(tmp_path) -> None:
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    fx.refer_layout(tmp_path)
    (tmp_path / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps([Evil()]))
    task = load_task(str(fx.task_file(tmp_path, "refcoco", {
        "annotations": str(tmp_path / "refcoco" / "instances.json"), "refs": str(tmp_path / "refcoco" / "refs(unc).p"),
        "images": str(tmp_path / "train2014")})))
    with pytest.raises(RealDataError, match="only plain data"):
        load_real(task, "eval", 5)


def test_subsets_are_seeded_nested_and_in_file_order(tmp_path) -> None:
    task = _refcoco_task(tmp_path, 12, eval=12, train=0)
    a, b = load_real(task, "eval", 5), load_real(task, "eval", 5)
    assert [s.id for s in a] == [s.id for s in b]
    assert [s.id for s in a] == sorted(s.id for s in a)
    assert {s.id for s in a} <= {s.id for s in load_real(task, "eval", 8)}
    other = load_task(str(fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / "refcoco_val.json"),
                                                             "images": str(tmp_path / "images"), "eval": 12,
                                                             "train": 0, "seed": 1})))
    assert [s.id for s in load_real(other, "eval", 5)] != [s.id for s in a]
    assert len(load_real(task, "eval", 50)) == 12  # a smaller split gives what it has


def test_max_samples_caps_records_read(tmp_path) -> None:
    task = _refcoco_task(tmp_path, 8, eval=8, train=0, max_samples=3)
    assert [s.id for s in load_real(task, "eval", 8)] == ["eval-000000", "eval-000001", "eval-000002"]


def test_source_and_task_type_must_fit(tmp_path) -> None:
    fx.refcoco_json(tmp_path, 2)
    path = fx.task_file(tmp_path, "refcoco", {"source": "coco", "annotations": str(tmp_path / "refcoco_val.json"),
                                              "images": str(tmp_path / "images")})
    with pytest.raises(RealDataError, match="feeds detection tasks, not 'grounding'"):
        load_real(load_task(str(path)), "eval", 2)
