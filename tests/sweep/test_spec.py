"""Sweep files: shipped ones validate, bad ones fail fast with file, key and a did-you-mean; sampling and overrides."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from pr1bench.cli.main import app
from pr1bench.spec import ConfigError
from pr1bench.sweep.spec import load_sweep, sweep_names
from tests.sweep.conftest import write_sweep

SHIPPED = [
    "ablation-kl",
    "ablation-matching",
    "ablation-reward-terms",
    "ablation-rollouts",
    "counting",
    "detection",
    "grounding",
    "ocr",
]
BASE = "base: {task: detection, variant: grpo, trainer: {per_device_train_batch_size: 8}}\n"


def test_every_shipped_sweep_validates(monkeypatch):
    monkeypatch.delenv("PR1BENCH_SWEEPS", raising=False)
    assert set(SHIPPED) <= set(sweep_names())
    for name in sweep_names():
        spec, task = load_sweep(name)
        assert spec.metric and spec.search_space
        from pr1bench.sweep.study import make_pruner, make_sampler

        make_sampler(spec), make_pruner(spec)


def test_shipped_files_start_with_a_comment_and_the_command(monkeypatch):
    from pr1bench.sweep.spec import sweeps_dir

    monkeypatch.delenv("PR1BENCH_SWEEPS", raising=False)
    for p in sweeps_dir().glob("*.yaml"):
        lines = p.read_text().splitlines()
        assert lines[0].startswith("# ") and f"pr1bench sweep {p.stem}" in "\n".join(lines[:3]), p


@pytest.mark.parametrize(
    ("body", "key", "hint"),
    [
        (
            BASE + "search_space: {rewards.box_iuo.weight: {type: float, low: 0, high: 1}}\n",
            "search_space.rewards.box_iuo.weight",
            "Did you mean 'box_iou'",
        ),
        (
            BASE + "search_space: {trainer.betta: {type: float, low: 0, high: 1}}\n",
            "search_space.trainer.betta",
            "Did you mean 'beta'",
        ),
        (
            BASE + "search_space: {beta: {type: float, low: 0.5, high: 0.1}}\n",
            "search_space.beta.low",
            "< high",
        ),
        (
            BASE + "search_space: {matching: {type: categorical, choices: []}}\n",
            "search_space.matching.choices",
            "at least one",
        ),
        (
            BASE + "search_space: {matching: {type: categorical, choices: [hungarian, greedy]}}\n",
            "search_space.matching",
            "greedy",
        ),
        (
            BASE + "search_space: {beta: {type: flaot, low: 0, high: 1}}\n",
            "search_space.beta.type",
            "Did you mean 'float'",
        ),
        (
            BASE + "search_space: {beta: {type: float, low: 0, high: 1, lgo: true}}\n",
            "search_space.beta.lgo",
            "'log'",
        ),
        (
            BASE + "serch_space: {beta: {type: float, low: 0, high: 1}}\n",
            "serch_space",
            "Did you mean 'search_space'",
        ),
        (
            BASE + "objective: {metric: APP}\nsearch_space: {beta: {type: float, low: 0, high: 1}}\n",
            "objective.metric",
            "Did you mean 'AP'",
        ),
        (
            BASE
            + "study: {sampler: {name: TPESampeler}}\nsearch_space: {beta: {type: float, low: 0, high: 1}}\n",
            "study.sampler.name",
            "Did you mean 'TPESampler'",
        ),
        (
            BASE
            + "study: {pruner: {name: MedianPruner}}\nsearch_space: {beta: {type: float, low: 0, high: 1}}\n",
            "study.pruner",
            "every_steps",
        ),
        (
            BASE
            + "study: {sampler: {name: GridSampler}}\nsearch_space: {beta: {type: float, low: 0, high: 1}}\n",
            "search_space.trainer.beta",
            "discrete",
        ),
        (
            BASE + "search_space: {num_generations: {type: categorical, choices: [4, 16]}}\n",
            "search_space.trainer.num_generations",
            "does not divide",
        ),
        (
            BASE + "search_space: {beta: {type: float, low: 0, high: 1}}\nenqueue: [{bta: 0.04}]\n",
            "enqueue.0.trainer.bta",
            "Did you mean 'trainer.beta'",
        ),
        (
            BASE + "search_space: {beta: {type: float, low: 0, high: 1}}\nenqueue: [{beta: 3.0}]\n",
            "enqueue.0.trainer.beta",
            "outside",
        ),
        (
            "base: {task: detecton}\nsearch_space: {beta: {type: float, low: 0, high: 1}}\n",
            "base.task",
            "Did you mean 'detection'",
        ),
        (
            "base: {task: counting, variant: sft, trainer: {beta: 0.1}}\nsearch_space: {learning_rate: "
            "{type: float, low: 1.0e-5, high: 1.0e-4}}\n",
            "base.trainer.beta",
            "SFTConfig",
        ),
    ],
)
def test_invalid_sweep_is_a_clear_error_in_under_a_second(sweeps_dir, body, key, hint):
    path = write_sweep(sweeps_dir, "bad", body)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        load_sweep(str(path))
    elapsed = time.perf_counter() - t0
    assert e.value.file == str(path) and e.value.key == key, str(e.value)
    assert hint in str(e.value)
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_stem_and_cli_override_on_a_swept_key(sweeps_dir):
    path = write_sweep(sweeps_dir, "ok", BASE + "search_space: {beta: {type: float, low: 0, high: 1}}\n")
    load_sweep("ok")
    with pytest.raises(ConfigError, match="is swept"):
        load_sweep("ok", ["beta=0.1"])
    spec, _ = load_sweep("ok", ["max_steps=3", "eval.n=2"])
    assert spec.base["trainer"]["max_steps"] == 3 and spec.base["eval"]["n"] == 2
    (sweeps_dir / "other.yaml").write_text(path.read_text())
    with pytest.raises(ConfigError, match="file stem"):
        load_sweep("other")


def test_cli_validate_reports_file_key_and_exit_code(sweeps_dir):
    write_sweep(
        sweeps_dir, "bad", BASE + "search_space: {rewards.box_iuo.weight: {type: float, low: 0, high: 1}}\n"
    )
    r = CliRunner().invoke(app, ["sweep", "validate", "bad"])
    assert r.exit_code == 2
    assert (
        "bad.yaml" in r.output and "search_space.rewards.box_iuo.weight" in r.output and "box_iou" in r.output
    )


def test_suggest_and_overrides_build_the_trial_spec(sweeps_dir):
    import optuna

    from pr1bench.sweep.space import suggest, trial_spec

    write_sweep(
        sweeps_dir,
        "s",
        BASE
        + """variants: {sft: {trainer.learning_rate: 5.0e-4}}
