"""Benchmark: COCO box evaluation of synthetic detections, faster-coco-eval vs pycocotools.

Run: python benchmarks/bench_coco.py [--quick]

Both evaluators get the same inputs from ``pr1bench.perception.coco.coco_inputs`` (every box
scored 1.0, as in the paper's evaluation); timed is what an eval pays: building the ground-truth
index, loading results, evaluate + accumulate + summarize. The script checks the seven reported
statistics are identical before printing the ratio (baseline: pycocotools).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pr1bench.perception.coco import COCO_KEYS, coco_inputs, faster_coco_stats  # noqa: E402
from pr1bench.perception.formats import ParsedAnswer  # noqa: E402

CATS = ["circle", "square", "triangle", "star", "cross", "ring", "arrow", "heart"]


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


def pycocotools_stats(gt: dict, dets: list[dict]) -> dict[str, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(dets), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(ev.stats[i]) for k, i in zip(COCO_KEYS, (0, 1, 2, 3, 4, 5, 8), strict=False)}


def best_of(fn, repeats: int) -> tuple[float, dict[str, float]]:  # noqa: ANN001
    best, out = float("inf"), {}
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="1,000 images and one repeat instead of 5,000 and three"
    )
    ap.add_argument("--images", type=int, default=None)
    args = ap.parse_args()
    n = args.images or (1000 if args.quick else 5000)
    repeats = 1 if args.quick else 3
    preds, targets = synthetic(n)
    gt, dets = coco_inputs(preds, targets)
    # coco_inputs is shared: fresh copies so neither evaluator sees the other's in-place additions
    t_fast, fast = best_of(lambda: faster_coco_stats(*coco_inputs(preds, targets)), repeats)
    t_ref, ref = best_of(lambda: pycocotools_stats(*coco_inputs(preds, targets)), repeats)
    t_build, _ = best_of(lambda: {"n": coco_inputs(preds, targets)}, repeats)
    same = all(fast[k] == ref[k] for k in COCO_KEYS)
    print(
        f"coco_eval [{n} images, {len(gt['annotations'])} gt boxes, {len(dets)} detections, score 1.0]: "
        f"faster-coco-eval {t_fast - t_build:.0f} ms vs pycocotools {t_ref - t_build:.0f} ms "
        f"= {(t_ref - t_build) / (t_fast - t_build):.1f}x (baseline: pycocotools; input building "
        f"{t_build:.0f} ms excluded from both)"
    )
    print(
        "  stats identical: "
        + ("yes" if same else "NO")
        + " | "
        + ", ".join(
            f"{k}={fast[k]:.4f}" + ("" if fast[k] == ref[k] else f" (pycocotools {ref[k]:.4f})")
            for k in COCO_KEYS
        )
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
