"""The ``perception-r1`` evaluation protocol and the released rewards pin the release's behaviour on constructed cases.

The release is linkangheng/PR1 (eval/evaluate_*.py; src/open_r1/rewards.py and utils.py with PR #12). Each
test's docstring names the release file and function it pins; expected values are computed by hand from
reading those functions (and, for COCO AP, by pycocotools' COCOeval itself).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from pr1bench.perception import build_reward, parse_for
from pr1bench.perception.coco import coco_ap
from pr1bench.perception.metrics import count_acc, grounding_acc, ocr, score_samples
from pr1bench.perception.protocols import ocr_metrics, release_box, release_iou

R1 = "perception-r1"


def _bench_coco():
    """benchmarks/bench_coco.py, whose fixture and pycocotools reference the COCO tests share."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import bench_coco

    return bench_coco


def _cocoeval(gt: dict, dets: list[dict]) -> np.ndarray:
    return _bench_coco().pycocotools_eval(gt, dets)


def _coco_target(img_id: int, anns: list[list], w: int = 640, h: int = 480) -> dict:
    """A target as the COCO adapter builds it (coco block: [category_id, x, y, w, h, area, iscrowd])."""
    cats = [[1, "person"], [3, "car"]]
    names = dict(cats)
    boxes = [[a[1], a[2], a[1] + a[3], a[2] + a[4]] for a in anns if not a[6] and a[3] > 0 and a[4] > 0]
    labels = [names[a[0]] for a in anns if not a[6] and a[3] > 0 and a[4] > 0]
    return {"boxes": boxes, "labels": labels,
            "coco": {"image_id": img_id, "width": w, "height": h, "categories": cats, "anns": anns}}


def _gt_file(targets: list[dict]) -> dict:
    """The annotation file those targets came from."""
    images, anns = [], []
    for t in targets:
        c = t["coco"]
        images.append({"id": c["image_id"], "width": c["width"], "height": c["height"]})
        for cid, x, y, w, h, area, crowd in c["anns"]:
            anns.append({"id": len(anns) + 1, "image_id": c["image_id"], "category_id": cid, "bbox": [x, y, w, h],
                         "area": area, "iscrowd": crowd})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"},
                                                                   {"id": 3, "name": "car"}]}


def _det_answer(items: list[tuple[str, list[float]]]) -> str:
    return json.dumps([{"bbox_2d": b, "label": lab} for lab, b in items])


def _ap_both(answers: list[str], targets: list[dict], dets: list[dict]) -> tuple[dict, np.ndarray, dict]:
    preds = [parse_for(R1, "detection", "json_boxes", a, width=640, height=480, coords="absolute_pixels")
             for a in answers]
    lenient = [parse_for("pr1bench", "detection", "json_boxes", a, width=640, height=480, coords="absolute_pixels")
               for a in answers]
    return coco_ap(preds, targets, protocol=R1), _cocoeval(_gt_file(targets), dets), coco_ap(lenient, targets)


