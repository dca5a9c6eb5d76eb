-- 0002_views: the views reports and `pr1bench sql` users start from.
-- Views hold no data; a later migration changes one with CREATE OR REPLACE VIEW.

-- final_metrics: one row per run, split and metric over the whole split (bucket 'all'), with the run's
-- identity next to it so a report never has to join runs itself. Runs of every status are included;
-- filter on status when only finished runs should count (rl_gain does).
CREATE VIEW final_metrics AS
SELECT
    r.run_id, r.task, r.task_version, r.variant, r.model, r.seed, r.status, r.sweep, r.trial,
    e.split, e.metric, e.value, e.n, e.ci_lo, e.ci_hi
FROM eval_metrics AS e
JOIN runs AS r USING (run_id)
WHERE e.bucket = 'all';

-- best_trials: the best finished trial of each sweep, honouring the sweep's direction; ties go to the
-- earlier trial number. Only COMPLETE trials with a finite value compete.
CREATE VIEW best_trials AS
SELECT
    t.sweep, t.number, t.value, t.params, t.run_id, t.started_at, t.ended_at,
    s.task, s.objective_metric, s.direction
FROM trials AS t
JOIN sweeps AS s ON s.name = t.sweep
WHERE t.state = 'COMPLETE' AND t.value IS NOT NULL AND isfinite(t.value)
QUALIFY row_number() OVER (
    PARTITION BY t.sweep
    ORDER BY CASE WHEN s.direction = 'maximize' THEN -t.value ELSE t.value END, t.number
) = 1;

-- rl_gain: does RL beat SFT (and the base model)? Per task, task version, model, split and metric: the mean of
-- each variant over seeds (runs repeated with the same seed are averaged first, so a seed counts once),
-- the number of seeds behind each mean, and each GRPO flavour minus sft and minus base.
-- Only completed runs outside sweeps count: sweep trials explore hyperparameters and would bias a variant.
-- Differences are raw (value - value): for a lower-is-better metric a negative gain is an improvement.
CREATE VIEW rl_gain AS
WITH per_seed AS (
    SELECT task, task_version, model, split, metric, variant, seed, avg(value) AS value
    FROM final_metrics
    WHERE status = 'completed' AND sweep IS NULL AND value IS NOT NULL
    GROUP BY ALL
),
per_variant AS (
    SELECT task, task_version, model, split, metric, variant, avg(value) AS mean, count(*) AS n_seeds
    FROM per_seed
    GROUP BY ALL
),
wide AS (
    SELECT
        task, task_version, model, split, metric,
        max(mean) FILTER (WHERE variant = 'base')     AS base,
        max(mean) FILTER (WHERE variant = 'sft')      AS sft,
        max(mean) FILTER (WHERE variant = 'grpo')     AS grpo,
        max(mean) FILTER (WHERE variant = 'cot-grpo') AS cot_grpo,
        max(mean) FILTER (WHERE variant = 'sft-grpo') AS sft_grpo,
        coalesce(max(n_seeds) FILTER (WHERE variant = 'base'), 0)     AS n_base,
        coalesce(max(n_seeds) FILTER (WHERE variant = 'sft'), 0)      AS n_sft,
        coalesce(max(n_seeds) FILTER (WHERE variant = 'grpo'), 0)     AS n_grpo,
        coalesce(max(n_seeds) FILTER (WHERE variant = 'cot-grpo'), 0) AS n_cot_grpo,
        coalesce(max(n_seeds) FILTER (WHERE variant = 'sft-grpo'), 0) AS n_sft_grpo
    FROM per_variant
    GROUP BY ALL
)
SELECT
    *,
    grpo - sft          AS grpo_minus_sft,
    sft_grpo - sft      AS sft_grpo_minus_sft,
    cot_grpo - sft      AS cot_grpo_minus_sft,
    grpo - base         AS grpo_minus_base,
    sft_grpo - base     AS sft_grpo_minus_base,
    cot_grpo - base     AS cot_grpo_minus_base
FROM wide;
