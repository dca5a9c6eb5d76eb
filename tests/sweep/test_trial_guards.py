"""The trial's guards as pure functions (no training): a NaN/inf/null/missing objective or intermediate value
can never become a COMPLETE trial or reach Optuna's pruner."""

from __future__ import annotations

import json

import pytest

from pr1bench.sweep.trial import NonFiniteError, Reporter, read_objective


def _eval(tmp_path, metrics, name="eval.json"):
    (tmp_path / name).write_text(json.dumps({"split": "eval", "n": 2, "metrics": metrics}))
    return tmp_path


def test_read_objective_accepts_a_finite_value(tmp_path):
    _eval(tmp_path, {"acc": 0.5, "mae": 1})
    assert read_objective(tmp_path, "acc") == (0.5, None)
    assert read_objective(tmp_path, "mae") == (1.0, None)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), None, "0.5", True])
def test_read_objective_rejects_non_finite(tmp_path, bad):
    _eval(tmp_path, {"acc": bad})
    value, why = read_objective(tmp_path, "acc")
    assert value is None and "objective acc is" in why and "NaN/inf/null" in why


def test_read_objective_missing_metric_file_or_split(tmp_path):
    _eval(tmp_path, {"acc": 0.5, "mae": 1.0})
    value, why = read_objective(tmp_path, "AP")
    assert value is None and "no metric 'AP'" in why and "acc, mae" in why
    value, why = read_objective(tmp_path, "acc", split="heldout")  # eval-heldout.json was never written
    assert value is None and "eval-heldout.json" in why
    _eval(tmp_path, {"acc": 0.25}, name="eval-heldout.json")
    assert read_objective(tmp_path, "acc", split="heldout") == (0.25, None)
    (tmp_path / "eval.json").write_text('{"split": "eval", "metr')  # a half-written file
    value, why = read_objective(tmp_path, "acc")
    assert value is None and "cannot read the objective" in why


def _trial():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    return study, study.ask()


def test_reporter_forwards_finite_intermediate_values():
    study, trial = _trial()
    events: list[tuple] = []
    rep = Reporter(trial, "acc", 3, lambda *e: events.append(e))
    rep({"step": 1, "loss": 0.1})  # a training line without the eval key: progress only
    rep({"step": 2, "eval/acc": 0.25})
    rep({"step": 4, "eval/acc": 1})
    assert rep.values == [(2, 0.25), (4, 1.0)]
    assert study.trials[0].intermediate_values == {2: 0.25, 4: 1.0}
    assert ("intermediate", 3, (2, 0.25)) in events and ("step", 3, 1) in events


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None, "0.1", False])
def test_reporter_rejects_non_finite_intermediate_values(bad):
    study, trial = _trial()
    rep = Reporter(trial, "acc", 0, None)
    rep({"step": 1, "eval/acc": 0.5})
    with pytest.raises(NonFiniteError, match=r"intermediate eval/acc at step 2 .*NaN/inf/null"):
        rep({"step": 2, "eval/acc": bad})
    assert study.trials[0].intermediate_values == {1: 0.5}  # the bad value never reached Optuna
    assert rep.values == [(1, 0.5)]


def test_reporter_asks_the_pruner():
    import optuna

    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5, n_warmup_steps=0)
    )
    rep = Reporter(study.ask(), "acc", 0, None)
    rep({"step": 1, "eval/acc": 0.75})
    with pytest.raises(optuna.TrialPruned, match="pruned at step 2"):
        rep({"step": 2, "eval/acc": 0.25})


def test_pruned_trial_marks_its_run_pruned_not_killed(tmp_path) -> None:
    """The store tells a pruned trial's run from a killed one (a killed run is resumable, a pruned one is not)."""
    import json as _json

    from pr1bench.store.rundir import STATUSES
    from pr1bench.sweep.trial import Outcome, _note_on_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(_json.dumps({"run_id": "r", "status": "killed", "error": None}))
    _note_on_run(Outcome(state="PRUNED", run_dir=run, error="trial pruned at step 2"))
    rec = _json.loads((run / "run.json").read_text())
    assert rec["status"] == "pruned" and rec["status"] in STATUSES
    assert rec["error"] == "pruned by the sweep: trial pruned at step 2"
    (run / "run.json").write_text(_json.dumps({"run_id": "r", "status": "failed", "error": "boom"}))
    _note_on_run(Outcome(state="FAIL", run_dir=run, error="boom"))
    assert _json.loads((run / "run.json").read_text())["status"] == "failed"  # only PRUNED is relabelled
