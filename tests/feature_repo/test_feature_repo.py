"""The Feast repo: `feast plan` via the CLI, push sources, and both SQL registry back-ends."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import redis

from feature_repo.feast_cli import feast_command, run_feast
from feature_repo.feast_settings import REPO_DIR, FeastSettings, open_store, redis_url_to_feast
from jobs.materialize import materialize, parse_utc
from tests.feature_repo.feast_testdata import dump_redis, feast_apply, settings_for, write_standard_dataset

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "127.0.0.1:6379,db=0"),
        ("redis://redis.internal:6380/3", "redis.internal:6380,db=3"),
        ("redis://:s3cret@10.0.0.5:6379", "10.0.0.5:6379,db=0,password=s3cret"),
        ("rediss://app:pw@host:6390/1", "host:6390,db=1,username=app,password=pw,ssl=true"),
    ],
)
def test_redis_url_to_feast_connection_string(url: str, expected: str) -> None:
    assert redis_url_to_feast(url) == expected


def test_registry_defaults_to_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    s = FeastSettings(LAMBDAREC_DATA_DIR=str(tmp_path), REDIS_URL="redis://h:1/2")
    assert s.feast_env() == {
        "LAMBDAREC_DATA_DIR": str(tmp_path),
        "FEAST_REGISTRY_URL": f"sqlite:///{tmp_path}/feast/registry.db",
        "FEAST_REDIS_CONNECTION": "h:1,db=2",
    }


def test_feast_plan_cli_lists_every_object(tmp_path: Path) -> None:
    result = run_feast(["plan"], settings_for(tmp_path, "redis://127.0.0.1:1/0"), capture=True)
    assert result.returncode == 0, result.stderr
    for line in [
        "Created entity user",
        "Created entity item",
        *(
            f"Created feature view {v}"
            for v in ["user_stats", "item_stats", "item_text_embedding", "user_realtime", "item_realtime"]
        ),
        "Created feature service retrieval_v1",
        "Created feature service ranker_v1",
    ]:
        assert line in result.stdout, result.stdout


def test_feast_plan_cli_fails_on_a_broken_definition(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO_DIR, repo, ignore=shutil.ignore_patterns("__pycache__"))
    with (repo / "feature_services.py").open("a") as f:
        f.write('\nbroken = FeatureService(name="broken_v1", features=[user_stats[["no_such_feature"]]])\n')
    settings = settings_for(tmp_path / "data", "redis://127.0.0.1:1/0")
    settings.prepare()
    result = subprocess.run(
        feast_command(["plan"]),
        cwd=repo,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **settings.feast_env()},
        check=False,
    )
    assert result.returncode != 0
    assert "no_such_feature" in result.stdout + result.stderr


@pytest.mark.redis
def test_push_is_visible_online_right_away(tmp_path: Path, redis_server) -> None:
    settings = settings_for(tmp_path, redis_server.url)
    feast_apply(settings)
    store = open_store(settings)
    store.push(
        "user_realtime_push",
        pd.DataFrame(
            {
                "user_id": ["u1", "u2"],
                "event_timestamp": [datetime(2024, 3, 1, 12, 0, tzinfo=UTC)] * 2,
                "rt_recent_items": [["i3", "i1"], ["i9"]],
                "rt_n_events_1h": [2, 1],
            }
        ),
    )
    store.push(
        "item_realtime_push",
        pd.DataFrame(
            {
                "item_id": ["i3"],
                "event_timestamp": [datetime(2024, 3, 1, 12, 0, tzinfo=UTC)],
                "rt_n_events_1h": [7],
            }
        ),
    )
    got = store.get_online_features(
        features=["user_realtime:rt_recent_items", "user_realtime:rt_n_events_1h"],
        entity_rows=[{"user_id": "u1"}, {"user_id": "u2"}],
    ).to_dict()
    assert got["rt_recent_items"] == [["i3", "i1"], ["i9"]]
    assert got["rt_n_events_1h"] == [2, 1]
    # a newer push replaces the value; an older one does not
    newer = pd.DataFrame(
        {
            "user_id": ["u1"],
            "event_timestamp": [datetime(2024, 3, 1, 12, 5, tzinfo=UTC)],
            "rt_recent_items": [["i4", "i3", "i1"]],
            "rt_n_events_1h": [3],
        }
    )
    older = newer.assign(event_timestamp=[datetime(2024, 3, 1, 11, 0, tzinfo=UTC)], rt_n_events_1h=[99])
    store.push("user_realtime_push", newer)
    store.push("user_realtime_push", older)
    got = store.get_online_features(
        features=["user_realtime:rt_n_events_1h", "item_realtime:rt_n_events_1h"],
        entity_rows=[{"user_id": "u1", "item_id": "i3"}],
        full_feature_names=True,
    ).to_dict()
    assert got["user_realtime__rt_n_events_1h"] == [3]
    assert got["item_realtime__rt_n_events_1h"] == [7]


@pytest.fixture
def postgres_registry() -> str:
    """A throwaway PostgreSQL database for the registry, dropped afterwards."""
    name = f"lambdarec_feast_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.redis
def test_postgres_registry_apply_materialize_read(
    tmp_path: Path, redis_server, postgres_registry: str
) -> None:
    write_standard_dataset(tmp_path)
    settings = settings_for(tmp_path, redis_server.url, postgres_registry)
    # --apply runs the `feast apply` CLI before materializing
    materialize(settings, parse_utc("2024-01-01"), parse_utc("2024-01-03"), apply=True)
    assert not (tmp_path / "feast" / "registry.db").exists()  # nothing went to the SQLite default
    with psycopg.connect(postgres_registry) as conn:
        views = {
            r[0]
            for r in conn.execute(
                "SELECT feature_view_name FROM feature_views WHERE project_id = 'lambdarec'"
            )
        }
        services = {r[0] for r in conn.execute("SELECT feature_service_name FROM feature_services")}
    assert views == {"user_stats", "item_stats", "item_text_embedding", "user_realtime", "item_realtime"}
    assert services == {"retrieval_v1", "ranker_v1"}
    got = (
        open_store(settings)
        .get_online_features(
            features=["user_stats:n_interactions_30d"], entity_rows=[{"user_id": "u1"}, {"user_id": "u2"}]
        )
        .to_dict()
    )
    assert got["n_interactions_30d"] == [10, 2]
    assert len(dump_redis(redis.Redis.from_url(redis_server.url))) == 4
