"""The embeddings job: embed new or changed items, keep the rest, record the run.

Output ``embeddings/item_text_embeddings.parquet`` (one row per current item; ITEM_TEXT_FEATURES):
item_id, event_timestamp, embedding (list<float32>), embedding_model, content_hash.

``event_timestamp`` is when the item's *content* became known, not when the vector was
computed, so point-in-time training sets see text embeddings for past interactions: a new
item gets its ``first_seen_ts`` (or the ds snapshot time, ``ds + 1 day 00:00 UTC``, if it has
no interactions yet), changed content gets the ds snapshot time, and a re-embedding of unchanged
content (model change) keeps the timestamp plus 1 µs, because Feast's Redis writer ignores
rows that are not newer than what it holds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError

from jobs.embeddings.providers import EmbeddingError, LocalProvider, OpenAIProvider, Provider
from jobs.embeddings.settings import EmbeddingsSettings
from jobs.embeddings.text import content_hash, item_text, token_estimator
from lambdarec_contracts.settings import iso_date_arg
from lambdarec_contracts.tables import DIM_ITEMS, ITEM_EMBEDDINGS_TABLE

log = logging.getLogger("jobs.embeddings")

RUNS_FILE = "runs.jsonl"
OUTPUT_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("embedding", pa.list_(pa.float32())),
        ("embedding_model", pa.string()),
        ("content_hash", pa.string()),
    ]
)


class RunRecord(BaseModel):
    """One line of ``embeddings/runs.jsonl``."""

    ds: str
    started_at: str
    provider: str
    model: str
    dimension: int
    items_total: int
    items_embedded: int
    api_calls: int
    retries: int
    tokens: int
    estimated_cost_usd: float
    seconds: float


class JobError(Exception):
    """Expected bad input: reported without a stack trace, exit code 2."""


def snapshot_time(ds: date) -> datetime:
    return datetime.combine(ds + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def item_documents(items: pd.DataFrame) -> pd.DataFrame:
    """item_id, text, content_hash, first_seen_ts for every item of dim_items."""
    items = items.reset_index(drop=True)
    texts = [
        item_text(r.title, r.genres, r.year, r.tags, r.description)
        for r in items[["title", "genres", "year", "tags", "description"]].itertuples(index=False)
    ]
    first_seen = (
        pd.to_datetime(items["first_seen_ts"], utc=True)
        if "first_seen_ts" in items
        else pd.Series(pd.NaT, index=items.index, dtype="datetime64[us, UTC]")
    )
    return pd.DataFrame(
        {
            "item_id": items["item_id"].astype(str),
            "text": texts,
            "content_hash": [content_hash(t) for t in texts],
            "first_seen_ts": first_seen,
        }
    )


def plan_embeddings(
    docs: pd.DataFrame, previous: pd.DataFrame | None, model: str, dim: int, ds: date
) -> pd.DataFrame:
    """Per item: whether it must be (re)embedded and its event_timestamp. Pure.

    Re-embed when the item is new, its content hash changed, or the stored vector came from
    another model or dimension.
    """
    snap = pd.Timestamp(snapshot_time(ds))
    plan = docs.copy()
    if previous is not None and len(previous):
        prev = previous.set_index("item_id")
        prev_hash = plan["item_id"].map(prev["content_hash"])
        prev_model = plan["item_id"].map(prev["embedding_model"])
        prev_dim = plan["item_id"].map(prev["embedding"].map(len))
        prev_ts = plan["item_id"].map(prev["event_timestamp"])
    else:
        prev_hash = prev_model = prev_dim = prev_ts = pd.Series([None] * len(plan), index=plan.index)
    is_new = prev_hash.isna()
    changed = ~is_new & (prev_hash != plan["content_hash"])
    other_model = ~is_new & ~changed & ((prev_model != model) | (prev_dim != dim))
    plan["embed"] = is_new | changed | other_model
    first_seen = pd.to_datetime(plan["first_seen_ts"], utc=True)
    new_ts = first_seen.where(first_seen.notna() & (first_seen < snap), snap)
    ts = pd.Series(pd.NaT, index=plan.index, dtype="datetime64[us, UTC]")
    ts[is_new] = new_ts[is_new]
    ts[changed] = snap
    keep = ~plan["embed"]
    ts[keep] = pd.to_datetime(prev_ts[keep], utc=True)
    ts[other_model] = pd.to_datetime(prev_ts[other_model], utc=True) + pd.Timedelta(microseconds=1)
    plan["event_timestamp"] = ts
    return plan


def read_previous(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    return pq.read_table(path).to_pandas()


def assemble(
    plan: pd.DataFrame, new_vectors: np.ndarray, previous: pd.DataFrame | None, model: str
) -> pa.Table:
    """The output table: fresh vectors for embedded items, previous rows for the others."""
    prev_vectors = previous.set_index("item_id")["embedding"] if previous is not None else None
    embeddings: list[list[float]] = []
    fresh = iter(new_vectors)
    for item_id, embed in zip(plan["item_id"], plan["embed"], strict=True):
        embeddings.append(next(fresh).tolist() if embed else list(prev_vectors[item_id]))  # type: ignore[index]
    return pa.Table.from_pydict(
        {
            "item_id": plan["item_id"].tolist(),
            "event_timestamp": plan["event_timestamp"].tolist(),
            "embedding": embeddings,
            "embedding_model": [model] * len(plan),
            "content_hash": plan["content_hash"].tolist(),
        },
        schema=OUTPUT_SCHEMA,
    )


def write_atomically(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def make_provider(name: str, settings: EmbeddingsSettings) -> Provider:
    if name == "openai":
        return OpenAIProvider(settings)
    return LocalProvider()


def run(settings: EmbeddingsSettings, ds: date, provider: Provider) -> RunRecord:
    """Embed what changed for ``ds``, write the table, append and return the run record."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    items_path = settings.marts_dir / f"{DIM_ITEMS}.parquet"
    if not items_path.exists():
        raise JobError(f"{items_path} is missing (run dbt first)")
    items = pd.read_parquet(items_path)
    if items.empty:
        raise JobError(f"{items_path} has no items")
    out_path = settings.embeddings_dir / f"{ITEM_EMBEDDINGS_TABLE}.parquet"
    previous = read_previous(out_path)
    plan = plan_embeddings(item_documents(items), previous, provider.model, provider.dim, ds)
    todo = plan.loc[plan["embed"], "text"].tolist()
    log.info("%d items, %d new or changed", len(plan), len(todo))
    result = provider.embed(todo)
    if result.vectors.shape != (len(todo), provider.dim):
        raise EmbeddingError(
            f"provider returned {result.vectors.shape}, expected {(len(todo), provider.dim)}"
        )
    write_atomically(assemble(plan, result.vectors, previous, provider.model), out_path)
    tokens = result.usage.tokens
    if provider.name == "local":
        estimate = token_estimator()
        tokens = sum(estimate(t) for t in todo)
    record = RunRecord(
        ds=ds.isoformat(),
        started_at=started.isoformat(),
        provider=provider.name,
        model=provider.model,
        dimension=provider.dim,
        items_total=len(plan),
        items_embedded=len(todo),
        api_calls=result.usage.api_calls,
        retries=result.usage.retries,
        tokens=tokens,
        estimated_cost_usd=result.usage.tokens / 1e6 * settings.price(provider.model)
        if provider.name == "openai"
        else 0.0,
        seconds=round(time.perf_counter() - t0, 3),
    )
    with (settings.embeddings_dir / RUNS_FILE).open("a") as f:
        f.write(record.model_dump_json() + "\n")
    log.info("run: %s", json.dumps(record.model_dump()))
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.embeddings", description="Embed item texts (incremental)."
    )
    parser.add_argument("--ds", required=True, type=iso_date_arg, help="run date (YYYY-MM-DD)")
    parser.add_argument(
        "--provider",
        choices=["openai", "local"],
        default=None,
        help="default: openai if OPENAI_API_KEY is set",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = EmbeddingsSettings()
        provider = make_provider(args.provider or settings.default_provider(), settings)
        record = run(settings, args.ds, provider)
    except (JobError, EmbeddingError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(record.model_dump_json())
    return 0
