"""Item vectors in Redis's query engine: one HNSW index per bundle version and vector kind.

The publish step (``training/publish.py``) writes them before the bundle's ``current`` link flips;
serving (``serving/vector_store.py``) queries them when ``LAMBDAREC_VECTOR_BACKEND=redis``. Both
sides take the names, the schema and the query shape from here. Layout, per version and kind::

    index  lambdarec:vec:<version>:<kind>          FT.CREATE ... ON HASH PREFIX 1 <index>:
    hash   lambdarec:vec:<version>:<kind>:<row>    v = float32 bytes, r = <row> (TAG)

``<row>`` is the vector's row in the bundle's array (= the item's vocabulary position; row 0, the
out-of-vocabulary bucket, and all-zero rows are never written). Kinds: ``item`` (two-tower item
embeddings, inner product, what the query tower's embedding is scored with) and ``text`` (text
embeddings, cosine, what the "because you liked" text neighbours are). Redis reports distances:
IP distance = 1 - inner product, COSINE distance = 1 - cosine, so similarity = 1 - distance for both.

No redis import: callers pass a redis-py client (the training env has none and needs none unless
it publishes vectors). Works with Redis 8 (query engine built in) and Redis Stack.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .redis_keys import PREFIX

ITEM = "item"
TEXT = "text"
METRIC = {ITEM: "IP", TEXT: "COSINE"}
VECTOR_FIELD = "v"
ROW_FIELD = "r"
DISTANCE = "d"
HNSW_M = 16  # the same graph parameters as serving's in-process hnswlib index
HNSW_EF_CONSTRUCTION = 200
_BASE = f"{PREFIX}:vec:"


class VectorIndexError(RuntimeError):
    """The server cannot hold the index (no query engine) or indexing did not finish in time."""


def index_name(version: str, kind: str) -> str:
    return f"{_BASE}{version}:{kind}"


def doc_key(version: str, kind: str, row: int) -> str:
    return f"{index_name(version, kind)}:{row}"


def row_of(key: bytes | str) -> int:
    """The vector's row from a document key (FT.SEARCH returns keys)."""
    k = key.decode() if isinstance(key, bytes) else key
    return int(k.rsplit(":", 1)[1])


def version_of(name: bytes | str) -> str | None:
    """The bundle version an index name carries (None: not one of ours)."""
    n = name.decode() if isinstance(name, bytes) else name
    if not n.startswith(_BASE):
        return None
    return n[len(_BASE) :].rsplit(":", 1)[0]


def create_index(client: Any, version: str, kind: str, dim: int, capacity: int) -> None:
    """``FT.CREATE`` the (empty) index; an existing one of that name is dropped with its documents."""
    name = index_name(version, kind)
    drop_index(client, name)
    client.execute_command(
        "FT.CREATE", name, "ON", "HASH", "PREFIX", 1, f"{name}:", "SCHEMA",
        ROW_FIELD, "TAG",
        VECTOR_FIELD, "VECTOR", "HNSW", 12, "TYPE", "FLOAT32", "DIM", dim,
        "DISTANCE_METRIC", METRIC[kind], "INITIAL_CAP", max(capacity, 1),
        "M", HNSW_M, "EF_CONSTRUCTION", HNSW_EF_CONSTRUCTION,
    )  # fmt: skip


def write_vectors(client: Any, version: str, kind: str, vectors: np.ndarray, batch: int = 100) -> int:
    """HSET every non-zero row except row 0 (pipelined batches); returns how many were written.

    Each HSET inserts into the HNSW graph before Redis serves anyone else, and a pipeline's commands
    run back to back: small batches keep a publish from stalling serving's reads (0.25 s timeouts).
    """
    v = np.ascontiguousarray(vectors, np.float32)
    rows = np.flatnonzero(np.linalg.norm(v, axis=1) > 0)
    rows = rows[rows != 0]
    for lo in range(0, len(rows), batch):
        with client.pipeline(transaction=False) as p:
            for r in rows[lo : lo + batch].tolist():
                p.hset(doc_key(version, kind, r), mapping={VECTOR_FIELD: v[r].tobytes(), ROW_FIELD: r})
            p.execute()
    return len(rows)


def index_info(client: Any, name: str) -> dict[str, Any]:
    """``FT.INFO`` as a dict with str keys (redis-py 8 parses the reply into a dict, 7 leaves a flat list)."""
    raw = client.execute_command("FT.INFO", name)
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[0::2], raw[1::2], strict=False)
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in pairs}


