"""Container health checks for lambdarec's images (Docker HEALTHCHECK / Kubernetes exec probes).

Slim images have no curl, and the speed-layer worker has no HTTP port, so the checks
are one small script run by the image's own Python:

    python /app/docker/healthcheck.py http http://127.0.0.1:8000/healthz
    python /app/docker/healthcheck.py stream-consumer --max-idle-s 120

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
    return entry.get(name, entry.get(name.encode()))


def judge_consumers(
    consumers: Sequence[Mapping[Any, Any]], max_idle_ms: int, consumer: str | None
) -> str | None:
    """None when a consumer (``consumer`` if named) polled within ``max_idle_ms``, else why not.

    Redis updates a consumer's ``idle`` on every XREADGROUP attempt, including blocking
    reads on an empty stream, so an idle time far above the worker's block timeout means
    the worker stopped polling (hung or dead), not that there is nothing to read.
    """
    seen: list[str] = []
    for entry in consumers:
        name = _field(entry, "name")
        name = name.decode() if isinstance(name, bytes) else str(name)
        if consumer is not None and name != consumer:
            continue
        idle = int(_field(entry, "idle"))
        seen.append(f"{name} idle {idle} ms")
        if idle <= max_idle_ms:
            return None
    if not seen:
        wanted = f"consumer {consumer!r}" if consumer else "any consumer"
        return f"no {wanted} in the group"
    return f"no consumer polled within {max_idle_ms} ms ({'; '.join(seen)})"


def check_stream_consumer(
    redis_url: str, stream: str, group: str, max_idle_s: float, consumer: str | None
) -> str | None:
    """None when the speed-layer consumer group has a live consumer, else the reason."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        groups = client.xinfo_groups(stream)
        if not any(_name(g) == group for g in groups):
            return f"stream {stream!r} has no consumer group {group!r}"
        consumers = client.xinfo_consumers(stream, group)
    except redis.ResponseError as exc:  # stream does not exist yet
        return f"stream {stream!r}: {exc}"
    except redis.RedisError as exc:
        return f"redis unreachable: {exc}"
    finally:
        client.close()
    return judge_consumers(consumers, int(max_idle_s * 1000), consumer)


def _name(group: Mapping[Any, Any]) -> str:
    name = _field(group, "name")
    return name.decode() if isinstance(name, bytes) else str(name)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="check", required=True)
    http = sub.add_parser("http", help="GET a URL, healthy on 2xx")
    http.add_argument("url")
    http.add_argument("--timeout-s", type=float, default=4.0)
    stream = sub.add_parser("stream-consumer", help="the speed-layer worker is polling its stream")
    stream.add_argument("--max-idle-s", type=float, default=120.0)
    stream.add_argument("--consumer", default=None, help="only this consumer name counts")
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
            args.max_idle_s,
            args.consumer,
        )
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
