"""The report's numbers against direct SQL over the same database, and every renderer."""

from __future__ import annotations

from pathlib import Path

import pytest

from pr1bench.report import build
from pr1bench.report.render import latex, markdown, write_csv
from pr1bench.store import query


def _by_key(sections: list) -> dict:
    return {s.key: s for s in sections}


def test_main_table_means_equal_sql(sections: list) -> None:
    secs = _by_key(sections)
    frame = secs["main-counting"].frame.set_index("variant")
    sql = query("""SELECT variant, avg(value) AS mean, count(DISTINCT seed) AS seeds FROM final_metrics
                   WHERE task = 'counting' AND metric = 'acc' AND status = 'completed' AND sweep IS NULL
                   GROUP BY variant""").set_index("variant")
    for variant, row in sql.iterrows():
        assert frame.loc[variant, "value"] == pytest.approx(row["mean"])
        assert frame.loc[variant, "seeds"] == row["seeds"] == 3
        assert frame.loc[variant, "value_lo"] <= row["mean"] <= frame.loc[variant, "value_hi"]
    rs = query("SELECT avg(value) AS v FROM final_metrics WHERE task='counting' AND variant='grpo' "
               "AND metric='reward_sampled'")["v"][0]
    assert frame.loc["grpo", "reward_sampled"] == pytest.approx(rs)


def test_single_seed_rows_have_no_interval(sections: list) -> None:
    sec = _by_key(sections)["main-detection"]
    row = sec.frame.set_index("variant").loc["grpo"]
    assert row["value_n"] == 1 and row["value_lo"] is None
    assert any("(n=1)" in c for c in sec.rows[2]) and not any("[" in c for c in sec.rows[2])
    assert any("cot-grpo" in n for n in sec.notes)  # missing variant named with its command


def test_bucket_gains_equal_sql_and_spearman(sections: list) -> None:
    secs = _by_key(sections)
    frame = secs["complexity-counting"].frame.set_index("bucket")
    sql = query("""SELECT e.bucket, avg(e.value) FILTER (WHERE r.variant='grpo') - avg(e.value) FILTER
                   (WHERE r.variant='sft') AS g FROM eval_metrics e JOIN runs r USING (run_id)
                   WHERE r.task='counting' AND e.metric='acc' AND e.bucket <> 'all' AND r.sweep IS NULL
                   GROUP BY e.bucket""").set_index("bucket")
    for bucket, row in sql.iterrows():
        assert frame.loc[bucket, "gain_sft"] == pytest.approx(row["g"])
    assert frame.loc["4-6", "mean_fact"] == pytest.approx((24 + 120 + 720) / 3)
    assert any("rho = +1.000" in n and "p = 0.333" in n for n in secs["complexity-counting"].notes)
    det = secs["complexity-detection"]
    assert all(r[6].startswith("samples") for r in det.rows)  # one seed: the interval basis is said


def test_matching_ablation_from_configs(sections: list) -> None:
    sec = _by_key(sections)["ablation-matching"]
    f = sec.frame.set_index("level")
    assert f.loc["hungarian", "value"] == pytest.approx(0.505)
    assert f.loc["sequential", "delta"] == pytest.approx(0.405 - 0.505)
    assert "run `pr1bench sweep ablation-kl`" in _by_key(sections)["ablation-beta"].missing


def test_renderers(sections: list, tmp_path: Path) -> None:
    secs = sections
    md = markdown(secs)
    assert "| variant | acc |" in md and "> no completed runs that differ only" in md
    tex = latex(secs)
    assert r"\toprule" in tex and r"\bottomrule" in tex and "\\_" not in "".join(s.key for s in secs)
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}")
    files = write_csv(secs, tmp_path / "csv")
    assert (tmp_path / "csv" / "main-counting.csv").read_text().startswith("task,variant,metric,seeds,value")
    assert len(files) == sum(not s.empty for s in secs)


def test_unknown_task_explains(sections: list) -> None:
    secs = build(tasks=["nope"])[0]
    assert secs[0].empty and "pr1bench train" in (secs[0].missing or "")
