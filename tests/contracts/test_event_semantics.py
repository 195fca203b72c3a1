"""Event semantics are defined once (lambdarec_contracts.events); dbt's vars must equal them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from pydantic import ValidationError

from lambdarec_contracts import events
from lambdarec_contracts.events import (
    EVENT_TYPES,
    NEGATIVE_EVENT_TYPES,
    POSITIVE_EVENT_TYPES,
    POSITIVE_RATING,
    Event,
    event_sign,
    is_positive,
)
from tests.conftest import REPO_ROOT


def dbt_vars() -> dict:
    return yaml.safe_load((REPO_ROOT / "dbt" / "dbt_project.yml").read_text())["vars"]


def test_dbt_vars_equal_the_contract() -> None:
    v = dbt_vars()
    assert float(v["positive_rating"]) == POSITIVE_RATING
    assert sorted(v["positive_event_types"]) == sorted(POSITIVE_EVENT_TYPES)
    assert tuple(v["event_types"]) == EVENT_TYPES


def test_positivity_and_sign() -> None:
    assert [is_positive(t, None) for t in EVENT_TYPES] == [t in POSITIVE_EVENT_TYPES for t in EVENT_TYPES]
    assert is_positive("rating", POSITIVE_RATING) and not is_positive("rating", POSITIVE_RATING - 0.5)
    assert not is_positive("rating", None)
    assert [event_sign(t, None) for t in ("view", "click", "like", "not_interested")] == [
        "other", "pos", "pos", "neg",
    ]  # fmt: skip
    assert set(NEGATIVE_EVENT_TYPES).isdisjoint(POSITIVE_EVENT_TYPES)


def test_changing_the_threshold_changes_the_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every layer asks event_sign / is_positive (serving and the worker pass the sign to the one
    # Lua script), so moving the contract's threshold moves them all.
    assert event_sign("rating", 3.5) == "other"
    monkeypatch.setattr(events, "POSITIVE_RATING", 3.0)
    assert event_sign("rating", 3.5) == "pos"


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_timestamps_that_leave_the_utc_range_are_validation_errors(ts: str) -> None:
    # Regression: astimezone(UTC) raised OverflowError (HTTP 500) after the event was marked seen.
    with pytest.raises(ValidationError, match="out of range"):
        Event(event_id="e", user_id="u", item_id="i", type="view", ts=ts)


def test_timestamps_are_normalised_to_utc() -> None:
    e = Event(event_id="e", user_id="u", item_id="i", type="view", ts="2026-01-01T12:00:00+02:00")
    assert e.ts == datetime(2026, 1, 1, 10, 0, tzinfo=UTC) and e.ts.utcoffset().total_seconds() == 0


@pytest.mark.redis
def test_the_threshold_moves_serving_and_the_worker_alike(
    redis_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both callers of the one script (serving: ingest, worker: apply) follow the contract's threshold."""
    import redis

    from lambdarec_contracts import redis_keys as rk
    from lambdarec_contracts.events import stream_fields_to_record
    from lambdarec_contracts.user_state import EventWriter, UserStateLimits

    client = redis.Redis.from_url(redis_server.url)
    writer = EventWriter(UserStateLimits())
    now = datetime.now(UTC)
    rating = Event(event_id="r1", user_id="u1", item_id="i1", type="rating", value=3.5, ts=now)
    assert writer.ingest(client, [rating], [True]) == [True]
    assert client.lrange(rk.recent_items("u1"), 0, -1) == []  # 3.5 < 4.0: not positive
    monkeypatch.setattr(events, "POSITIVE_RATING", 3.0)
    again = rating.model_copy(update={"event_id": "r2", "user_id": "u2"})
    assert writer.ingest(client, [again], [True]) == [True]
    assert client.lrange(rk.recent_items("u2"), 0, -1) == [b"i1"]  # serving's path
    records = [stream_fields_to_record(f) for _, f in client.xrange(rk.EVENTS_STREAM)]
    client.delete(rk.recent_items("u1"))
    assert writer.apply(client, records[:1]) == 1
    assert client.lrange(rk.recent_items("u1"), 0, -1) == [b"i1"]  # the worker's path
