"""Hyperparameter sweeps: an Optuna study whose trials are ordinary pr1bench runs.

``sweeps/*.yaml`` describe a base run spec, an objective, a sampler/pruner and a search space in Optuna's short
distribution form over dotted run-spec keys (:mod:`pr1bench.sweep.spec`). The driver
(:mod:`pr1bench.sweep.driver`) asks Optuna for a trial, turns its parameters into a RunSpec
(:mod:`pr1bench.sweep.space`), launches it through :func:`pr1bench.runner.execute` (the same path as
``pr1bench train``), reports intermediate evaluations for pruning (:mod:`pr1bench.sweep.trial`) and records the
result in Optuna's storage and in DuckDB. Crash recovery (leases, stale trials, retries) lives in
:mod:`pr1bench.sweep.study`.

Importing this package is cheap: optuna, duckdb and torch are imported inside the functions that need them.
"""

from __future__ import annotations
