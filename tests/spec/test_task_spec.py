"""Task YAML validation: every shipped file passes; malformed files fail fast with file, key and a hint."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pr1bench.spec import ConfigError, load_task, task_names

GOOD = """\
task: {stem}
version: 1
type: counting
data: {{source: synthetic, generator: count_shapes, n_objects: [1, 4], train: 10, eval: 5}}
answer: {{format: points, coords: absolute_pixels}}
prompt: "Output all the points of the {{label}} in the image."
rewards:
  - {{name: format}}
  - {{name: count_points}}
metrics: [count_acc]
primary_metric: acc
"""


def write(tmp_path: Path, text: str, stem: str = "mytask") -> Path:
    p = tmp_path / f"{stem}.yaml"
    p.write_text(text)
    return p


def test_all_shipped_tasks_validate():
    names = task_names()
    assert {"grounding", "counting", "ocr", "detection", "refcoco", "refcocop", "refcocog", "pixmo-count",
            "pageocr", "coco-detection"} <= set(names)
    for n in names:
        spec = load_task(n)
        assert spec.task == n and spec.version >= 1


def test_good_file_loads(tmp_path):
    spec = load_task(str(write(tmp_path, GOOD.format(stem="mytask"))))
    assert spec.type == "counting" and spec.reward_weights() == {"format": 1.0, "count_points": 1.0}


@pytest.mark.parametrize(
    ("mutate", "key", "hint"),
    [
        (lambda s: s.replace("prompt:", "promt:"), "promt", "did you mean 'prompt'"),
        (lambda s: s.replace("name: count_points", "name: count_pionts"), "rewards.1.name", "count_points"),
        (lambda s: s.replace("version: 1", "version: one"), "version", "integer"),
        (lambda s: s.replace("metrics: [count_acc]", "metrics: [count_accc]"), "metrics.0", "count_acc"),
        (lambda s: s.replace("n_objects: [1, 4]", "n_objject: [1, 4]"), "data.n_objject", "n_objects"),
        (lambda s: s.replace("{name: format}", "{name: format, args: {sqared: true}}"), "rewards.0.args.sqared", ""),
        (lambda s: s.replace("type: counting", "type: countin"), "type", "counting"),
        (lambda s: s.replace("format: points", "format: pionts"), "answer.format", "points"),
    ],
)
def test_bad_files_name_file_key_and_hint(tmp_path, mutate, key, hint):
    path = write(tmp_path, mutate(GOOD.format(stem="mytask")))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as ei:
        load_task(str(path))
    assert time.perf_counter() - t0 < 1.0
    msg = str(ei.value)
    assert str(path.resolve()) in msg or str(path) in msg
    assert ei.value.key == key, msg
    assert hint.lower() in msg.lower(), msg


def test_bad_yaml_reports_line(tmp_path):
    path = write(tmp_path, "task: x\nrewards: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML: line"):
        load_task(str(path))


def test_stem_must_match(tmp_path):
    with pytest.raises(ConfigError, match="file stem"):
        load_task(str(write(tmp_path, GOOD.format(stem="other"), stem="mytask")))


def test_include_templates_merge_and_override(tmp_path):
    (tmp_path / "_base.yaml").write_text("version: 3\ndata: {source: synthetic, generator: count_shapes, train: 7}\n")
    body = GOOD.format(stem="mytask").replace("version: 1\n", "").replace(
        "data: {source: synthetic, generator: count_shapes, n_objects: [1, 4], train: 10, eval: 5}",
        "data: {n_objects: [1, 4], eval: 5}")
    spec = load_task(str(write(tmp_path, "include: _base.yaml\n" + body)))
    assert spec.version == 3 and spec.data.train == 7 and spec.data.eval == 5


def test_include_cycle_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("include: b.yaml\n")
    (tmp_path / "b.yaml").write_text("include: a.yaml\n")
    with pytest.raises(ConfigError, match="include cycle"):
        load_task(str(tmp_path / "a.yaml"))


def test_unknown_task_name_suggests():
    with pytest.raises(ConfigError, match="counting"):
        load_task("countin")
