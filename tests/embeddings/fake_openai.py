"""A local stand-in for the OpenAI ``/v1/embeddings`` endpoint (stdlib http.server in a thread).

It returns deterministic vectors (a function of the text, the model and the dimension), reports
usage tokens (words, deliberately not the client's estimate), records every request, and plays
scripted faults in order: 429 with Retry-After, 5xx, malformed bodies, 400 for large requests.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def fake_vector(text: str, model: str, dim: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(f"{model}|{text}".encode()).digest()[:8], "little")
    rng = random.Random(seed)
    return [round(rng.uniform(-1, 1), 4) for _ in range(dim)]


def fake_tokens(text: str) -> int:
    return len(text.split())


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict | None = None  # 200 with this body = malformed response


@dataclass
class FakeOpenAI:
    max_inputs_per_request: int | None = None  # larger requests get a 400
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[dict] = field(default_factory=list)  # {"t", "model", "inputs", "status", "auth"}
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def served(self) -> list[dict]:
        return [r for r in self.requests if r["status"] == 200]

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                model, dim = body["model"], int(body.get("dimensions") or 1536)
                with fake.lock:
                    fault = fake.faults.popleft() if fake.faults else None
                    record = {
                        "t": time.monotonic(),
                        "model": model,
                        "inputs": inputs,
                        "dim": dim,
                        "auth": self.headers.get("Authorization"),
                        "path": self.path,
                    }
                    fake.requests.append(record)
                if self.path != "/v1/embeddings":
                    record["status"] = 404
                    return self._reply(404, {"error": {"message": "not found"}})
                if fault is not None:
                    record["status"] = fault.status
                    if fault.body is not None:
                        return self._reply(fault.status, fault.body, fault.headers)
                    return self._reply(
                        fault.status,
                        {"error": {"message": f"injected {fault.status}", "type": "server_error"}},
                        fault.headers,
                    )
                if fake.max_inputs_per_request and len(inputs) > fake.max_inputs_per_request:
                    record["status"] = 400
                    return self._reply(
                        400,
                        {
                            "error": {
                                "message": "too many tokens in this request",
                                "type": "invalid_request_error",
                            }
                        },
                    )
                record["status"] = 200
                self._reply(
                    200,
                    {
                        "object": "list",
                        "model": model,
                        "data": [
                            {"object": "embedding", "index": i, "embedding": fake_vector(t, model, dim)}
                            for i, t in enumerate(inputs)
                        ],
                        "usage": {
                            "prompt_tokens": sum(map(fake_tokens, inputs)),
                            "total_tokens": sum(map(fake_tokens, inputs)),
                        },
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
