"""Studies: a shipped, reproducible grid of runs (variants x tasks x seeds + ablation arms) and its findings.

``studies/embedded.yaml`` is the embedded replication study of the paper's four findings; `pr1bench study run`
executes it (resumable), `pr1bench study report` states each finding with its interval and verdict, and
`pr1bench study check` compares a fresh run against the shipped reference under ``results/reference/``.
"""
