-- 0001_init: the tables of the pr1bench results store.
--
-- Conventions
--   * Every timestamp is UTC (TIMESTAMP without zone; run.json's ISO strings are converted on ingest).
--   * Anything a run wrote is keyed by run_id; re-ingesting a run deletes every row with its run_id and inserts the
--     new ones in one transaction, so a run is either wholly present or wholly absent.
--   * The big tables (train_metrics, samples, sample_rewards) deliberately have no primary key or foreign key:
--     an index would slow bulk Arrow appends by several times and ingest already guarantees uniqueness per run.
--   * JSON columns hold text written by json.dumps (valid JSON): query them with ->> / json_extract.

-- One row per run directory (results/runs/<run_id>/run.json): the provenance needed to reproduce or distrust it.
CREATE TABLE runs (
    run_id           VARCHAR PRIMARY KEY,
    task             VARCHAR NOT NULL,
    task_version     VARCHAR,                 -- the task YAML's `version`, as text (stored with every result)
    variant          VARCHAR NOT NULL,        -- base | sft | grpo | cot-grpo | sft-grpo
    model            VARCHAR,                 -- the model the run started from
    seed             BIGINT,
    config           JSON,                    -- the fully resolved run spec
    config_hash      VARCHAR,                 -- sha256 hex of the config, as the trainer computed it
    git_sha          VARCHAR,
    packages         JSON,                    -- {name: version}
    coords           VARCHAR,                 -- normalized_1000 | absolute_pixels
    answer_format    VARCHAR,
    min_pixels       BIGINT,                  -- run.json pixels.min_pixels
    max_pixels       BIGINT,                  -- run.json pixels.max_pixels
    host             VARCHAR,
    started_at       TIMESTAMP,
    ended_at         TIMESTAMP,
    status           VARCHAR NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'killed')),
    error            VARCHAR,
    sweep            VARCHAR,                 -- sweeps.name when the run is a sweep trial
    trial            BIGINT,                  -- trials.number within that sweep
    parent_run       VARCHAR,                 -- e.g. the SFT run an sft-grpo run started from
    pr1bench_version VARCHAR,
    extra            JSON,                    -- run.json keys this schema does not know yet (forward compatible)
    run_dir          VARCHAR,                 -- where it was ingested from (absolute path)
    ingested_at      TIMESTAMP NOT NULL,
    ingest_notes     JSON                     -- warnings from the last ingest (truncated lines, skipped values)
);

-- Trainer log steps, long format: one row per (step, metric). metrics.jsonl keys other than
-- step/epoch/time/phase become `name`. Null, NaN, infinite and non-numeric values are skipped (not stored):
-- a time series gains nothing from a NULL point and NaN would poison every aggregate. The ingest result
-- reports how many were skipped.
CREATE TABLE train_metrics (
    run_id VARCHAR NOT NULL,
    step   BIGINT  NOT NULL,
    phase  VARCHAR,                           -- sft | grpo
    name   VARCHAR NOT NULL,                  -- e.g. loss, reward, rewards/box_iou/mean, eval/coco_ap
    value  DOUBLE  NOT NULL,
    epoch  DOUBLE,
    time   DOUBLE                             -- unix seconds when the trainer logged the step
);

-- One row per evaluated split of a run (eval.json, eval-<split>.json): size, perceptual complexity, notes.
CREATE TABLE evals (
    run_id        VARCHAR NOT NULL,
    split         VARCHAR NOT NULL,
    n             BIGINT,
    mean_fact     DOUBLE,
    mean_log_fact DOUBLE,
    median_fact   DOUBLE,
    notes         JSON,
    source_file   VARCHAR,
    PRIMARY KEY (run_id, split)
);

-- Final evaluation metrics, long format. bucket = 'all' is the whole split (with its confidence interval);
-- other buckets are the complexity buckets from eval.json (no CI). A non-finite metric is stored as NULL
-- (unlike train_metrics) because "computed but undefined" is itself a result worth seeing.
CREATE TABLE eval_metrics (
    run_id VARCHAR NOT NULL,
    split  VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    bucket VARCHAR NOT NULL DEFAULT 'all',
    value  DOUBLE,
    n      BIGINT,                            -- samples behind the value (the bucket's n for buckets)
    ci_lo  DOUBLE,
    ci_hi  DOUBLE,
    PRIMARY KEY (run_id, split, metric, bucket)
);

-- Per-sample evaluation output (samples.parquet). The parquet column `id` is stored as sample_id.
CREATE TABLE samples (
    run_id     VARCHAR NOT NULL,
    split      VARCHAR NOT NULL,
    sample_id  VARCHAR NOT NULL,
    n          BIGINT,                        -- perceptual complexity (number of objects)
    bucket     VARCHAR,
    prompt     VARCHAR,
    completion VARCHAR,
    parsed     VARCHAR,                       -- JSON text exactly as the evaluator wrote it (not validated), or NULL
    correct    BOOLEAN,
    score      DOUBLE
);

-- Reward terms per sample, long format: samples.parquet column `reward/<name>` becomes (name, value).
-- Chosen over a MAP column because "mean of each reward term per bucket" is then a plain GROUP BY and the
-- table exports to Parquet/CSV as is. Null and non-finite rewards are skipped.
CREATE TABLE sample_rewards (
    run_id    VARCHAR NOT NULL,
    split     VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    name      VARCHAR NOT NULL,
    value     DOUBLE  NOT NULL
);

-- Hyperparameter sweeps (one Optuna study each), written by the sweep driver.
CREATE TABLE sweeps (
    name             VARCHAR PRIMARY KEY,
    task             VARCHAR,
    objective_metric VARCHAR NOT NULL,
    direction        VARCHAR NOT NULL CHECK (direction IN ('maximize', 'minimize')),
    spec             JSON,                    -- the sweep YAML, resolved
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);

-- Sweep trials. state uses Optuna's names: RUNNING, COMPLETE, PRUNED, FAIL, WAITING.
-- run_id links to runs.run_id once the trial's run exists (deleting a run keeps its trial row).
CREATE TABLE trials (
    sweep      VARCHAR NOT NULL,
    number     BIGINT  NOT NULL,
    params     JSON,
    value      DOUBLE,
    state      VARCHAR NOT NULL,
    run_id     VARCHAR,
    started_at TIMESTAMP,
    ended_at   TIMESTAMP,
    error      VARCHAR,
    PRIMARY KEY (sweep, number)
);

-- Perceptual complexity of a task's data split, so reports can order tasks by it (Perception-R1's argument).
CREATE TABLE task_stats (
    task          VARCHAR NOT NULL,
    task_version  VARCHAR NOT NULL,
    split         VARCHAR NOT NULL,
    n_samples     BIGINT,
    mean_fact     DOUBLE,
    mean_log_fact DOUBLE,
    median_fact   DOUBLE,
    recorded_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (task, task_version, split)
);
