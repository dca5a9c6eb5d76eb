"""Sweep summary: best trial per sweep, parameter importances (Optuna's) and trial history.

Importances come from the sweep's Optuna study when its journal (``results/optuna/<sweep>.log``) loads, with
``optuna.importance.get_param_importances``: fANOVA with a fixed seed when scikit-learn is installed, else PED-ANOVA
(pure Optuna). Without a journal they are computed from the ``trials`` table (params JSON) as each parameter's
main-effect share of the objective's variance (:func:`table_importances`). The section says which was used.
Fewer than two finished trials, or parameters that never varied, give a message instead of numbers.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from pr1bench.report.section import DASH, Section, num

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from pr1bench.report.data import ReportData

MAX_HISTORY_ROWS = 40


def _params(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            return json.loads(raw) or {}
        except json.JSONDecodeError:
            return {}
    return dict(raw or {})


def _short(params: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    return " ".join(f"{k.split('.')[-2] if k.endswith('.weight') else k.split('.')[-1]}={fmt(v)}"
                    for k, v in params.items())  # fmt: skip


def _sweep_meta(data: ReportData, name: str) -> dict[str, Any]:
    rows = data.sweeps[data.sweeps["name"] == name]
    if rows.empty:
        return {"task": None, "objective_metric": "value", "direction": "maximize"}
    return rows.iloc[0].to_dict()


def _names(data: ReportData) -> list[str]:
    return sorted(set(data.sweeps["name"]) | set(data.trials["sweep"]))


def best_section(data: ReportData) -> Section:
    """One row per sweep: its best finished trial (respecting the direction) and the trial counts."""
    import pandas as pd

    sec = Section(key="sweeps-best", title="Sweeps: best trial", group="sweeps")
    names = _names(data)
    if not names:
        sec.missing = "no sweeps in the database; run `pr1bench sweep detection --trials 6` (see `sweeps/`)"
        return sec
    sec.columns = ["sweep", "task", "objective", "best #", "value", "params", "run", "complete/pruned/failed"]
    records = []
    for name in names:
        meta, best = _sweep_meta(data, name), _best(data, name)
        trials = data.trials[data.trials["sweep"] == name]
        counts = "/".join(str(int((trials["state"] == s).sum())) for s in ("COMPLETE", "PRUNED", "FAIL"))
        objective = f"{meta['objective_metric']} ({meta['direction'][:3]})"
        if best is None:
            sec.rows.append([name, str(meta["task"] or DASH), objective, DASH, DASH, "no finished trial", DASH, counts])
            continue
        sec.rows.append([name, str(meta["task"] or DASH), objective, str(int(best["number"])), num(best["value"], 4),
                         _short(_params(best["params"])), str(best["run_id"] or DASH), counts])  # fmt: skip
        records.append({"sweep": name, "number": int(best["number"]), "value": best["value"],
                        "params": json.dumps(_params(best["params"])), "run_id": best["run_id"]})
    sec.frame = pd.DataFrame(records)
    return sec


def _best(data: ReportData, name: str) -> dict[str, Any] | None:
    t = data.trials[(data.trials["sweep"] == name) & (data.trials["state"] == "COMPLETE")]
    t = t[t["value"].notna() & t["value"].map(lambda v: math.isfinite(v))]
    if t.empty:
        return None
    sign = -1.0 if _sweep_meta(data, name)["direction"] == "maximize" else 1.0
    # ties go to the earlier trial, as in the best_trials view
    return t.assign(_k=t["value"] * sign).sort_values(["_k", "number"]).iloc[0].to_dict()


def history_section(data: ReportData, name: str) -> Section:
    """Every trial of one sweep in order, with the best value so far."""
    import pandas as pd

    sec = Section(key=f"sweep-history-{name}", title=f"Sweep {name}: trial history", group="sweeps")
    trials = data.trials[data.trials["sweep"] == name].sort_values("number")
    if trials.empty:
        sec.missing = f"sweep {name} has no trials yet; run `pr1bench sweep {name}`"
        return sec
    maximize = _sweep_meta(data, name)["direction"] == "maximize"
    sec.columns = ["#", "state", "value", "best so far", "params"]
    best: float | None = None
    records = []
    for t in trials.itertuples(index=False):
        v = t.value if t.value is not None and not (isinstance(t.value, float) and math.isnan(t.value)) else None
        if t.state == "COMPLETE" and v is not None:
            best = v if best is None or (v > best if maximize else v < best) else best
        records.append({"number": int(t.number), "state": t.state, "value": v, "best_so_far": best,
                        "params": json.dumps(_params(t.params))})
    sec.frame = pd.DataFrame(records)
    shown = records[-MAX_HISTORY_ROWS:]
    sec.rows = [[str(r["number"]), r["state"], num(r["value"], 4), num(r["best_so_far"], 4),
                 _short(json.loads(r["params"]))] for r in shown]  # fmt: skip
    if len(records) > len(shown):
        sec.notes.append(f"last {len(shown)} of {len(records)} trials shown; the CSV and plot have all of them")
    return sec


def importance_section(data: ReportData, name: str) -> Section:
    """fANOVA importances of the swept parameters for the sweep's objective."""
    import pandas as pd

    sec = Section(key=f"sweep-importance-{name}", title=f"Sweep {name}: parameter importances", group="sweeps")
    imp, source, why = importances(data, name)
    if not imp:
        sec.missing = f"no importances for {name}: {why}"
        return sec
    sec.columns = ["parameter", "importance"]
    sec.rows = [[k, num(v)] for k, v in imp.items()]
    sec.frame = pd.DataFrame({"parameter": list(imp), "importance": list(imp.values())})
    sec.notes.append(f"optuna.importance over {source}")
    return sec


