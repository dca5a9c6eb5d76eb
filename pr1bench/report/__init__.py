"""`pr1bench report`: paper-style tables, complexity-vs-gain, ablations, sweeps and plots, from DuckDB only.

Flow: :func:`pr1bench.report.data.load` (a few aggregated SQL queries) -> :func:`build` (sections of formatted
cells plus their numbers) -> a renderer in :mod:`pr1bench.report.render` and plots in
:mod:`pr1bench.report.plots`. Statistics are in :mod:`pr1bench.report.stats` (read its docstring for the choices);
the paper's numbers in :mod:`pr1bench.report.paper`; re-running stored runs in :mod:`pr1bench.report.repro`.

Importing this package is cheap (numpy only); duckdb, scipy, pandas, matplotlib and optuna load on use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pr1bench.report.section import Section

if TYPE_CHECKING:
    from pr1bench.report.data import ReportData

__all__ = ["Section", "build", "build_from"]


def build_from(data: ReportData, *, with_paper: bool = False, sweeps: bool = True) -> list[Section]:
    """All sections in report order: models, main tables, complexity vs gain, ablations, sweeps."""
    from pr1bench.report.ablations import ablation_sections
    from pr1bench.report.models import models_section
    from pr1bench.report.sweeps import sweep_sections
    from pr1bench.report.tables import complexity_section, main_section

    tasks = data.task_filter or data.tasks
    if not tasks:
        missing = ("no completed runs in the database" + (f" for {', '.join(data.task_filter)}"
                   if data.task_filter else "") + "; run `pr1bench train counting --variant grpo` "
                   "and `pr1bench eval counting`, or `pr1bench ingest results/runs`")  # fmt: skip
        sections = [Section(key="main", title="Main results", missing=missing, group="main")]
    else:
        sections = [models_section(data)] if len(data.runs) else []
        sections += [main_section(data, t, with_paper=with_paper) for t in tasks if t in data.primary] + [
            complexity_section(data, t) for t in tasks if t in data.primary]
        sections += [Section(key=f"main-{t}", title=t, group="main",
                             missing=f"no completed runs of {t}; run `pr1bench train {t} --variant grpo`")
                     for t in tasks if t not in data.primary]  # fmt: skip
        sections += ablation_sections(data, with_paper=with_paper)
    if sweeps:
        sections += sweep_sections(data)
    return sections


def build(*, tasks: list[str] | None = None, metric: str | None = None, sweep: str | None = None,
          with_paper: bool = False, db: Path | str | None = None) -> tuple[list[Section], ReportData]:
    """Load from the database and build every section (see :func:`build_from`)."""
    from pr1bench.report.data import load

    data = load(tasks=tasks, metric=metric, sweep=sweep, db=db)
    return build_from(data, with_paper=with_paper), data
