"""Benchmark: COCO box AP, pr1bench's fast path (faster-coco-eval) vs pycocotools' COCOeval.

Run: python benchmarks/bench_coco.py [--quick] [--images N]

Two checks, each printing a speed ratio against the baseline pycocotools and failing when the numbers differ:

1. ``perception-r1`` protocol on a hostile annotation file (:func:`hostile_fixture`): out-of-order image ids,
   crowd regions, annotation areas that are mask areas (not box areas), zero-area boxes, categories with
   non-contiguous ids, every detection scored 1.0 (ties everywhere), more than 100 detections in an image,
   inverted boxes, mislabelled and wrongly cased labels, answers that are not clean JSON. pr1bench goes the
   whole evaluation path: the COCO adapter's per-image records, the completions parsed by the release
   parser, ``coco_ap(..., protocol="perception-r1")``. The reference is ``COCOeval`` on the annotation dict
   itself with the detection list the completions were written from (what Perception-R1's
   ``eval/evaluate_detection.py`` feeds it). Agreement: all twelve COCOeval statistics within 1e-12.
2. ``pr1bench`` protocol on synthetic shapes (the older check): both evaluators get the same inputs from
   ``coco_inputs`` and must agree the same way.

Timed is what an eval pays: building the ground-truth index, loading results, evaluate + accumulate +
summarize (input building excluded from both).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pr1bench.perception.coco import COCO_KEYS, coco_inputs, faster_coco_stats  # noqa: E402
from pr1bench.perception.formats import ParsedAnswer  # noqa: E402

CATS = ["circle", "square", "triangle", "star", "cross", "ring", "arrow", "heart"]
TOL = 1e-12


def hostile_fixture(n_images: int, seed: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """(instances dict, reference detections, completions): see the module docstring, check 1."""
    rng = np.random.default_rng(seed)
    cats = [{"id": cid, "name": name} for cid, name in [(1, "person"), (3, "car"), (18, "dog"), (44, "bottle"),
                                                        (90, "toothbrush"), (62, "chair")]]
    names = [c["name"] for c in cats]
    ids = rng.permutation(np.arange(1, 40 * n_images))[:n_images] * 7 + 3  # unsorted, sparse image ids
    images, anns, dets, completions = [], [], [], []
    for img_id in ids.tolist():
        w_img, h_img = int(rng.integers(300, 641)), int(rng.integers(240, 481))
        images.append({"id": img_id, "file_name": f"{img_id:012d}.jpg", "width": w_img, "height": h_img})
        items: list[dict[str, Any]] = []
        for _ in range(int(rng.integers(0, 12))):
            x, y = rng.uniform(0, w_img - 20), rng.uniform(0, h_img - 20)
            w, h = rng.uniform(2, 200), rng.uniform(2, 200)
            crowd = int(rng.random() < 0.08)
            if rng.random() < 0.03:
                w = 0.0  # a zero-area annotation box: COCOeval keeps it
            cid = int(rng.choice([c["id"] for c in cats]))
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cid, "bbox": [x, y, w, h],
                         "area": float(w * h * rng.uniform(0.35, 0.9)), "iscrowd": crowd})
            if rng.random() < 0.75:
                jit = rng.normal(0, 4, 4)
                box = [x + jit[0], y + jit[1], x + w * rng.uniform(0.8, 1.2) + jit[2],
                       y + h * rng.uniform(0.8, 1.2) + jit[3]]
                name = next(c["name"] for c in cats if c["id"] == cid)
                if rng.random() < 0.1:
                    name = str(rng.choice(names))
                items.append({"bbox_2d": [round(v, 1) for v in box], "label": name})
        for _ in range(int(rng.integers(0, 4))):  # extra boxes, some inverted
            x, y = rng.uniform(0, w_img), rng.uniform(0, h_img)
            w, h = rng.uniform(-30, 120), rng.uniform(-30, 120)
            items.append({"bbox_2d": [round(x, 1), round(y, 1), round(x + w, 1), round(y + h, 1)],
                          "label": str(rng.choice(names))})
        if img_id == int(ids[0]):  # more than 100 detections of one category in one image
            for _ in range(130):
                x, y = rng.uniform(0, w_img - 30), rng.uniform(0, h_img - 30)
                items.append({"bbox_2d": [round(x, 1), round(y, 1), round(x + 30, 1), round(y + 30, 1)],
                              "label": "person"})
        kind = rng.random()
        text = json.dumps(items)
        if kind < 0.05:
            text = "Here are the boxes: " + text  # not clean JSON: nothing
            items = []
        elif kind < 0.10:
            text = "```json\n" + text + "\n```"  # fences are removed
        elif kind < 0.13 and items:
            items[0] = {**items[0], "label": items[0]["label"].upper()}  # wrong case: skipped
            text = json.dumps(items)
        elif kind < 0.16 and len(items) > 2:
            items = items[:2] + [{"bbox_2d": [1, 2, 3]}] + items[2:]  # a broken item ends the answer
            text = json.dumps(items)
            items = items[:2]
        completions.append(text)
        for it in items:
            if it.get("label") in names and len(it.get("bbox_2d", [])) == 4:
                x1, y1, x2, y2 = it["bbox_2d"]
                cid = next(c["id"] for c in cats if c["name"] == it["label"])
                dets.append({"image_id": img_id, "category_id": cid, "bbox": [x1, y1, x2 - x1, y2 - y1],
                             "score": 1.0})
    return {"images": images, "annotations": anns, "categories": cats}, dets, completions


def adapter_targets(instances: dict[str, Any]) -> list[dict[str, Any]]:
    """The COCO adapter's targets for each image, in file order (the same code ``data.source: coco`` runs)."""
    from pr1bench.data.real.coco import _record

    cats = sorted(instances["categories"], key=lambda c: c["id"])
    names = {c["id"]: c["name"] for c in cats}
    pairs = [[c["id"], c["name"]] for c in cats]
    by_image: dict[int, list[dict[str, Any]]] = {}
    for a in instances["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    return [_record(im, by_image.get(im["id"], []), names, ", ".join(names.values()), Path("."), pairs).target
            for im in instances["images"]]


