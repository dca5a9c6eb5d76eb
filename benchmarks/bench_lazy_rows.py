"""Benchmark: peak memory of building the rows of a real dataset, lazy images vs eager decoding.

Run: python benchmarks/bench_lazy_rows.py [--quick] [--n 2000] [--n-large 100000] [--images 200] [--side 320x240]

Data: ``--images`` distinct JPEGs of ``--side`` pixels and a Perception-R1-style RefCOCO JSON of ``--n`` rows
cycling over them (RefCOCO has several expressions per COCO image too), loaded through the shipped ``refcoco``
task exactly as training does (``pr1bench.dataset.build_rows``). Each arm runs in a fresh Python process and
reports its peak resident set size (``ru_maxrss``):

* ``lazy``: today's rows, which hold a ``LazyImage`` (file + planned resize; sizes from the headers);
* ``eager`` (the baseline, pr1bench before issue 15): every row holds its decoded, resized RGB image, which is
  what the old loader built; reproduced here by decoding each row's image once and keeping it.

The ratio printed is eager / lazy at the same ``--n``. ``--n-large`` then builds that many lazy rows alone (the
eager baseline would need ~``n_large`` decoded images: 100k x 0.23 MB = 23 GB at 320x240, which is the point).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_images(root: Path, n_images: int, size: tuple[int, int]) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    w, h = size
    for i in range(n_images):
        arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / "images" / f"{i:06d}.jpg", quality=85)


def make_task(root: Path, n_rows: int, n_images: int, size: tuple[int, int]) -> Path:
    """An annotation JSON of ``n_rows`` over the images and a task YAML for it; returns the task YAML."""
    from pr1bench.spec import deep_merge, load_yaml

    w, h = size
    rows = []
    for j in range(n_rows):
        i = j % n_images
        box = [4 + j % 20, 5 + j % 15, w - 30 - j % 10, h - 20]
        rows.append({"image": f"{i:06d}.jpg", "problem": f"thing {j}", "solution": box,
                     "normalized_solution": [round(box[0] / w * 1000), round(box[1] / h * 1000),
                                             round(box[2] / w * 1000), round(box[3] / h * 1000)]})
    ann = root / f"refcoco_val_{n_rows}.json"
    ann.write_text(json.dumps(rows))
    raw = deep_merge(load_yaml(ROOT / "tasks" / "refcoco.yaml"), {"data": {
        "annotations": str(ann), "images": str(root / "images"), "train": 0, "eval": n_rows,
        "max_pixels": 1280 * 28 * 28}})
    path = root / f"n{n_rows}" / "refcoco.yaml"  # a task file's stem is its name
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def arm(task_yaml: str, mode: str, n: int) -> dict:
    """Build ``n`` eval rows in this process; ``eager`` keeps each row's decoded image too."""
    from pr1bench.dataset import build_rows
    from pr1bench.spec import load_task

    task = load_task(task_yaml)
    start = time.perf_counter()
    rows = build_rows(task, "eval", n=n)
    held = [r.image for r in rows] if mode == "eager" else []
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mode": mode, "rows": len(rows), "held_images": len(held), "seconds": round(seconds, 2),
            "peak_rss_mb": round(peak_kb / 1024, 1)}


def run_arm(task_yaml: Path, mode: str, n: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--arm", mode, "--task", str(task_yaml), "--n", str(n)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the {mode} arm failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="rows for the lazy-vs-eager comparison")
    ap.add_argument("--n-large", type=int, default=100_000, help="rows for the lazy-only run (0: skip)")
    ap.add_argument("--images", type=int, default=200, help="distinct image files")
    ap.add_argument("--side", default="320x240", help="image size WxH")
    ap.add_argument("--quick", action="store_true", help="smaller runs (500 rows, 20k lazy rows)")
    ap.add_argument("--arm", choices=["lazy", "eager"], help=argparse.SUPPRESS)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.arm:
        print(json.dumps(arm(args.task, args.arm, args.n)))
        return
    if args.quick:
        args.n, args.n_large = min(args.n, 500), min(args.n_large, 20_000)
    size = tuple(int(v) for v in args.side.split("x"))
    with tempfile.TemporaryDirectory(prefix="pr1bench-lazy-") as tmp:
        make_images(Path(tmp), args.images, size)  # type: ignore[arg-type]
        task = make_task(Path(tmp), args.n, args.images, size)  # type: ignore[arg-type]
        lazy, eager = run_arm(task, "lazy", args.n), run_arm(task, "eager", args.n)
        print(f"{args.n} rows over {args.images} images of {args.side} (refcoco task, build_rows):")
        for r in (eager, lazy):
            name = "eager (baseline: pr1bench before issue 15, rows hold decoded images)" if r["mode"] == "eager" \
                else "lazy (rows hold LazyImage)"
            print(f"  {name:72s} peak RSS {r['peak_rss_mb']:8.1f} MB   {r['seconds']:6.2f} s")
        print(f"  ratio eager / lazy peak RSS: {eager['peak_rss_mb'] / lazy['peak_rss_mb']:.2f}x")
        if args.n_large:
            big = run_arm(make_task(Path(tmp), args.n_large, args.images, size), "lazy", args.n_large)  # type: ignore[arg-type]
            print(f"{args.n_large} lazy rows: peak RSS {big['peak_rss_mb']:.1f} MB in {big['seconds']:.1f} s "
                  f"(eager would hold {args.n_large} decoded images)")


if __name__ == "__main__":
    main()
