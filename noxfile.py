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
def study(session: nox.Session) -> None:
    """The embedded replication study (studies/embedded.yaml): train, evaluate, report with verdicts.

    `nox -s study` runs the full study (3 seeds, 58 runs, 83 minutes on 2 cores measured on embedded-v3; resumable:
    run it again after a kill); `nox -s study -- --quick` the quick form (1 seed, 16 runs, about 5 minutes). The
    report lands in results/study.
    """
    _install(session)
    quick = "--quick" in session.posargs
    out = "results/study-quick" if quick else "results/study"
    session.run("pr1bench", "study", "run", "embedded", *session.posargs, "--report", out)


@nox.session(default=False)
def repro(session: nox.Session) -> None:
    """Run the quick study afresh and compare it with the shipped reference (results/reference/) within tolerances.

    `nox -s repro -- --tolerance acc=0.05` tightens or loosens a metric's tolerance (absolute).
    """
    _install(session)
    ref = "results/reference/study-embedded-quick.json"
    session.run("pr1bench", "study", "run", "embedded", "--quick", "--fresh", "--report", "results/study-quick")
    session.run("pr1bench", "study", "check", "embedded", "--quick", "--reference", ref, *session.posargs)
