"""Hand-made feature tables for the Feast tests (tiny, written as Spark/embeddings would)."""

from __future__ import annotations

import struct
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from feature_repo.feast_cli import run_feast
from feature_repo.feast_settings import FeastSettings
from lambdarec_contracts.tables import GENRES

N_GENRES = len(GENRES)


def snapshot_ts(ds: str) -> datetime:
    """jobs.features' convention: the ds=D snapshot is stamped D + 1 day 00:00 UTC."""
    return datetime.combine(date.fromisoformat(ds) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


USER_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("n_interactions_7d", pa.int64()),
        ("n_interactions_30d", pa.int64()),
        ("n_interactions_total", pa.int64()),
        ("rating_mean", pa.float64()),
        ("rating_std", pa.float64()),
        ("genre_affinity", pa.list_(pa.float32())),
        ("recent_items", pa.list_(pa.string())),
        ("recent_positive_items", pa.list_(pa.string())),
        ("last_active_ts", pa.int64()),
    ]
)
ITEM_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("n_interactions_7d", pa.int64()),
        ("n_interactions_30d", pa.int64()),
        ("n_interactions_total", pa.int64()),
        ("rating_mean", pa.float64()),
        ("bayes_rating", pa.float64()),
        ("trending_score", pa.float64()),
        ("genres", pa.list_(pa.string())),
        ("year", pa.int64()),
    ]
)
EMBEDDING_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("embedding", pa.list_(pa.float32())),
        ("embedding_model", pa.string()),
        ("content_hash", pa.string()),
    ]
)


def affinity(genre_index: int, share: float) -> list[float]:
    vec = [0.0] * N_GENRES
    vec[genre_index] = share
    return vec


def user_row(user_id: str, ds: str, n: int, rating_mean: float, recent: list[str]) -> dict:
    """A user_features row whose values are simple functions of ``n`` (easy to hand-check)."""
    return {
        "user_id": user_id,
        "event_timestamp": snapshot_ts(ds),
        "n_interactions_7d": n,
        "n_interactions_30d": n * 2,
        "n_interactions_total": n * 10,
        "rating_mean": rating_mean,
        "rating_std": 0.5,
        "genre_affinity": affinity(n % N_GENRES, 0.25),
        "recent_items": recent,
        "recent_positive_items": recent[:1],
        "last_active_ts": int(snapshot_ts(ds).timestamp()) - 60,
    }


def item_row(item_id: str, ds: str, n: int, genres: list[str], year: int) -> dict:
    return {
        "item_id": item_id,
        "event_timestamp": snapshot_ts(ds),
        "n_interactions_7d": n,
        "n_interactions_30d": n * 3,
        "n_interactions_total": n * 100,
        "rating_mean": 3.5,
        "bayes_rating": 3.25,
        "trending_score": n / 8,
        "genres": genres,
        "year": year,
    }


def write_partition(data_dir: Path, table: str, ds: str, rows: list[dict], schema: pa.Schema) -> Path:
    part = data_dir / "features" / table / f"ds={ds}"
    part.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), part / "part-00000.parquet")
    (part / "_SUCCESS").touch()  # Spark leaves one; readers must ignore it
    return part


def write_embeddings(data_dir: Path, rows: list[dict]) -> Path:
    path = data_dir / "embeddings" / "item_text_embeddings.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=EMBEDDING_SCHEMA), path)
    return path


def write_standard_dataset(data_dir: Path) -> None:
    """Two daily snapshots: u1/i1 change between them, u2/i2 appear only on day one."""
    write_partition(
        data_dir,
        "user_features",
        "2024-01-01",
        [user_row("u1", "2024-01-01", 3, 4.0, ["i1"]), user_row("u2", "2024-01-01", 1, 2.0, ["i2"])],
        USER_SCHEMA,
    )
    write_partition(
        data_dir,
        "user_features",
        "2024-01-02",
        [user_row("u1", "2024-01-02", 5, 4.5, ["i2", "i1"])],
        USER_SCHEMA,
    )
    write_partition(
        data_dir,
        "item_features",
        "2024-01-01",
        [item_row("i1", "2024-01-01", 2, ["Drama"], 1995), item_row("i2", "2024-01-01", 4, ["Comedy"], 0)],
        ITEM_SCHEMA,
    )
    write_partition(
        data_dir,
        "item_features",
        "2024-01-02",
        [item_row("i1", "2024-01-02", 7, ["Drama"], 1995)],
        ITEM_SCHEMA,
    )
    write_embeddings(
        data_dir,
        [
            {
                "item_id": "i1",
                "event_timestamp": datetime(2023, 12, 1, tzinfo=UTC),
                "embedding": [1.0, 0.0, 0.0, 0.0],
                "embedding_model": "test-model",
                "content_hash": "h1",
            },
            {
                "item_id": "i2",
                "event_timestamp": datetime(2023, 12, 1, tzinfo=UTC),
                "embedding": [0.0, 0.5, 0.5, 0.0],
                "embedding_model": "test-model",
                "content_hash": "h2",
            },
        ],
    )


def settings_for(data_dir: Path, redis_url: str, registry_url: str | None = None) -> FeastSettings:
    env = {"LAMBDAREC_DATA_DIR": str(data_dir), "REDIS_URL": redis_url}
    if registry_url:
        env["FEAST_REGISTRY_URL"] = registry_url
    return FeastSettings(**env)


def feast_apply(settings: FeastSettings) -> subprocess.CompletedProcess:
    """The real ``feast apply`` CLI on the repo (what the DAG runs)."""
    result = run_feast(["apply"], settings, capture=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def dump_redis(client) -> dict[bytes, dict[bytes, bytes]]:
    """Every hash in the database (Feast's online layout): key -> {field: value}.

    Other keys (the materialization's version stamp, a plain string) are not Feast's values.
    """
    return {key: client.hgetall(key) for key in client.scan_iter(count=1000, _type="hash")}


def feast_redis_key(join_key: str, value: str, project: str = "lambdarec") -> bytes:
    """Entity key serialization v3 written out by hand (see feature_repo/README.md)."""
    k, v = join_key.encode(), value.encode()
    # n_keys, then (STRING=2, len, key) per join key, then (STRING=2, len, value) per value
    return struct.pack("<III", 1, 2, len(k)) + k + struct.pack("<II", 2, len(v)) + v + project.encode()
