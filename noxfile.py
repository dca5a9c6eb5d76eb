"""nox sessions: `nox -l` lists them. Expensive ones are not run by a bare `nox`.

Sessions reuse one CPU install (constraints/cpu.txt pins torch/torchvision for the Qwen2-VL processor).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
INSTALL = ("-c", "constraints/cpu.txt", "-e", ".[dev]")


def _install(session: nox.Session) -> None:
    session.install(*INSTALL)


@nox.session
def tests(session: nox.Session) -> None:
    """Default test suite (pure functions, CLI, tiny-model runs on CPU); under ~15 minutes on 2 cores."""
    _install(session)
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", "pr1bench", "tests", "benchmarks", "noxfile.py")


@nox.session(default=False)
def typecheck(session: nox.Session) -> None:
    """mypy over the package."""
    _install(session)
    session.run("mypy", "pr1bench")


@nox.session(default=False)
def e2e(session: nox.Session) -> None:
    """Slow end-to-end tests (real trainings of the tiny model, kill/resume, sweeps)."""
    _install(session)
    session.run("python", "-m", "pytest", "-m", "slow", *session.posargs)


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """The README's main job on the embedded default."""
    _install(session)
    session.run("bash", "scripts/demo.sh", external=True)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Performance benchmarks; each prints ratios against a named baseline."""
    _install(session)
    import pathlib

    for script in sorted(pathlib.Path("benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session(default=False)
def repro(session: nox.Session) -> None:
    """Re-run the shipped reference runs (results/reference) and fail when a metric drifts beyond tolerance."""
    _install(session)
    # `nox -s repro -- other/dir --tolerance acc=0.02` picks another reference set and extra tolerances.
    args = list(session.posargs)
    ref = args.pop(0) if args and not args[0].startswith("-") else "results/reference"
    session.run("pr1bench", "repro", "--reference", ref, *args)