def importances(data: ReportData, name: str) -> tuple[dict[str, float], str, str]:
    """(importances, source, reason when empty): Optuna's evaluator on the journal's study, else the table."""
    study = _journal_study(name)
    if study is None:
        return table_importances(data, name)
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}, "the Optuna journal", f"{len(complete)} finished trial(s); importances need at least 2"
    imp, method, why = _evaluate(study)
    if not imp:
        return {}, "the Optuna journal", why or "no parameter varied across finished trials"
    return {k: float(v) for k, v in imp.items()}, f"the Optuna journal ({method})", ""


def table_importances(data: ReportData, name: str) -> tuple[dict[str, float], str, str]:
    """Without a journal: each parameter's main-effect share of the objective's variance (eta squared).

    Numeric parameters with many values are cut into 5 quantile bins; the shares are normalised to sum to 1,
    like Optuna's. Cheap (no model fit), deterministic, and the same idea as fANOVA's first-order terms.
    """
    import pandas as pd

    source = "the trials table (main-effect variance share, eta squared)"
    t = data.trials[(data.trials["sweep"] == name) & (data.trials["state"] == "COMPLETE")]
    t = t[t["value"].notna()]
    if len(t) < 2:
        return {}, source, f"{len(t)} finished trial(s); importances need at least 2"
    params = pd.DataFrame([_params(p) for p in t["params"]], index=t.index)
    y = t["value"].astype(float)
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0 or params.empty:
        return {}, source, "the objective or the parameters never varied"
    raw = {}
    for col in params.columns:
        x = params[col]
        if x.nunique() < 2:
            continue
        if pd.api.types.is_numeric_dtype(x) and x.nunique() > 8:
            x = pd.qcut(x, 5, duplicates="drop")
        groups = y.groupby(x.astype(str))
        raw[col] = float((groups.count() * (groups.mean() - y.mean()) ** 2).sum()) / total
    norm = sum(raw.values())
    if not norm:
        return {}, source, "no parameter varied across finished trials"
    return dict(sorted(((k, v / norm) for k, v in raw.items()), key=lambda kv: -kv[1])), source, ""


def _evaluate(study: optuna.Study) -> tuple[dict[str, float], str, str]:
    """fANOVA (needs scikit-learn), else PED-ANOVA (pure Optuna); both seeded or deterministic."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    imp = optuna.importance
    for method, make in (("fANOVA, seed 0", lambda: imp.FanovaImportanceEvaluator(seed=0)),
                         ("PED-ANOVA", lambda: imp.PedAnovaImportanceEvaluator())):  # fmt: skip
        try:
            return dict(imp.get_param_importances(study, evaluator=make())), method, ""
        except ImportError:
            continue
        except (ValueError, RuntimeError) as e:
            return {}, method, str(e).splitlines()[0]
    return {}, "", "no importance evaluator available"


def _journal_study(name: str) -> optuna.Study | None:
    """The sweep's study from its journal file, or None (missing file, other study name, unreadable)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from pr1bench.paths import optuna_dir

    path = optuna_dir() / f"{name}.log"
    if not path.is_file():
        return None
    try:
        storage = JournalStorage(JournalFileBackend(str(path)))
        return optuna.load_study(study_name=name, storage=storage)
    except Exception:  # a foreign or damaged journal: fall back to the table
        return None


def sweep_sections(data: ReportData) -> list[Section]:
    """Best trials, then history and importances per sweep."""
    out = [best_section(data)]
    for name in _names(data):
        out += [history_section(data, name), importance_section(data, name)]
    return out


def history_frame(data: ReportData, name: str) -> pd.DataFrame | None:
    """The history section's numbers (for the plot)."""
    return history_section(data, name).frame
