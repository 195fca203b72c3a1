"""Pure transforms of stream entries: decode, split, partition and tabulate one batch."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from lambdarec_contracts.arrow import arrow_schema
from lambdarec_contracts.events import (
    STREAM_KIND_EVENT,
    STREAM_KIND_IMPRESSION,
    stream_fields_to_record,
)
from lambdarec_contracts.tables import LANDED_EVENTS_COLUMNS, LANDED_IMPRESSIONS_COLUMNS

# What an event does to Redis (trending, seen / not-interested sets, recent list) is decided by
# the contracts: lambdarec_contracts.events.event_sign and the script in
# lambdarec_contracts.user_state, which serving runs too.

EVENTS_SCHEMA = arrow_schema(LANDED_EVENTS_COLUMNS)
IMPRESSIONS_SCHEMA = arrow_schema(LANDED_IMPRESSIONS_COLUMNS)


@dataclass
class DeadLetter:
    stream_id: str
    reason: str
    fields: dict[str, str]


@dataclass
class ParsedBatch:
    """One batch of stream entries split by kind; ids keep stream order."""

    ids: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    impressions: list[dict[str, Any]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    # Pending entries whose payload is gone (trimmed or deleted before processing): acked, counted.
    lost: list[str] = field(default_factory=list)

    @property
    def first_id(self) -> str:
        return self.ids[0]

    @property
    def last_id(self) -> str:
        return self.ids[-1]


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return str(v)


def _reason(exc: ValueError) -> str:
    """A one-line reason for a dead letter (pydantic's per-field messages without the URLs)."""
    if isinstance(exc, ValidationError):
        text = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
    else:
        text = str(exc)
    return " ".join(text.split())[:500]


def parse_entries(entries: list[tuple[Any, Any]]) -> ParsedBatch:
    """Decode raw ``(stream_id, fields)`` pairs; bad entries become dead letters, never errors.

    An entry whose payload is gone (``fields`` None or empty, from XAUTOCLAIM or a re-read of the
    pending list) cannot be processed: it is listed in ``lost`` (the worker counts and logs it).
    """
    batch = ParsedBatch()
    for raw_id, fields in entries:
        sid = _text(raw_id)
        batch.ids.append(sid)
        if not fields:
            batch.lost.append(sid)
            continue
        try:
            record = stream_fields_to_record(fields)
        except ValueError as exc:  # pydantic's ValidationError and UnicodeDecodeError are ValueErrors
            reason = _reason(exc)
            batch.dead.append(DeadLetter(sid, reason, {_text(k): _text(v) for k, v in fields.items()}))
            continue
        record["stream_id"] = sid
        if record["kind"] == STREAM_KIND_EVENT:
            batch.events.append(record)
        elif record["kind"] == STREAM_KIND_IMPRESSION:
            batch.impressions.append(record)
    return batch


def hour_bucket(ts: datetime) -> int:
    """The trending hour bucket of a timestamp (unix_seconds // 3600)."""
    return int(ts.timestamp()) // 3600


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """A stream id as a sortable ``(ms, seq)`` pair."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def partition_of(ts: datetime) -> tuple[str, str]:
    """``(date=YYYY-MM-DD, hour=HH)`` values of the landing partition of a UTC timestamp."""
    return ts.strftime("%Y-%m-%d"), ts.strftime("%H")


def events_table(events: list[dict[str, Any]], ingested_at: datetime) -> pa.Table:
    """Landed-events rows (LANDED_EVENTS_COLUMNS) of decoded event records."""
    return pa.table(
        {
            "event_id": [e["event_id"] for e in events],
            "user_id": [e["user_id"] for e in events],
            "item_id": [e["item_id"] for e in events],
            "event_type": [e["type"] for e in events],
            "value": [e["value"] for e in events],
            "event_ts": [e["ts"] for e in events],
            "ingested_at": [ingested_at] * len(events),
        },
        schema=EVENTS_SCHEMA,
    )


def impressions_table(impressions: list[dict[str, Any]], ingested_at: datetime) -> pa.Table:
    """Landed-impressions rows (LANDED_IMPRESSIONS_COLUMNS) of decoded impression records."""
    cols: dict[str, list[Any]] = {
        name: [i[name] for i in impressions]
        for name in ("request_id", "user_id", "item_id", "position", "model_version", "variant")
    }
    cols["experiment"] = [i["experiment"] for i in impressions]
    cols["source"] = [i["source"] for i in impressions]
    cols["impression_ts"] = [i["ts"] for i in impressions]
    cols["ingested_at"] = [ingested_at] * len(impressions)
    return pa.table(cols, schema=IMPRESSIONS_SCHEMA)


def by_partition(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Group decoded records by the (date, hour) of their ``ts``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[partition_of(r["ts"])].append(r)
    return dict(groups)
