"""``python -m jobs.features`` end to end on a tiny marts directory written with the contract's types."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambdarec_contracts.tables import GENRES

UTC = dt.UTC


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def write_marts(marts: Path) -> None:
    """dim_items / dim_users / fct_interactions with exactly the contract's Parquet types."""
    marts.mkdir(parents=True)
    ts_type = pa.timestamp("us", "UTC")
    items = pa.table(
        {
            "item_id": ["i1", "i2", "i3"],
            "title": ["One", "Two", "Three"],
            "genres": pa.array([["Action", "Comedy"], ["Drama"], ["(other)"]], pa.list_(pa.string())),
            "year": pa.array([1995, None, 2001], pa.int32()),
            "tags": ["", "", ""],
            "description": ["", "", ""],
            "first_seen_ts": pa.array([_t("2024-01-04 00:00:00"), _t("2024-01-02 10:00:00"), None], ts_type),
        }
    )
    events = [
        ("u1", "i1", 5.0, "rating", "2024-01-10 23:59:59", True),
        ("u1", "i2", 3.0, "rating", "2024-01-02 10:00:00", False),
        ("u2", "i2", None, "like", "2024-01-03 23:59:59", True),
        ("u2", "i1", 4.0, "rating", "2024-01-04 00:00:00", True),
        ("u3", "i1", None, "view", "2024-01-11 00:00:00", False),  # after every snapshot
    ]
    fct = pa.table(
        {
            "interaction_id": [f"x{n}" for n in range(len(events))],
            "user_id": [e[0] for e in events],
            "item_id": [e[1] for e in events],
            "rating": pa.array([e[2] for e in events], pa.float64()),
            "event_type": [e[3] for e in events],
            "event_ts": pa.array([_t(e[4]) for e in events], ts_type),
            "event_date": pa.array([_t(e[4]).date() for e in events], pa.date32()),
            "is_positive": [e[5] for e in events],
        }
    )
    users = pa.table({"user_id": ["u1", "u2", "u3"]})
    pq.write_table(items, marts / "dim_items.parquet")
    pq.write_table(fct, marts / "fct_interactions.parquet")
    pq.write_table(users, marts / "dim_users.parquet")


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LAMBDAREC_DATA_DIR": str(data_dir),
        "LAMBDAREC_SPARK_SHUFFLE_PARTITIONS": "1",
        "SPARK_DRIVER_MEMORY": "1g",
        "SPARK_MASTER": "local[2]",
        # Tiny data: code generation and adaptive planning cost more than they save.
        "LAMBDAREC_SPARK_CONF": json.dumps(
            {"spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false"}
        ),
    }
    return subprocess.run(
        [sys.executable, "-m", "jobs.features", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _plain(t: pa.DataType) -> str:
    # Spark names list elements "element", pyarrow "item"; the value type is what matters.
    return f"list<{_plain(t.value_type)}>" if pa.types.is_list(t) else str(t)


def _by_id(path: Path, key: str) -> dict[str, dict]:
    return {r[key]: r for r in pq.read_table(path).to_pylist()}


@pytest.mark.spark
def test_cli_backfill_writes_point_in_time_snapshots(tmp_path):
    data = tmp_path / "data"
    write_marts(data / "marts")
    proc = _run(data, "--ds", "2024-01-10", "--backfill-from", "2024-01-01", "--every", "7")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert [(s["table"], s["ds"], s["rows"]) for s in summary] == [
        ("user_features", "2024-01-03", 2),
        ("item_features", "2024-01-03", 3),
        ("user_features", "2024-01-10", 2),
        ("item_features", "2024-01-10", 3),
    ]
    feats = data / "features"
    users_jan3 = feats / "user_features" / "ds=2024-01-03"
    schema = pq.read_schema(next(users_jan3.glob("*.parquet")))
    assert [(f.name, _plain(f.type)) for f in schema] == [
        ("user_id", "string"),
        ("event_timestamp", "timestamp[us, tz=UTC]"),
        ("n_interactions_7d", "int64"),
        ("n_interactions_30d", "int64"),
        ("n_interactions_total", "int64"),
        ("rating_mean", "double"),
        ("rating_std", "double"),
        ("genre_affinity", "list<float>"),
        ("recent_items", "list<string>"),
        ("recent_positive_items", "list<string>"),
        ("last_active_ts", "int64"),
    ]
    item_schema = pq.read_schema(next((feats / "item_features" / "ds=2024-01-10").glob("*.parquet")))
    assert [(f.name, _plain(f.type)) for f in item_schema] == [
        ("item_id", "string"),
        ("event_timestamp", "timestamp[us, tz=UTC]"),
        ("n_interactions_7d", "int64"),
        ("n_interactions_30d", "int64"),
        ("n_interactions_total", "int64"),
        ("rating_mean", "double"),
        ("bayes_rating", "double"),
        ("trending_score", "double"),
        ("genres", "list<string>"),
        ("year", "int64"),
    ]

    # As of the end of 2024-01-03 only u1's i2 rating and u2's i2 like are visible.
    u3 = _by_id(users_jan3, "user_id")
    assert u3["u1"]["event_timestamp"] == _t("2024-01-04 00:00:00")
    assert (u3["u1"]["n_interactions_total"], u3["u1"]["recent_items"], u3["u1"]["recent_positive_items"]) == (
        1, ["i2"], []
    )  # fmt: skip
    assert u3["u2"]["genre_affinity"][GENRES.index("Drama")] == 1.0
    i3 = _by_id(feats / "item_features" / "ds=2024-01-03", "item_id")
    assert {k: v["n_interactions_total"] for k, v in i3.items()} == {"i1": 0, "i2": 2, "i3": 0}
    # As of the end of 2024-01-10 everything but u3's view is visible.
    u10 = _by_id(feats / "user_features" / "ds=2024-01-10", "user_id")
    assert u10["u2"]["recent_items"] == ["i1", "i2"] and u10["u2"]["recent_positive_items"] == ["i1", "i2"]
    assert u10["u1"]["last_active_ts"] == 1704931199
    i10 = _by_id(feats / "item_features" / "ds=2024-01-10", "item_id")
    assert (i10["i1"]["rating_mean"], i10["i1"]["year"]) == (4.5, 1995)
    assert (i10["i2"]["year"], i10["i2"]["genres"]) == (0, ["Drama"])
    # Ratings 3, 5, 4 -> C = 4; i3 unrated -> bayes C, trending 0.
    assert (i10["i3"]["bayes_rating"], i10["i3"]["trending_score"]) == (4.0, 0.0)


def test_cli_missing_marts_fails_cleanly_without_starting_spark(tmp_path):
    proc = _run(tmp_path / "empty", "--ds", "2024-01-10")
    assert proc.returncode == 1
    assert "dim_items.parquet: missing" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("env", "ok"),
    [
        ({"SPARK_MASTER": "spark://spark-master:7077", "SPARK_EXECUTOR_MEMORY": "4g"}, True),
        ({"SPARK_MASTER": "local[2]", "SPARK_DRIVER_MEMORY": "512m"}, True),
        ({"SPARK_MASTER": "local[*]; rm -rf /"}, False),
        ({"SPARK_EXECUTOR_MEMORY": "lots"}, False),
    ],
)
def test_spark_settings_are_validated_before_a_jvm_starts(env: dict[str, str], ok: bool) -> None:
    from pydantic import ValidationError

    from jobs.features.settings import FeaturesSettings

    if ok:
        settings = FeaturesSettings(**env)
        assert settings.spark_master == env.get("SPARK_MASTER", "local[*]")
    else:
        with pytest.raises(ValidationError):
            FeaturesSettings(**env)
