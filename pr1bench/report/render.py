"""Renderers: the same sections as rich tables, GitHub Markdown, booktabs LaTeX, or one CSV per table.

Cells are already formatted strings (:mod:`pr1bench.report.section`); a renderer only escapes and lays them out,
so every format shows identical numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pr1bench.report.section import Section

FORMATS = ("rich", "markdown", "latex", "csv")
GROUP_TITLES = {
    "models": "Models",
    "main": "Main results",
    "complexity": "Perceptual complexity vs gain",
    "ablations": "Ablations",
    "sweeps": "Sweeps",
}


def _groups(sections: Sequence[Section]) -> list[tuple[str, list[Section]]]:
    out: dict[str, list[Section]] = {}
    for s in sections:
        out.setdefault(s.group, []).append(s)
    return list(out.items())


# ---------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(sections: Sequence[Section], *, header: str = "") -> str:
    """GitHub-flavoured Markdown: one heading per group, one pipe table per section."""
    lines = [f"# pr1bench report{': ' + header if header else ''}", ""]
    for group, secs in _groups(sections):
        lines += [f"## {GROUP_TITLES.get(group, group)}", ""]
        for s in secs:
            lines += [f"### {_md_cell(s.title)}", ""]
            if s.empty:
                lines += [f"> {s.missing or 'no data'}", ""]
                continue
            lines.append("| " + " | ".join(_md_cell(c) for c in s.columns) + " |")
            lines.append("|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(s.columns))) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in s.rows]
            lines.append("")
            lines += [f"- {n}" for n in s.notes] + ([""] if s.notes else [])
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- LaTeX

_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "−": "$-$", "Δ": r"$\Delta$", "–": "--", "≥": r"$\geq$", "ρ": r"$\rho$", "!": "!"}  # fmt: skip


def latex_escape(text: str) -> str:
    """Escape LaTeX specials so a cell pastes verbatim into a document."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def latex(sections: Sequence[Section]) -> str:
    """booktabs tables (``\\usepackage{booktabs}``), one ``table`` float per section, paste-ready."""
    parts = ["% pr1bench report: needs \\usepackage{booktabs}"]
    for s in sections:
        label = "tab:" + s.key.replace("_", "-")
        if s.empty:
            parts.append(f"% {s.title}: {s.missing or 'no data'}")
            continue
        spec = "l" + "r" * (len(s.columns) - 1)
        body = [" & ".join(latex_escape(c) for c in row) + r" \\" for row in s.rows]
        notes = "".join(f"\n\\par\\footnotesize {latex_escape(n)}" for n in s.notes)
        parts.append("\n".join([
            r"\begin{table}[t]", r"\centering", r"\small", f"\\caption{{{latex_escape(s.title)}}}",
            f"\\label{{{label}}}", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
            " & ".join(latex_escape(c) for c in s.columns) + r" \\", r"\midrule", *body, r"\bottomrule",
            r"\end{tabular}" + notes, r"\end{table}",
        ]))  # fmt: skip
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- CSV


def write_csv(sections: Sequence[Section], out: Path) -> list[Path]:
    """One CSV per non-empty section (its numeric frame, else its formatted cells); returns the files."""
    import csv

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for s in sections:
        if s.empty:
            continue
        path = out / f"{s.key}.csv"
        if s.frame is not None and len(s.frame):
            s.frame.to_csv(path, index=False)
        else:
            with path.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(s.columns)
                w.writerows(s.rows)
        written.append(path)
    return written


# ---------------------------------------------------------------- rich


def rich_renderables(sections: Sequence[Section]) -> list[object]:
    """rich Tables (and dim notes) for the terminal."""
    from rich.markup import escape
    from rich.rule import Rule
    from rich.table import Table
    from rich.text import Text

    out: list[object] = []
    for group, secs in _groups(sections):
        out.append(Rule(GROUP_TITLES.get(group, group)))
        for s in secs:
            if s.empty:
                out.append(Text.assemble((s.title + ": ", "bold"), (s.missing or "no data", "yellow")))
                continue
            t = Table(title=escape(s.title), title_justify="left", caption_justify="left",
                      caption="\n".join(escape(n) for n in s.notes) or None)
            for i, c in enumerate(s.columns):
                t.add_column(escape(c), justify="left" if i == 0 else "right")
            for row in s.rows:
                t.add_row(*(escape(c) for c in row))
            out.append(t)
    return out