search_space:
  rewards.recall_f1.weight: {type: float, low: 0.0, high: 2.0}
  matching: {type: categorical, choices: [hungarian, sequential]}
  num_generations: {type: categorical, choices: [2, 4, 8]}
  learning_rate: {type: float, low: 1e-6, high: 1e-4, log: true}
  trainer.max_steps: {type: int, low: 2, high: 10, step: 2}
""",
    )
    spec, task = load_sweep("s", ["eval.n=3"])
    assert set(spec.search_space) == {
        "rewards.recall_f1.weight",
        "matching",
        "trainer.num_generations",
        "trainer.learning_rate",
        "trainer.max_steps",
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(5):
        trial = study.ask()
        params = suggest(trial, spec)
        run = trial_spec(spec, task, params, trial.number)
        assert run.sweep == "s" and run.trial == trial.number and run.eval.n == 3
        assert run.rewards["recall_f1"].weight == params["rewards.recall_f1.weight"]
        assert run.matching == params["matching"]
        assert run.trainer["num_generations"] == params["trainer.num_generations"]
        assert 1e-6 <= run.trainer["learning_rate"] <= 1e-4 and run.trainer["max_steps"] in (2, 4, 6, 8, 10)
        assert run.trainer["per_device_train_batch_size"] == 8  # from base
        study.tell(trial, 0.0)


def test_train_command_round_trips(sweeps_dir):
    from pr1bench.runner import build_spec
    from pr1bench.sweep.space import train_command, trial_spec

    write_sweep(sweeps_dir, "s", BASE + "search_space: {beta: {type: float, low: 0, high: 1}}\n")
    spec, task = load_sweep("s", ["model=tiny-raw", "data.n_objects=[1, 3]", "seed=3"])
    run = trial_spec(spec, task, {"trainer.beta": 2e-5, "matching": "sequential"}, 4).model_dump(mode="json")
    cmd = train_command(run)
    assert cmd[:5] == ["pr1bench", "train", "detection", "--variant", "grpo"]
    assert "beta=2.0e-05" in cmd and "matching=sequential" in cmd
    model = cmd[cmd.index("--model") + 1]
    seed = int(cmd[cmd.index("--seed") + 1])
    overrides = [c for c in cmd[5:] if "=" in c]
    back, _ = build_spec("detection", "grpo", overrides, model=model, seed=seed, check_trl=False)
    want = {k: v for k, v in run.items() if k not in ("sweep", "trial")}
    got = {k: v for k, v in back.model_dump(mode="json").items() if k not in ("sweep", "trial")}
    assert got == want
