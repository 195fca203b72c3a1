"""jobs.embeddings with the real OpenAI client against a local /v1/embeddings server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.embeddings.run import main
from tests.embeddings.fake_openai import FakeOpenAI, Fault, fake_tokens, fake_vector

DIM = 8
DS = "2024-02-01"
SNAPSHOT = datetime(2024, 2, 2, tzinfo=UTC)  # ds + 1 day, 00:00 UTC

ITEMS = [
    # item_id, title, genres, year, tags, description, first_seen_ts
    (
        "1",
        "Toy Story",
        ["Animation", "Children"],
        1995,
        "pixar|toys",
        "Toys come alive.",
        datetime(2024, 1, 5, tzinfo=UTC),
    ),
    ("2", "Heat", ["Crime", "Thriller"], 1995, "", "A heist goes wrong.", datetime(2024, 1, 7, tzinfo=UTC)),
    ("3", "Alien", ["Horror", "Sci-Fi"], 1979, "space", "", None),
    ("4", "Fargo", ["Crime"], None, "snow|dark comedy", "Snowbound crime.", datetime(2024, 1, 9, tzinfo=UTC)),
    ("5", "Up", ["(other)"], 2009, "", "", datetime(2024, 1, 10, tzinfo=UTC)),
]
# The texts the job must send, written out by hand (title (year), genres, tags, description).
TEXTS = {
    "1": "Toy Story (1995)\nGenres: Animation, Children\nTags: pixar, toys\nToys come alive.",
    "2": "Heat (1995)\nGenres: Crime, Thriller\nA heist goes wrong.",
    "3": "Alien (1979)\nGenres: Horror, Sci-Fi\nTags: space",
    "4": "Fargo\nGenres: Crime\nTags: snow, dark comedy\nSnowbound crime.",
    "5": "Up (2009)",
}


def write_items(data_dir: Path, items=ITEMS) -> None:
    marts = data_dir / "marts"
    marts.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        items, columns=["item_id", "title", "genres", "year", "tags", "description", "first_seen_ts"]
    )
    frame["year"] = frame["year"].astype("Int32")
    frame["first_seen_ts"] = pd.to_datetime(frame["first_seen_ts"], utc=True)
    frame.to_parquet(marts / "dim_items.parquet", index=False)


@pytest.fixture
def fake() -> FakeOpenAI:
    server = FakeOpenAI()
    server.url = server.start()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path: Path, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path / "data"
    write_items(data_dir)
    for key, value in {
        "LAMBDAREC_DATA_DIR": str(data_dir),
        "OPENAI_API_KEY": "sk-test-123",
        "OPENAI_BASE_URL": fake.url,
        "LAMBDAREC_EMBEDDING_DIMENSIONS": str(DIM),
        "LAMBDAREC_EMBED_MAX_BATCH_INPUTS": "2",
        "LAMBDAREC_EMBED_BACKOFF_BASE_S": "0.01",
        "LAMBDAREC_EMBED_MAX_RETRIES": "3",
        "LAMBDAREC_EMBED_CONCURRENCY": "2",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LAMBDAREC_EMBEDDING_MODEL", raising=False)
    return data_dir


def output(data_dir: Path) -> pd.DataFrame:
    return (
        pq.read_table(data_dir / "embeddings" / "item_text_embeddings.parquet")
        .to_pandas()
        .set_index("item_id")
    )


def runs(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "embeddings" / "runs.jsonl").read_text().splitlines()]


def test_first_run_embeds_everything_in_batches(env: Path, fake: FakeOpenAI) -> None:
    assert main(["--ds", DS, "--provider", "openai"]) == 0
    # 5 inputs, at most 2 per request -> 3 requests, every text sent exactly once
    assert sorted(len(r["inputs"]) for r in fake.requests) == [1, 2, 2]
    assert sorted(t for r in fake.requests for t in r["inputs"]) == sorted(TEXTS.values())
    assert {r["auth"] for r in fake.requests} == {"Bearer sk-test-123"}
    assert {r["model"] for r in fake.requests} == {"text-embedding-3-small"}
    out = output(env)
    for item_id, text in TEXTS.items():
        np.testing.assert_allclose(
            out.loc[item_id, "embedding"], fake_vector(text, "text-embedding-3-small", DIM), rtol=1e-6
        )
    assert set(out["embedding_model"]) == {"text-embedding-3-small"}
    # content known since the first interaction; item 3 has none -> the ds snapshot time
    assert out.loc["1", "event_timestamp"] == pd.Timestamp("2024-01-05", tz="UTC")
    assert out.loc["3", "event_timestamp"] == pd.Timestamp(SNAPSHOT)
    record = runs(env)[-1]
    tokens = sum(fake_tokens(t) for t in TEXTS.values())
    assert record["items_embedded"] == 5 and record["api_calls"] == 3 and record["tokens"] == tokens
    assert record["estimated_cost_usd"] == pytest.approx(tokens / 1e6 * 0.02)
    assert record["model"] == "text-embedding-3-small" and record["dimension"] == DIM


def test_rerun_on_unchanged_data_makes_no_calls_and_changed_item_only(env: Path, fake: FakeOpenAI) -> None:
    assert main(["--ds", DS]) == 0  # provider defaults to openai: OPENAI_API_KEY is set
    first = output(env)
    n_requests = len(fake.requests)
    assert main(["--ds", DS]) == 0
    assert len(fake.requests) == n_requests
    assert runs(env)[-1]["api_calls"] == 0 and runs(env)[-1]["items_embedded"] == 0
    pd.testing.assert_frame_equal(output(env), first)

    changed = [list(row) for row in ITEMS]
    changed[1][5] = "A heist goes very wrong."
    write_items(env, changed)
    assert main(["--ds", "2024-02-05"]) == 0
    new_requests = fake.requests[n_requests:]
    assert [r["inputs"] for r in new_requests] == [
        ["Heat (1995)\nGenres: Crime, Thriller\nA heist goes very wrong."]
    ]
    out = output(env)
    assert out.loc["2", "event_timestamp"] == pd.Timestamp("2024-02-06", tz="UTC")
    assert out.loc["1", "event_timestamp"] == first.loc["1", "event_timestamp"]
    np.testing.assert_array_equal(out.loc["1", "embedding"], first.loc["1", "embedding"])


def test_model_change_reembeds_everything(env: Path, fake: FakeOpenAI, monkeypatch) -> None:
    assert main(["--ds", DS]) == 0
    first = output(env)
    monkeypatch.setenv("LAMBDAREC_EMBEDDING_MODEL", "text-embedding-3-large")
    assert main(["--ds", DS]) == 0
    large = [r for r in fake.requests if r["model"] == "text-embedding-3-large"]
    assert sorted(t for r in large for t in r["inputs"]) == sorted(TEXTS.values())
    out = output(env)
    assert set(out["embedding_model"]) == {"text-embedding-3-large"}
    np.testing.assert_allclose(
        out.loc["4", "embedding"], fake_vector(TEXTS["4"], "text-embedding-3-large", DIM), rtol=1e-6
    )
    # same content, new vector: the timestamp moves by 1 µs so the online store accepts it
    assert out.loc["1", "event_timestamp"] - first.loc["1", "event_timestamp"] == pd.Timedelta(microseconds=1)
    assert runs(env)[-1]["model"] == "text-embedding-3-large"
    assert runs(env)[-1]["estimated_cost_usd"] == pytest.approx(runs(env)[-1]["tokens"] / 1e6 * 0.13)


def test_429_with_retry_after_is_honoured(env: Path, fake: FakeOpenAI, monkeypatch) -> None:
    monkeypatch.setenv("LAMBDAREC_EMBED_CONCURRENCY", "1")
    fake.faults.append(Fault(429, {"Retry-After": "1"}))
    assert main(["--ds", DS]) == 0
    assert [r["status"] for r in fake.requests] == [429, 200, 200, 200]
    # the retry of the rejected request came no sooner than the server asked
    assert fake.requests[1]["inputs"] == fake.requests[0]["inputs"]
    assert fake.requests[1]["t"] - fake.requests[0]["t"] >= 1.0
    record = runs(env)[-1]
    assert record["api_calls"] == 4 and record["retries"] == 1 and record["items_embedded"] == 5
    np.testing.assert_allclose(
        output(env).loc["5", "embedding"], fake_vector(TEXTS["5"], "text-embedding-3-small", DIM), rtol=1e-6
    )


def test_500_then_success(env: Path, fake: FakeOpenAI) -> None:
    fake.faults.extend([Fault(500), Fault(503)])
    assert main(["--ds", DS]) == 0
    assert sorted(r["status"] for r in fake.requests) == [200, 200, 200, 500, 503]
    assert len(output(env)) == 5


def test_retry_budget_exhausted_is_a_clear_error(env: Path, fake: FakeOpenAI, capsys) -> None:
    fake.faults.extend([Fault(503)] * 20)
    assert main(["--ds", DS]) == 2
    err = capsys.readouterr().err
    assert "failed after 4 attempts" in err and "Traceback" not in err
    assert not (env / "embeddings" / "item_text_embeddings.parquet").exists()


def test_malformed_response_is_a_clear_error(env: Path, fake: FakeOpenAI, capsys) -> None:
    fake.faults.append(
        Fault(
            200,
            body={
                "object": "list",
                "data": [{"index": 0, "embedding": [0.1] * DIM}],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )
    )
    assert main(["--ds", DS]) == 2
    err = capsys.readouterr().err
    assert "malformed embeddings response" in err and "Traceback" not in err
    assert not (env / "embeddings" / "item_text_embeddings.parquet").exists()


def test_request_too_large_is_split(env: Path, fake: FakeOpenAI, monkeypatch) -> None:
    monkeypatch.setenv("LAMBDAREC_EMBED_MAX_BATCH_INPUTS", "5")
    fake.max_inputs_per_request = 2
    assert main(["--ds", DS]) == 0
    statuses = [(len(r["inputs"]), r["status"]) for r in fake.requests]
    # 5 rejected -> 2 + 3; 3 rejected -> 1 + 2
    assert sorted(statuses) == sorted([(5, 400), (2, 200), (3, 400), (1, 200), (2, 200)])
    out = output(env)
    for item_id, text in TEXTS.items():
        np.testing.assert_allclose(
            out.loc[item_id, "embedding"], fake_vector(text, "text-embedding-3-small", DIM), rtol=1e-6
        )


def test_single_input_rejected_is_a_clear_error(env: Path, fake: FakeOpenAI, monkeypatch, capsys) -> None:
    fake.max_inputs_per_request = 0  # falsy: disabled; reject everything via faults instead
    fake.faults.extend([Fault(400)] * 10)
    monkeypatch.setenv("LAMBDAREC_EMBED_MAX_BATCH_INPUTS", "1")
    assert main(["--ds", DS]) == 2
    assert "the API rejected input" in capsys.readouterr().err
