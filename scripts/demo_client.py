"""Talks to the running serving API like an application would, and prints what it answers.

stdlib only. Used by `make demo`; also handy by hand:
    python scripts/demo_client.py --url http://127.0.0.1:8000 --api-key KEY
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime


def call(
    url: str, method: str = "GET", body: object | None = None, api_key: str | None = None
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if api_key:
        req.add_header("X-API-Key", api_key)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def show(title: str, status: int, rec: dict, limit: int = 5) -> None:
    print(
        f"\n$ {title}\n  HTTP {status}  model={rec.get('model_version')} variant={rec.get('variant')} "
        f"degraded={rec.get('degraded')} cached={rec.get('cached')}"
    )
    for i, it in enumerate(rec.get("items", [])[:limit], 1):
        name = it.get("title") or it["item_id"]
        print(f"  {i}. {name:<42.42} score={it.get('score', 0):.3f} [{it.get('source')}]  {it.get('reason')}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--users", default="1,2,3")
    a = ap.parse_args()
    base = a.url.rstrip("/")

    for _ in range(60):
        status, ready = call(f"{base}/readyz")
        if status == 200:
            break
        time.sleep(1)
    print(f"$ GET /readyz\n  HTTP {status} {json.dumps(ready)}")

    users = [u for u in a.users.split(",") if u]
    for u in users:
        status, rec = call(f"{base}/v1/recommendations/{u}?k=10")
        show(f"GET /v1/recommendations/{u}?k=10", status, rec)

    status, rec = call(f"{base}/v1/recommendations/new-visitor-1?k=10&genres=Comedy")
    show("GET /v1/recommendations/new-visitor-1?k=10&genres=Comedy   (cold start)", status, rec)

    # The first user likes their top item and marks the second "not interested".
    u = users[0]
    status, rec = call(f"{base}/v1/recommendations/{u}?k=10")
    items = [it["item_id"] for it in rec.get("items", [])]
    if len(items) >= 2:
        now = datetime.now(UTC).isoformat()
        events = [
            {"event_id": str(uuid.uuid4()), "user_id": u, "item_id": items[0], "type": "like", "ts": now},
            {
                "event_id": str(uuid.uuid4()),
                "user_id": u,
                "item_id": items[1],
                "type": "not_interested",
                "ts": now,
            },
        ]
        status, ack = call(f"{base}/v1/events", "POST", {"events": events}, api_key=a.api_key)
        print(
            f"\n$ POST /v1/events  (user {u} likes {items[0]}, not interested in {items[1]})\n  HTTP {status} {json.dumps(ack)}"
        )
        status, rec = call(f"{base}/v1/recommendations/{u}?k=10")
        show(
            f"GET /v1/recommendations/{u}?k=10   (right after the events: both are filtered out)", status, rec
        )
        left = {it["item_id"] for it in rec.get("items", [])}
        if items[0] in left or items[1] in left:
            print("  !! an item the user just acted on is still recommended", file=sys.stderr)
            return 1
        status, sim = call(f"{base}/v1/items/{items[0]}/similar?k=5")
        show(f"GET /v1/items/{items[0]}/similar?k=5", status, sim)
    status, _ = call(f"{base}/v1/events", "POST", {"events": []})
    print(f"\n$ POST /v1/events without X-API-Key\n  HTTP {status} (refused)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
