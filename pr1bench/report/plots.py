"""Plots (matplotlib, Agg backend): complexity vs gain, reward curves per variant, sweep history and importances.

Each figure is written as PNG (for a README) and SVG (for a paper) under ``--out``. Figures are sized for one
column with 9-10 pt text; legends sit outside the data or in the emptiest corner, so nothing overlaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pr1bench.report.section import VARIANT_LABEL, VARIANT_ORDER, Section

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pr1bench.report.data import ReportData

COLORS = {"base": "#7f7f7f", "sft": "#1f77b4", "grpo": "#d62728", "cot-grpo": "#ff7f0e", "sft-grpo": "#2ca02c"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
                         "svg.hashsalt": "pr1bench", "figure.dpi": 100})  # fmt: skip
    return plt


def _save(fig: Figure, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    _plt().close(fig)
    return paths


def _grid(plt: Any, n: int, w: float = 3.6, h: float = 2.8) -> tuple[Figure, list[Any]]:
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def complexity_gain(sections: Sequence[Section], out: Path) -> list[Path]:
    """Gain (RL minus SFT and minus base) against mean ln n! per bucket, one panel per task, with intervals."""
    frames = [s.frame for s in sections if s.group == "complexity" and s.frame is not None and len(s.frame)]
    if not frames:
        return []
    plt = _plt()
    fig, axes = _grid(plt, len(frames))
    for ax, df in zip(axes, frames, strict=True):
        for col, label, color, dx in (("gain_sft", "GRPO − SFT", COLORS["sft"], -0.03),
                                      ("gain_base", "GRPO − base", COLORS["base"], 0.03)):  # fmt: skip
            ok = df[df[col].notna()]
            if ok.empty:
                continue
            x = ok["mean_log_fact"].to_numpy(dtype=float) + dx
            y = ok[col].to_numpy(dtype=float)
            lo = (y - ok[f"{col}_lo"].fillna(ok[col]).to_numpy(dtype=float)).clip(min=0)
            hi = (ok[f"{col}_hi"].fillna(ok[col]).to_numpy(dtype=float) - y).clip(min=0)
            ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", color=color, capsize=3, ms=4, lw=1.2, label=label)
        ax.axhline(0, color="black", lw=0.6, ls=":")
        ax.set_title(f"{df['task'].iloc[0]} ({df['metric'].iloc[0]})")
        ax.set_xlabel("mean ln n! per bucket")
        ax.set_ylabel(f"gain in {df['metric'].iloc[0]}")
        ax.legend(loc="best", frameon=False)
    fig.suptitle("Perceptual complexity vs RL gain (95% bootstrap intervals)")
    return _save(fig, out, "complexity_gain")


def reward_curves(data: ReportData, out: Path) -> list[Path]:
    """Mean training reward by step per variant, one panel per task (mean over runs outside sweeps)."""
    curves = data.curves
    if curves is None or curves.empty:
        return []
    tasks = sorted(set(curves["task"]))
    plt = _plt()
    fig, axes = _grid(plt, len(tasks), h=3.3)
    for ax, task in zip(axes, tasks, strict=True):
        sub = curves[curves["task"] == task]
        for variant in [v for v in VARIANT_ORDER if v in set(sub["variant"])]:
            c = sub[sub["variant"] == variant].sort_values("step")
            runs = int(c["runs"].max())
            ax.plot(c["step"], c["value"], color=COLORS[variant], lw=1.3,
                    label=f"{VARIANT_LABEL[variant]} ({runs} run{'s' if runs > 1 else ''})")
        ax.set_title(task)
        ax.set_xlabel("training step")
        ax.set_ylabel("mean reward")
        # below the axes: curves of several variants leave no empty corner inside
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    fig.suptitle("Training reward per variant")
    return _save(fig, out, "reward_curves")


def sweep_plots(data: ReportData, sections: Sequence[Section], out: Path) -> list[Path]:
    """Per sweep: objective per trial with the best so far, and a bar chart of parameter importances."""
    written: list[Path] = []
    by_key = {s.key: s for s in sections}
    names = sorted({s.key.removeprefix("sweep-history-") for s in sections if s.key.startswith("sweep-history-")})
    plt = _plt()
    for name in names:
        hist, imp = by_key.get(f"sweep-history-{name}"), by_key.get(f"sweep-importance-{name}")
        if hist is None or hist.frame is None or hist.frame.empty:
            continue
        has_imp = imp is not None and imp.frame is not None and not imp.frame.empty
        fig, axes = plt.subplots(1, 2 if has_imp else 1, figsize=(8.4 if has_imp else 4.4, 3.0), squeeze=False,
                                 layout="constrained")  # fmt: skip
        _history_axes(axes[0][0], hist.frame, name, data)
        if has_imp:
            _importance_axes(axes[0][1], imp.frame)
        written += _save(fig, out, f"sweep_{name}")
    return written


def _history_axes(ax: Any, df: Any, name: str, data: ReportData) -> None:
    done = df[df["value"].notna()]
    meta = data.sweeps[data.sweeps["name"] == name]
    metric = meta["objective_metric"].iloc[0] if len(meta) else "objective"
    ax.scatter(done["number"], done["value"], s=14, color="#1f77b4", label="trial", zorder=3)
    ax.step(df["number"], df["best_so_far"], where="post", color="#d62728", lw=1.3, label="best so far")
    ax.set_title(f"{name}: history")
    ax.set_xlabel("trial number")
    ax.set_ylabel(metric)
    ax.legend(loc="best", frameon=False)


def _importance_axes(ax: Any, df: Any) -> None:
    df = df.sort_values("importance")
    labels = [p if len(p) <= 28 else "…" + p[-27:] for p in df["parameter"]]
    ax.barh(labels, df["importance"], color="#2ca02c")
    ax.set_xlabel("importance (optuna)")
    ax.set_title("parameter importances")
    ax.set_xlim(0, max(1.0, float(df["importance"].max()) * 1.05))


def write_all(data: ReportData, sections: Sequence[Section], out: Path) -> list[Path]:
    """Every plot there is data for; returns the written files."""
    return [*complexity_gain(sections, out), *reward_curves(data, out), *sweep_plots(data, sections, out)]
