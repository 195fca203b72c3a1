"""The pipeline bench's reading of the demo's output and of a published manifest."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.pipeline import served_table, task_times

DEMO_OUT = """\
== airflow dags test build_features_daily 2024-12-29
ok: build_features_daily in 122 s — build_features_daily: 3 tasks succeeded (ingest_raw 4.7 s, dbt_build 8.6 s, spark_features 59.5 s) (log: /var/logs/build-1m.log)
ok: train_models in 115 s — train_models: 2 tasks succeeded (resolve_ds 3.2 s, train_and_evaluate 86.8 s) (log: /x)
ok: land_events_hourly (log: /var/logs/land_events_hourly.log)
"""


def test_task_times_reads_each_task_in_order() -> None:
    assert task_times(DEMO_OUT) == [
        ["build_features_daily", "ingest_raw", "4.7 s"],
        ["build_features_daily", "dbt_build", "8.6 s"],
        ["build_features_daily", "spark_features", "59.5 s"],
        ["train_models", "resolve_ds", "3.2 s"],
        ["train_models", "train_and_evaluate", "86.8 s"],
    ]


def test_served_table_quotes_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "bundle_version": "v1",
                "metrics": {
                    "served_recall@10": 0.25,
                    "served_ndcg@10": 0.4,
                    "served_lift@10": 1.1,
                    "retrieval_examples_per_s": 123456.0,
                    "retrieval_s_per_epoch": 2.5,
                },
                "baselines": {"ease": {"recall@10": 0.2, "ndcg@10": 0.3}},
            }
        )
    )
    out = served_table(manifest, "1m")
    assert "| served blend" in out and "0.2500" in out and "| ease" in out and "0.2000" in out
    assert "1.100x" in out and "123,456 examples/s" in out
    assert "no published bundle" in served_table(tmp_path / "missing.json", "1m")