def pycocotools_eval(gt: dict[str, Any], dets: list[dict[str, Any]]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dets)), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=float)


def faster_eval(gt: dict[str, Any], dets: list[dict[str, Any]]) -> np.ndarray:
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(copy.deepcopy(gt))
        ev = COCOeval_faster(coco_gt, coco_gt.loadRes(copy.deepcopy(dets)), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=float)


def best_of(fn, repeats: int) -> tuple[float, Any]:  # noqa: ANN001
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000, out


def release_check(n: int, repeats: int) -> bool:
    from pr1bench.perception.coco import coco_ap, release_coco_inputs
    from pr1bench.perception.protocols import parse_for

    instances, ref_dets, completions = hostile_fixture(n)
    targets = adapter_targets(instances)
    sizes = [(im["width"], im["height"]) for im in instances["images"]]
    preds = [parse_for("perception-r1", "detection", "json_boxes", c, width=w, height=h, coords="absolute_pixels")
             for c, (w, h) in zip(completions, sizes, strict=True)]
    ours = coco_ap(preds, targets, protocol="perception-r1")
    gt, dets = release_coco_inputs(preds, targets)
    t_ref, ref = best_of(lambda: pycocotools_eval(instances, ref_dets), repeats)
    t_fast, fast = best_of(lambda: faster_eval(gt, dets), repeats)
    diff = float(np.max(np.abs(fast - ref)))
    idx = (0, 1, 2, 3, 4, 5, 8)
    same_keys = all(abs(ours[k] - ref[i]) <= TOL for k, i in zip(COCO_KEYS, idx, strict=True))
    ok = diff <= TOL and same_keys and len(dets) == len(ref_dets)
    crowd = sum(a["iscrowd"] for a in instances["annotations"])
    print(f"perception-r1 [{n} images, ids out of order, {len(instances['annotations'])} annotations of which "
          f"{crowd} crowd, mask areas, {len(ref_dets)} detections all score 1.0]: pr1bench path "
          f"(adapter -> release parser -> faster-coco-eval) {t_fast:.0f} ms vs pycocotools COCOeval on the "
          f"annotation file {t_ref:.0f} ms = {t_ref / t_fast:.1f}x (baseline: pycocotools)")
    print(f"  detections rebuilt from the completions: {len(dets)} (reference {len(ref_dets)}); "
          f"max |difference| over the 12 stats: {diff:.2e} -> {'equal' if ok else 'DIFFERENT'} (tolerance {TOL})")
    print("  " + ", ".join(f"{k}={ours[k]:.6f} (COCOeval {ref[i]:.6f})" for k, i in zip(COCO_KEYS, idx,
                                                                                     strict=True)))
    lenient = [parse_for("pr1bench", "detection", "json_boxes", c, width=w, height=h, coords="absolute_pixels")
               for c, (w, h) in zip(completions, sizes, strict=True)]
    old = coco_ap(lenient, targets, protocol="pr1bench")
    print("  for contrast, the pr1bench protocol on the same data (lenient parse, crowd dropped, box areas, row-order "
          "ids, lower-cased labels): " + ", ".join(f"{k}={old[k]:.6f}" for k in COCO_KEYS[:3]))
    return ok


