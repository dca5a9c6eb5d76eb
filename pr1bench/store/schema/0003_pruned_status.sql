-- 0003_pruned_status: a run stopped early by a sweep's pruner gets status 'pruned', not 'killed'.
--
-- 'killed' means "stopped from outside, resumable"; a pruned trial was stopped on purpose because its
-- intermediate value was hopeless, and must never be resumed by `study run` nor counted as a crash.
-- DuckDB cannot alter a CHECK constraint, so the runs table is rebuilt with the wider one (same columns, same
-- order) and its rows copied; the views bind by name at query time and need no change. Runs recorded before
-- this migration as killed with the sweep's note ("pruned by the sweep: ...") become 'pruned'.
CREATE TABLE runs_0003 (
    run_id           VARCHAR PRIMARY KEY,
    task             VARCHAR NOT NULL,
    task_version     VARCHAR,
    variant          VARCHAR NOT NULL,
    model            VARCHAR,
    seed             BIGINT,
    config           JSON,
    config_hash      VARCHAR,
    git_sha          VARCHAR,
    packages         JSON,
    coords           VARCHAR,
    answer_format    VARCHAR,
    min_pixels       BIGINT,
    max_pixels       BIGINT,
    host             VARCHAR,
    started_at       TIMESTAMP,
    ended_at         TIMESTAMP,
    status           VARCHAR NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'killed', 'pruned')),
    error            VARCHAR,
    sweep            VARCHAR,
    trial            BIGINT,
    parent_run       VARCHAR,
    pr1bench_version VARCHAR,
    extra            JSON,
    run_dir          VARCHAR,
    ingested_at      TIMESTAMP NOT NULL,
    ingest_notes     JSON
);
INSERT INTO runs_0003 SELECT * FROM runs;
DROP TABLE runs;
ALTER TABLE runs_0003 RENAME TO runs;
UPDATE runs SET status = 'pruned' WHERE status = 'killed' AND error LIKE 'pruned by the sweep:%';
