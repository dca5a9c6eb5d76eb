"""The live table of a running sweep, and the tables of ``sweep status``: rich renderables, no I/O."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from pr1bench.sweep.record import TrialRow

STATE_STYLE = {"RUNNING": "cyan", "COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "WAITING": "dim"}
MAX_ROWS = 24


def short_key(key: str) -> str:
    """``rewards.box_iou.weight`` -> ``box_iou``, ``trainer.beta`` -> ``beta``: the table stays narrow."""
    parts = key.split(".")
    if parts[0] == "rewards" and len(parts) >= 2:
        return parts[1]
    return parts[-1]


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return "-" if v is None else str(v)


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{short_key(k)}={fmt(v)}" for k, v in params.items())


def _elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


def live_table(
    title: str, rows: list[TrialRow], best: TrialRow | None, target: int, *, maximize: bool = True
) -> Table:
    """Trials (newest last, at most MAX_ROWS), with the best value so far in the caption."""
    t = Table(title=title, caption=_caption(rows, best, target), expand=False)
    for col in ("#", "state", "params", "step", "interm.", "value", "best so far", "elapsed"):
        t.add_column(
            col, no_wrap=col != "params", justify="right" if col in ("#", "step", "value") else "left"
        )
    best_so_far: float | None = None
    shown = rows[-MAX_ROWS:]
    sign = 1.0 if maximize else -1.0
    for r in rows:
        if r.state == "COMPLETE" and r.value is not None:
            best_so_far = (
                r.value if best_so_far is None or sign * r.value > sign * best_so_far else best_so_far
            )
        if r in shown:
            style = STATE_STYLE.get(r.state, "")
            state = r.state + (f" (retry {r.attempt})" if r.attempt else "")
            t.add_row(
                str(r.number),
                f"[{style}]{state}[/]",
                escape(params_text(r.params)),
                fmt(r.step),
                fmt(r.intermediate),
                fmt(r.value),
                fmt(best_so_far),
                _elapsed(r.elapsed()),
            )
    return t


def _caption(rows: list[TrialRow], best: TrialRow | None, target: int) -> str:
    done = sum(r.state in ("COMPLETE", "PRUNED") for r in rows)
    failed = sum(r.state == "FAIL" for r in rows)
    best_txt = f"best #{best.number} = {fmt(best.value)}" if best else "no completed trial yet"
    return f"{done}/{target} finished this session, {failed} failed; {best_txt}"


def status_table(title: str, trials: list[Any]) -> Table:
    """``pr1bench sweep status``: every trial of a study (Optuna FrozenTrials)."""
    t = Table(title=title)
    for col in ("#", "state", "params", "value", "run", "duration", "error"):
        t.add_column(col, overflow="fold")
    for tr in trials:
        dur = tr.duration.total_seconds() if tr.duration else None
        style = STATE_STYLE.get(tr.state.name, "")
        err = tr.user_attrs.get("error") or ""
        t.add_row(
            str(tr.number),
            f"[{style}]{tr.state.name}[/]",
            params_text(tr.params),
            fmt(tr.value),
            tr.user_attrs.get("run_id") or "-",
            _elapsed(dur) if dur is not None else "-",
            escape(err[:120]),
        )
    return t