def synthetic(n_images: int, seed: int = 0) -> tuple[list[ParsedAnswer | None], list[dict]]:
    """Images with 0-15 objects; predictions jitter, drop, mislabel and add boxes; ~3% unparseable."""
    rng = np.random.default_rng(seed)
    preds: list[ParsedAnswer | None] = []
    targets = []
    for _ in range(n_images):
        n = int(rng.integers(0, 16))
        xy = rng.uniform(0, 560, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(6, 250, (n, 2))], axis=1)
        labels = [CATS[i] for i in rng.integers(0, len(CATS), n)]
        targets.append({"boxes": boxes.tolist(), "labels": labels})
        keep = np.flatnonzero(rng.random(n) < 0.8)
        pb = boxes[keep] + rng.normal(0, 5, (len(keep), 4))
        pl = [labels[i] if rng.random() < 0.85 else CATS[int(rng.integers(0, len(CATS)))] for i in keep]
        extra = int(rng.integers(0, 3))
        exy = rng.uniform(0, 560, (extra, 2))
        pb = np.concatenate([pb, np.concatenate([exy, exy + rng.uniform(6, 80, (extra, 2))], axis=1)])
        pl += [CATS[i] for i in rng.integers(0, len(CATS), extra)]
        preds.append(None if rng.random() < 0.03 else ParsedAnswer(boxes=pb, labels=pl, count=len(pb)))
    return preds, targets


def pr1bench_check(n: int, repeats: int) -> bool:
    preds, targets = synthetic(n)
    gt, dets = coco_inputs(preds, targets)
    t_fast, fast = best_of(lambda: faster_eval(gt, dets), repeats)
    t_ref, ref = best_of(lambda: pycocotools_eval(gt, dets), repeats)
    ours = faster_coco_stats(*coco_inputs(preds, targets))
    diff = float(np.max(np.abs(fast - ref)))
    ok = diff <= TOL and all(abs(ours[k] - ref[i]) <= TOL for k, i in zip(COCO_KEYS, (0, 1, 2, 3, 4, 5, 8),
                                                                           strict=True))
    print(f"pr1bench [{n} synthetic images, {len(gt['annotations'])} gt boxes, {len(dets)} detections, score 1.0]: "
          f"faster-coco-eval {t_fast:.0f} ms vs pycocotools {t_ref:.0f} ms = {t_ref / t_fast:.1f}x "
          f"(baseline: pycocotools); max |difference| {diff:.2e} -> {'equal' if ok else 'DIFFERENT'}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 images and one repeat instead of 5,000 and three")
    ap.add_argument("--images", type=int, default=None)
    args = ap.parse_args()
    n = args.images or (1000 if args.quick else 5000)
    repeats = 1 if args.quick else 3
    ok = release_check(n, repeats)
    ok = pr1bench_check(n, repeats) and ok
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