def wait_indexed(client: Any, name: str, expected: int, timeout_s: float = 1800.0) -> None:
    """Until the index holds ``expected`` documents and no background indexing runs."""
    deadline = time.monotonic() + timeout_s
    while True:
        info = index_info(client, name)
        docs, busy = int(info.get("num_docs", 0)), int(info.get("indexing", 0))
        if docs >= expected and not busy:
            return
        if time.monotonic() > deadline:
            raise VectorIndexError(f"{name}: {docs}/{expected} documents indexed after {timeout_s:.0f} s")
        time.sleep(0.2)


def publish_vectors(client: Any, version: str, vectors: dict[str, np.ndarray]) -> dict[str, int]:
    """Create and fill one index per kind (``{kind: [rows, dim] array}``); returns documents per kind.

    Raises VectorIndexError when the server has no query engine (plain Redis).
    """
    written = {}
    for kind, v in vectors.items():
        if v.ndim != 2 or v.shape[1] == 0:
            continue
        try:
            create_index(client, version, kind, int(v.shape[1]), len(v))
        except Exception as e:  # redis.ResponseError: unknown command on a server without the module
            raise VectorIndexError(f"cannot create {index_name(version, kind)}: {e}") from e
        written[kind] = write_vectors(client, version, kind, v)
        wait_indexed(client, index_name(version, kind), written[kind])
    return written


def list_indexes(client: Any) -> list[str]:
    """Our index names on the server (``FT._LIST``)."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in client.execute_command("FT._LIST")]
    return [n for n in names if version_of(n) is not None]


def drop_index(client: Any, name: str) -> bool:
    """``FT.DROPINDEX name DD`` (with its documents); False when there was no such index."""
    try:
        client.execute_command("FT.DROPINDEX", name, "DD")
    except Exception as e:  # "Unknown index name" / "no such index"
        if "index" in str(e).lower():
            return False
        raise
    return True


def drop_versions_except(client: Any, keep: Iterable[str]) -> list[str]:
    """Drop every index (and its vectors) of a version not in ``keep``; returns the dropped names."""
    kept = set(keep)
    dropped = [n for n in list_indexes(client) if version_of(n) not in kept]
    for n in dropped:
        drop_index(client, n)
    return dropped


def knn_args(
    version: str, kind: str, query: np.ndarray, k: int, ef_runtime: int, exclude: Sequence[int] = ()
) -> list[Any]:
    """``FT.SEARCH`` arguments: the ``k`` nearest rows, ``exclude`` rows filtered inside the query."""
    flt = f"(-@{ROW_FIELD}:{{{' | '.join(str(int(r)) for r in exclude)}}})" if len(exclude) else "*"
    q = f"{flt}=>[KNN {int(k)} @{VECTOR_FIELD} $B EF_RUNTIME {int(ef_runtime)} AS {DISTANCE}]"
    blob = np.ascontiguousarray(query, np.float32).tobytes()
    return [
        "FT.SEARCH", index_name(version, kind), q, "PARAMS", 2, "B", blob,
        "SORTBY", DISTANCE, "ASC", "RETURN", 1, DISTANCE, "LIMIT", 0, int(k), "DIALECT", 2,
    ]  # fmt: skip


def _field(reply: dict[Any, Any], name: str) -> Any:
    return reply[name.encode()] if name.encode() in reply else reply[name]


def parse_knn(reply: Sequence[Any] | dict[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
    """An ``FT.SEARCH`` reply of ``knn_args`` -> (rows int64, similarities float64), best first.

    RESP2 (redis-py 7) replies ``[total, key, [d, value], ...]``; RESP3 (redis-py 8's default)
    ``{results: [{id: key, extra_attributes: {d: value}}, ...]}``.
    """
    if isinstance(reply, dict):
        docs = _field(reply, "results")
        keys = [_field(doc, "id") for doc in docs]
        dists = [_field(_field(doc, "extra_attributes"), DISTANCE) for doc in docs]
    else:
        keys, dists = list(reply[1::2]), [f[1] for f in reply[2::2]]
    rows = np.fromiter((row_of(k) for k in keys), np.int64, len(keys))
    dist = np.fromiter((float(d) for d in dists), np.float64, len(dists))
    return rows, 1.0 - dist
