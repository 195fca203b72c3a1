"""Container health checks for lambdarec's images (Docker HEALTHCHECK / Kubernetes exec probes).

Slim images have no curl, and the speed-layer worker has no HTTP port, so the checks
are one small script run by the image's own Python:

    python /app/docker/healthcheck.py http http://127.0.0.1:8000/healthz
    python /app/docker/healthcheck.py stream-consumer --max-lag-s 120

Exit code 0 = healthy, 1 = unhealthy (one line on stderr says why). Only the standard
library is needed for ``http``; ``stream-consumer`` needs ``redis`` (serving and
pipeline envs both have it) and reads ``REDIS_URL`` through the shared settings.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any


def check_http(url: str, timeout_s: float) -> str | None:
    """None when ``url`` answers 2xx within ``timeout_s``, else the reason it is unhealthy."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 (fixed local URL)
            if 200 <= resp.status < 300:
                return None
            return f"{url} answered HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url} unreachable: {exc}"


def _field(entry: Mapping[Any, Any], name: str) -> Any:
    # redis-py returns str or bytes keys depending on decode_responses.
    value = entry.get(name, entry.get(name.encode()))
    return value.decode() if isinstance(value, bytes) else value


def _id_ms(entry_id: str) -> int:
    """Milliseconds part of a stream entry id (``<ms>-<seq>``): when Redis appended it."""
    return int(entry_id.split("-", 1)[0])


def judge_lag(oldest_undelivered_id: str | None, now_ms: int, max_lag_ms: int) -> str | None:
    """None when nothing has waited longer than ``max_lag_ms`` for the consumer group, else why.

    An idle stream is healthy (nothing to do); a stream whose oldest undelivered entry is
    older than the limit means the worker stopped reading (dead, hung, or far behind).
    """
    if oldest_undelivered_id is None:
        return None
    waited = now_ms - _id_ms(oldest_undelivered_id)
    if waited <= max_lag_ms:
        return None
    return (
        f"entry {oldest_undelivered_id} has waited {waited} ms for the consumer group (limit {max_lag_ms} ms)"
    )


def check_stream_consumer(redis_url: str, stream: str, group: str, max_lag_s: float) -> str | None:
    """None when the speed-layer group exists and keeps up with the stream, else the reason."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        groups = {_field(g, "name"): g for g in client.xinfo_groups(stream)}
        if group not in groups:
            return f"stream {stream!r} has no consumer group {group!r}"
        last = _field(groups[group], "last-delivered-id")
        nxt = client.xrange(stream, min=f"({last}", max="+", count=1)
        oldest = nxt[0][0] if nxt else None
        oldest = oldest.decode() if isinstance(oldest, bytes) else oldest
        seconds, micros = client.time()  # the server's clock: the one that stamped the ids
    except redis.ResponseError as exc:  # e.g. the stream does not exist yet
        return f"stream {stream!r}: {exc}"
    except redis.RedisError as exc:
        return f"redis unreachable: {exc}"
    finally:
        client.close()
    return judge_lag(oldest, seconds * 1000 + micros // 1000, int(max_lag_s * 1000))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="check", required=True)
    http = sub.add_parser("http", help="GET a URL, healthy on 2xx")
    http.add_argument("url")
    http.add_argument("--timeout-s", type=float, default=4.0)
    stream = sub.add_parser("stream-consumer", help="the speed-layer worker keeps up with its stream")
    stream.add_argument("--max-lag-s", type=float, default=120.0, help="oldest undelivered entry age")
    stream.add_argument("--stream", default=None, help="default: the contract's events stream")
    stream.add_argument("--group", default=None, help="default: the contract's consumer group")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.check == "http":
        problem = check_http(args.url, args.timeout_s)
    else:
        from lambdarec_contracts import redis_keys
        from lambdarec_contracts.settings import BaseLambdarecSettings

        settings = BaseLambdarecSettings()
        problem = check_stream_consumer(
            settings.redis_url,
            args.stream or redis_keys.EVENTS_STREAM,
            args.group or redis_keys.EVENTS_GROUP,
            args.max_lag_s,
        )
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
