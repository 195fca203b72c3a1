"""Publishes every user's full interaction history to Redis for serving's seen filter.

    python -m jobs.publish_history --ds YYYY-MM-DD

Reads the ``fct_interactions`` mart (every interaction up to the end of ``ds``, all event types:
a "not interested" is an interaction too) and writes, per user, one Redis string
``redis_keys.user_history(user)`` in the contracts' compact form
(``lambdarec_contracts.user_history``), pipelined in chunks, then the version stamp
``redis_keys.USER_HISTORY_VERSION`` = ds. Serving reads the string in the request's one round
trip and unions it with the speed layer's seen set, so an item a user interacted with is never
served, however old the interaction.

Idempotent per ``ds``: the values are the sorted distinct ids, so a re-run writes the same bytes.
Histories only grow, so overwriting key by key never exposes a shorter history than before.
Bad input (missing mart, missing columns, null keys) fails before anything is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from lambdarec_contracts import redis_keys, user_history
from lambdarec_contracts.settings import BaseLambdarecSettings, iso_date_arg
from lambdarec_contracts.tables import FCT_INTERACTIONS

log = logging.getLogger("jobs.publish_history")
REQUIRED = ("user_id", "item_id", "event_ts")


class HistoryError(Exception):
    """The mart cannot be published (reported without a stack trace; Redis untouched)."""


def histories(mart: Path, ds: dt.date, batch_rows: int = 50_000) -> Iterator[list[tuple[str, list[str]]]]:
    """(user_id, distinct item ids) per user with interactions before the end of ``ds``, in batches."""
    import duckdb

    if not mart.exists():
        raise HistoryError(f"missing mart {mart}")
    with duckdb.connect() as con:
        cols = {r[0] for r in con.execute(f"describe select * from read_parquet('{mart}')").fetchall()}
        missing = [c for c in REQUIRED if c not in cols]
        if missing:
            raise HistoryError(f"{mart} lacks columns {missing}")
        end = dt.datetime.combine(ds + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        src = f"(select * from read_parquet('{mart}') where event_ts::timestamptz < ?::timestamptz)"
        (nulls,) = con.execute(
            f"select count(*) from {src} where user_id is null or item_id is null", [end]
        ).fetchone()
        if nulls:
            raise HistoryError(f"{mart}: {nulls} interactions with a null user or item id")
        res = con.execute(
            f"select user_id::varchar, list(distinct item_id::varchar) from {src} group by 1 order by 1",
            [end],
        )
        while rows := res.fetchmany(batch_rows):
            yield [(u, items) for u, items in rows]


def publish(redis_url: str, mart: Path, ds: dt.date, chunk: int = 2000) -> dict[str, int]:
    """Write every user's history, then the version stamp; returns counts."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=30, socket_keepalive=True)
    users = items = 0
    batches = histories(mart, ds)
    first = next(batches, None)  # input errors surface here, before anything is written
    try:
        for batch in itertools.chain([first] if first is not None else [], batches):
            for lo in range(0, len(batch), chunk):
                part = batch[lo : lo + chunk]
                pipe = client.pipeline(transaction=False)
                for user, ids in part:
                    pipe.set(redis_keys.user_history(user), user_history.encode(ids))
                    items += len(ids)
                pipe.execute()
                users += len(part)
        client.set(redis_keys.USER_HISTORY_VERSION, ds.isoformat())
    finally:
        client.close()
    return {"users": users, "items": items}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.publish_history", description=__doc__.split("\n\n")[0])
    p.add_argument("--ds", required=True, type=iso_date_arg, help="data interval: interactions up to its end")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = BaseLambdarecSettings()
    t0 = time.perf_counter()
    try:
        counts = publish(settings.redis_url, settings.marts_dir / f"{FCT_INTERACTIONS}.parquet", args.ds)
    except HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info(
        "published the histories of %d users (%d user-item pairs) as of %s in %.1f s",
        counts["users"], counts["items"], args.ds, time.perf_counter() - t0,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