# ---------------------------------------------------------------- COCO AP
def test_coco_crowd_region_is_ignored_not_a_false_positive() -> None:
    """eval/evaluate_detection.py _run_coco_eval: COCOeval on the annotation file ignores detections on iscrowd
    regions; pr1bench's protocol (crowd dropped by the loader) counts them as false positives."""
    t = _coco_target(1, [[1, 10, 10, 50, 50, 2500.0, 0], [1, 200, 200, 100, 100, 10000.0, 1]])
    ans = _det_answer([("person", [205, 205, 295, 295]), ("person", [10, 10, 60, 60])])
    dets = [{"image_id": 1, "category_id": 1, "bbox": [205, 205, 90, 90], "score": 1.0},
            {"image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "score": 1.0}]
    ours, ref, lenient = _ap_both([ans], [t], dets)
    assert ours["AP"] == pytest.approx(ref[0], abs=1e-12) == pytest.approx(1.0)
    assert lenient["AP"] == pytest.approx(0.5, abs=0.01)  # the crowd detection is a false positive ranked first


def test_coco_area_ranges_use_the_annotation_area() -> None:
    """_run_coco_eval: COCOeval's small/medium/large use the annotation's ``area`` (a mask area), not the box's:
    a 40x40 box with mask area 900 is small (box area 1600 would make it medium)."""
    t = _coco_target(1, [[3, 100, 100, 40, 40, 900.0, 0]])
    ans = _det_answer([("car", [100, 100, 140, 140])])
    ours, ref, lenient = _ap_both([ans], [t], [{"image_id": 1, "category_id": 3, "bbox": [100, 100, 40, 40],
                                                "score": 1.0}])
    assert ours["APs"] == pytest.approx(ref[3]) == pytest.approx(1.0) and ours["APm"] == ref[4] == -1.0
    assert lenient["APs"] == -1.0 and lenient["APm"] == pytest.approx(1.0)


def test_coco_score_ties_follow_sorted_image_ids() -> None:
    """_run_coco_eval: every score is 1.0, and COCOeval breaks the ties in sorted image-id order. Image 5 (first
    in the file) has a false positive, image 2 the one true positive: sorted, the true positive ranks first
    (AP 1.0); in file order the false positive would (AP 0.5)."""
    targets = [_coco_target(5, []), _coco_target(2, [[1, 10, 10, 50, 50, 2500.0, 0]])]
    answers = [_det_answer([("person", [300, 300, 350, 350])]), _det_answer([("person", [10, 10, 60, 60])])]
    dets = [{"image_id": 5, "category_id": 1, "bbox": [300, 300, 50, 50], "score": 1.0},
            {"image_id": 2, "category_id": 1, "bbox": [10, 10, 50, 50], "score": 1.0}]
    ours, ref, lenient = _ap_both(answers, targets, dets)
    assert ours["AP"] == pytest.approx(ref[0]) == pytest.approx(1.0)
    assert lenient["AP"] == pytest.approx(0.5, abs=0.01)  # row order: the false positive first


def test_coco_labels_match_exactly_and_only_clean_json_counts() -> None:
    """_parse_output: ``cat_name_to_id.get(inst["label"])`` matches names exactly (``"Car"`` is skipped), and an
    answer that ``json.loads`` rejects (text around the list) gives no detections at all."""
    targets = [_coco_target(1, [[3, 10, 10, 50, 50, 2500.0, 0]]), _coco_target(2, [[3, 10, 10, 50, 50, 2500.0, 0]])]
    answers = [_det_answer([("Car ", [10, 10, 60, 60])]), "Here: " + _det_answer([("car", [10, 10, 60, 60])])]
    far = [{"image_id": 1, "category_id": 1, "bbox": [500, 400, 1, 1], "score": 1.0}]  # pycocotools needs one
    ours, ref, lenient = _ap_both(answers, targets, far)
    assert ours["AP"] == pytest.approx(0.0) and ref[0] == pytest.approx(0.0)
    assert lenient["AP"] == pytest.approx(1.0)  # pr1bench: lower-cased, stripped, JSON found inside text
    assert parse_for(R1, "detection", "json_boxes", answers[1], width=640, height=480,
                     coords="absolute_pixels") is None


def test_coco_broken_item_ends_the_answer_and_fences_are_removed() -> None:
    """_parse_output: fences are stripped; an exception inside the item loop (a 3-number box) leaves the items
    before it and drops the rest; an unknown label only skips its item."""
    ans = "```json\n" + json.dumps([{"bbox_2d": [1, 2, 3, 4], "label": "unicorn"},
                                    {"bbox_2d": [10, 10, 60, 60], "label": "car"},
                                    {"bbox_2d": [1, 2, 3], "label": "car"},
                                    {"bbox_2d": [100, 100, 160, 160], "label": "car"}]) + "\n```"
    p = parse_for(R1, "detection", "json_boxes", ans, width=640, height=480, coords="absolute_pixels")
    from pr1bench.perception.coco import release_coco_inputs

    _, dets = release_coco_inputs([p], [_coco_target(1, [])])
    assert [d["bbox"] for d in dets] == [[10.0, 10.0, 50.0, 50.0]]


def test_coco_hostile_fixture_equals_cocoeval() -> None:
    """The benchmark's fixture (crowd regions, mask areas, ties, out-of-order ids, >100 detections, inverted
    boxes, bad answers) through the adapter and the release parser equals COCOeval on the annotation file."""
    bench_coco = _bench_coco()
    instances, ref_dets, completions = bench_coco.hostile_fixture(60, seed=3)
    targets = bench_coco.adapter_targets(instances)
    preds = [parse_for(R1, "detection", "json_boxes", c, width=im["width"], height=im["height"],
                       coords="absolute_pixels") for c, im in zip(completions, instances["images"], strict=True)]
    ours = coco_ap(preds, targets, protocol=R1)
    ref = _cocoeval(instances, ref_dets)
    assert sum(a["iscrowd"] for a in instances["annotations"]) > 0
    for k, i in zip(("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"), (0, 1, 2, 3, 4, 5, 8), strict=True):
        assert ours[k] == pytest.approx(ref[i], abs=1e-12), k


# ---------------------------------------------------------------- OCR
def test_ocr_sets_raw_edit_distance_and_defined_zero() -> None:
    """eval/evaluate_ocr.py cal_per_metrics: precision/recall/F1 on token sets (repeats collapse), edit distance on
    raw strings (spaces count), and where nltk returns None (empty side) or 0/0 the release crashes: 0 here."""
    m = ocr_metrics("the the cat", "the cat")
    assert (m["precision"], m["recall"], m["f1"]) == (1.0, 1.0, 1.0)  # multisets would give precision 2/3
    assert ocr_metrics(" cat", "cat")["ned"] == pytest.approx(1 / 4)  # raw: the leading space is an edit
    empty = ocr_metrics("", "some text")
    assert (empty["precision"], empty["recall"], empty["f1"], empty["bleu"]) == (0.0, 0.0, 0.0, 0.0)
    assert empty["ned"] == 1.0 and ocr_metrics("", "")["ned"] == 0.0
    assert all(math.isfinite(v) for v in ocr_metrics("   ", "\n").values())


def test_ocr_chinese_is_segmented_with_jieba() -> None:
    """cal_per_metrics: a CJK ideograph in either text switches both to ``jieba.lcut`` words (one token per
    character would give 9 tokens here; jieba gives 4 words)."""
    from pr1bench.perception.protocols import ocr_tokens

    hyp, ref = ocr_tokens("我们在北京大学读书", "我们在北京大学读书")
    assert hyp == ref and len(ref) < 9 and "".join(ref) == "我们在北京大学读书"
    m = ocr_metrics("我们在北京读书", "我们在北京大学读书")  # words: 我们 在 北京 读书 vs 我们 在 北京大学 读书
    assert m["precision"] == pytest.approx(0.75) and m["recall"] == pytest.approx(0.75)


def test_ocr_bleu_and_meteor_as_nltk_computes_them() -> None:
    """cal_per_metrics: ``nltk.translate.bleu([ref], hyp)`` (4-gram, no smoothing) and ``meteor_score`` on
    the token lists. Without the WordNet corpus METEOR is reported as ``meteor_nosyn`` (exact + stem stages)."""
    from nltk.translate import bleu

    ref, hyp = "the quick brown fox jumps over the lazy dog", "the quick brown fox jumped over the lazy dog"
    m = ocr_metrics(hyp, ref)
    assert m["bleu"] == pytest.approx(bleu([ref.split()], hyp.split()))
    key = "meteor" if "meteor" in m else "meteor_nosyn"
    assert 0.9 < m[key] < 1.0  # 'jumped' matches 'jumps' by the Porter stem
    assert ocr_metrics("a b", "c d")["bleu"] == 0.0


def test_ocr_metric_under_each_protocol() -> None:
    """The task metric: ``perception-r1`` reads the raw completion (nothing stripped, empty scored 0)."""
    from pr1bench.perception.formats import ParsedAnswer

    preds = [ParsedAnswer(text="a a b"), None]
    r1 = ocr(preds, [{"text": "a b"}, {"text": "x"}], protocol=R1)
    own = ocr(preds, [{"text": "a b"}, {"text": "x"}])
    assert r1["precision"] == pytest.approx(0.5) and own["precision"] == pytest.approx((2 / 3) / 2)
    assert {"bleu", "ned", "f1"} <= set(r1)


# ---------------------------------------------------------------- counting
def _count(text: str) -> int | None:
    p = parse_for(R1, "counting", "box_tokens", text, width=1000, height=1000, coords="normalized_1000")
    return None if p is None else p.count


def test_counting_box_parser_reads_bracketed_pairs_and_gives_none_without_boxes() -> None:
    """eval/evaluate_counting.py extract_boxes / parse_output: each ``<|box_start|>..<|box_end|>`` whose content
    evaluates to two pairs is one object, brackets included; none gives ``None``, never equal to a count."""
    two = "<|object_ref_start|>dog<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|><|box_start|>[5, 6], [7, 8]<|box_end|>"
    assert _count(two) == 2
    assert _count("<|box_start|>(1,2,3)<|box_end|><|box_start|>__import__('os')<|box_end|>") is None
    assert _count("there are 3 dogs") is None
    p = parse_for(R1, "counting", "box_tokens", "no boxes", width=10, height=10, coords="normalized_1000")
    assert count_acc([p], [{"count": 0, "points": []}])["acc"] == 0.0  # C2: None never equals 0


def test_counting_task_ships_the_release_box_protocol() -> None:
    """local_scripts/train/train_qwen2_2b_vl_counting.sh + constants.py question_template 'pr1_counting': the
    prompt asks for bounding boxes and the reward is pr1_counting; the points protocol is pixmo-count-points."""
    from pr1bench.spec import load_task

    t = load_task("pixmo-count")
    assert t.prompt.startswith("Output all the bounding boxes of the") and t.answer.format == "box_tokens"
    assert t.eval.protocol == R1 and [r.name for r in t.rewards] == ["pr1_counting"]
    pts = load_task("pixmo-count-points")
    assert pts.answer.format == "points" and pts.eval.protocol == "pr1bench"


def test_counting_sft_answer_for_points_round_trips_through_the_release_parser() -> None:
    """A points-only target formats as a zero-size box per point; the release parser reads one object each."""
    from pr1bench.perception import format_answer

    target = {"points": [[100.0, 200.0], [300.0, 50.0]], "count": 2, "label": "dog"}
    text = format_answer("box_tokens", target, width=1000, height=1000, coords="normalized_1000")
    assert build_reward("pr1_counting_format", answer_format="box_tokens")([text]) == [1.0]
    p = parse_for(R1, "counting", "box_tokens", text, width=1000, height=1000, coords="normalized_1000")
    assert p is not None and p.count == 2 and np.allclose(p.points, target["points"])


def test_counting_reward_is_the_released_formula() -> None:
    """src/open_r1/rewards.py pr1_counting_reward + utils.py num_scale: format-gated
    min(n)/max(n) x (1 - mean Hungarian distance / (1000 sqrt 2)), in 0-1000 units."""
    r = build_reward("pr1_counting", answer_format="box_tokens", coords="normalized_1000")
    text = ("<|object_ref_start|>dog<|object_ref_end|><|box_start|>(90,90),(110,110)<|box_end|>"
            "<|box_start|>(490,490),(510,530)<|box_end|>")
    target = {"points": [[50.0, 50.0], [250.0, 255.0], [900.0, 900.0]], "count": 3}
    # centres (100,100) and (500,510) in 0-1000 on a 500x500 image; gt in 0-1000: (100,100),(500,510),(1800,1800)
    got = r([text], target=[target], width=[500], height=[500])[0]
    assert got == pytest.approx(2 / 3 * (1 - 0.0 / (1000 * math.sqrt(2))))
    assert r(["(90,90),(110,110)"], target=[target], width=[500], height=[500]) == [0.0]  # format gate


# ---------------------------------------------------------------- grounding
def test_grounding_parser_priority_and_bracket_inside_box_tokens() -> None:
    """eval/evaluate_grounding.py parse_float_sequence_within / extract_bbox_answer: ``[a,b,c,d]`` beats a
    box-token pair anywhere in the text, box tokens mean 0-1000 units, otherwise values are x1000."""
    assert release_box("<|box_start|>[1, 2, 3, 4]<|box_end|>") == ([1.0, 2.0, 3.0, 4.0], True)
    assert release_box("<|box_start|>(10,20),(30,40)<|box_end|> [1,2,3,4]")[0] == [1.0, 2.0, 3.0, 4.0]
    assert release_box("[0.1, 0.2, 0.35, 0.4]") == ([100.0, 200.0, 350.0, 400.0], False)
    assert release_box("(10 ,20),(30,40)") == (None, False)  # no space may precede a comma


def test_grounding_iou_exactly_half_fails_acc50() -> None:
    """compute_iou adds 1e-10 to the union, so IoU exactly 0.5 is < 0.5: Acc@0.5 fails under perception-r1
    and passes under pr1bench."""
    gt = {"boxes": [[0.0, 0.0, 100.0, 100.0]]}
    text = "<|box_start|>(0,0),(500,1000)<|box_end|>"  # half of the 100x100 gt on a 100x100 image
    p = parse_for(R1, "grounding", "box_tokens", text, width=100, height=100, coords="normalized_1000")
    assert release_iou(gt["boxes"][0], p.boxes[0].tolist()) < 0.5
    assert grounding_acc([p], [gt], protocol=R1)["acc50"] == 0.0
    assert grounding_acc([p], [gt])["acc50"] == 1.0
    assert score_samples("grounding", [p], [gt], protocol=R1)[0]["correct"] is False


def test_grounding_reward_is_iou_squared_and_format_reward_mirrors_the_regex_bug() -> None:
    """rewards.py pr1_grounding_reward (IoU**2, utils.py compute_iou) and pr1_grounding_format_reward, whose
    unescaped ``|`` make it an alternation of prefixes: any completion starting with '<' scores 1."""
    import re

    g = build_reward("pr1_grounding", answer_format="box_tokens", coords="normalized_1000")
    text = "<|box_start|>(0,0),(500,1000)<|box_end|>"
    assert g([text], target=[{"boxes": [[0, 0, 100, 100]]}], width=[100], height=[100])[0] == pytest.approx(0.25)
    f = build_reward("pr1_grounding_format", answer_format="box_tokens")
    release_pattern = r"^<|object_ref_start|>.*?<|object_ref_end|><|box_start|>.*?<|box_end|><|im_end|>"
    cases = ["<anything", "(1,2),(3,4)", "box_start?", "> x", "", "text <|box_start|>(1,2),(3,4)<|box_end|>"]
    assert f(cases) == [float(re.match(release_pattern, c) is not None) for c in cases] == [1, 0, 1, 1, 0, 0]


def test_shipped_task_protocols() -> None:
    """Real-data tasks default to the paper's protocol and the release's rewards; synthetic tasks keep pr1bench's."""
    from pr1bench.spec import load_task

    for name in ("refcoco", "refcocop", "refcocog", "pixmo-count", "pageocr", "coco-detection"):
        assert load_task(name).eval.protocol == R1, name
    for name in ("grounding", "counting", "detection", "ocr"):
        assert load_task(name).eval.protocol == "pr1bench", name
    assert {r.name for r in load_task("refcoco").rewards} == {"pr1_grounding", "pr1_grounding_format"}
    assert [r.name for r in load_task("coco-detection").rewards] == ["pr1_detection"]


# ---------------------------------------------------------------- detection reward
def _det(items: list[tuple[str, list[float]]]) -> str:
    return json.dumps([{"bbox_2d": b, "label": lab} for lab, b in items])


def test_detection_reward_formula_without_missing_penalty() -> None:
    """rewards.py pr1_detection_reward (DO_PENAIlty=False in train_qwen2_2b_vl_detection.sh): 0.25 x format +
    0.75 x F1 + class accuracy + mean IoU over pairs with IoU > 0.5, clamped to [0, 3]."""
    r = build_reward("pr1_detection", answer_format="json_boxes")
    target = {"boxes": [[0, 0, 100, 100], [200, 200, 300, 300]], "labels": ["car", "dog"]}
    # one exact car, one mislabelled box on the dog (cat), one item with an unknown label (format 2/3)
    text = _det([("car", [0, 0, 100, 100]), ("cat", [200, 200, 300, 300]), ("unicorn", [1, 1, 2, 2])])
    p, rc = 1.0, 1.0  # 2 matched of 2 valid predictions, of 2 targets
    expected = 0.25 * (2 / 3) + 0.75 * (2 * p * rc / (p + rc + 1e-8)) + 0.5 + 1.0
    got = r([text], target=[target], width=[400], height=[400])[0]
    assert got == pytest.approx(expected, abs=1e-6)
    # a missed object costs only F1 (no penalty term)
    one = r([_det([("car", [0, 0, 100, 100])])], target=[target], width=[400], height=[400])[0]
    assert one == pytest.approx(0.25 + 0.75 * (2 * 1 * 0.5 / 1.5) + 1 + 1, abs=1e-6)
    with_penalty = build_reward("pr1_detection", answer_format="json_boxes", missing_penalty=True)
    assert with_penalty([_det([("car", [0, 0, 100, 100])])], target=[target], width=[400], height=[400])[0] == \
        pytest.approx(one - 0.25, abs=1e-6)


def test_detection_reward_release_failures_score_zero() -> None:
    """pr1_detection_reward's try/except: not clean JSON, an inverted box (generalized_box_iou's assert) and a
    'toothbrush' prediction (id 90 indexes out of the 90-wide one-hot) all give 0.0; nothing ever raises."""
    r = build_reward("pr1_detection", answer_format="json_boxes")
    target = {"boxes": [[0, 0, 100, 100]], "labels": ["car"]}
    bad = ["Sure! " + _det([("car", [0, 0, 100, 100])]), _det([("car", [100, 0, 0, 100])]),
           _det([("toothbrush", [0, 0, 100, 100])]), "[]", '{"bbox_2d": [0, 0, 1, 1]}', None, "[[[[[[" * 5000]
    vals = r(bad, target=[target] * len(bad), width=[400] * len(bad), height=[400] * len(bad))
    assert vals == [0.0] * len(bad)
    assert r([_det([("car", [0, 0, 100, 100])])], target=[{"boxes": [], "labels": []}], width=[4], height=[4]) == [0.25]


def test_protocol_is_selectable_per_run_and_recorded() -> None:
    """``eval.protocol=...`` overrides the task's default for one run (recorded in run.json's resolved config)."""
    from pr1bench.runspec import RunSpec, effective_task, resolved_config
    from pr1bench.spec import load_task

    task = load_task("refcoco")
    spec = RunSpec(task="refcoco", variant="base", eval={"protocol": "pr1bench"})
    assert effective_task(spec, task).eval.protocol == "pr1bench"
    assert resolved_config(spec, task)["task"]["eval"]["protocol"] == "pr1bench"
    assert effective_task(RunSpec(task="refcoco", variant="base"), task).eval.protocol == R1


def test_score_cli_reports_the_protocol() -> None:
    """`pr1bench score` parses and scores under the task's protocol and says which."""
    from typer.testing import CliRunner

    from pr1bench.cli.main import app

    r = CliRunner().invoke(app, ["score", "refcoco", "--completion", "<|box_start|>[0, 0, 500, 1000]<|box_end|>",
                                 "--target", '{"boxes": [[0, 0, 56, 56]]}', "--width", "56", "--height", "56",
                                 "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["protocol"] == R1 and out["metrics"]["acc50"] == 0.0 and "center_acc" in out["metrics"]


HOSTILE = [None, "", " ", "<answer>", "<|box_start|>" * 3000, "[" * 5000, '{"a": ' * 3000, "NaN", "[1e999, 2, 3, 4]",
           '[{"bbox_2d": [1e308, -1e308, 1e308, 1e308], "label": "car"}]', '[{"bbox_2d": [NaN, 1, 2, 3], "label": "car"}]',
           "<|box_start|>(1e999,2),(3,4)<|box_end|>", "<|box_start|>((((((((1,2),(3,4)<|box_end|>", "\x00\ud800",
           "<|object_ref_start|>x<|object_ref_end|><|box_start|>(9e99,9e99),(9e99,9e99)<|box_end|>", 12, ["x"]]


@pytest.mark.parametrize("name", ["pr1_grounding", "pr1_grounding_format", "pr1_counting", "pr1_counting_format",
                                  "pr1_detection"])
def test_released_rewards_never_raise_nor_return_non_finite(name: str) -> None:
    fmt = "json_boxes" if name == "pr1_detection" else "box_tokens"
    r = build_reward(name, answer_format=fmt, coords="normalized_1000")
    target = {"boxes": [[0, 0, 10, 10]], "labels": ["car"], "points": [[5, 5]], "count": 1}
    vals = r(HOSTILE, target=[target] * len(HOSTILE), width=[0] + [20] * (len(HOSTILE) - 1),
             height=[20] * len(HOSTILE))
    assert all(math.isfinite(v) and r.range[0] <= v <= r.range[1] for v in vals)


@pytest.mark.parametrize("task_type,fmt", [("grounding", "box_tokens"), ("counting", "box_tokens"),
                                           ("detection", "json_boxes"), ("ocr", "text")])
def test_release_parsers_never_raise(task_type: str, fmt: str) -> None:
    preds = [parse_for(R1, task_type, fmt, t, width=20, height=20, coords="normalized_1000") for t in HOSTILE]
    for p in preds:
        if p is not None:
            assert np.all(np.isfinite(p.boxes)) and np.all(np.isfinite(p.points))
