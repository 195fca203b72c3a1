"""Pure helpers: the text an item is embedded from, its content hash, token estimates, batches."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any


def item_text(
    title: str | None, genres: Sequence[str] | None, year: Any, tags: str | None, description: str | None
) -> str:
    """One document per item: title (year), genres, tags, description — empty parts left out."""
    head = (title or "").strip()
    year_value = _as_int(year)
    if year_value is not None and year_value > 0:
        head = f"{head} ({year_value})"
    lines = [head]
    genre_list = [g for g in (genres if genres is not None else []) if g and g != "(other)"]
    if genre_list:
        lines.append("Genres: " + ", ".join(genre_list))
    tag_list = [t.strip() for t in (tags or "").split("|") if t.strip()]
    if tag_list:
        lines.append("Tags: " + ", ".join(tag_list))
    if description and description.strip():
        lines.append(description.strip())
    return "\n".join(line for line in lines if line)


def _as_int(value: Any) -> int | None:
    """An int, or None for None / NaN / pandas NA."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def content_hash(text: str) -> str:
    """Stable hash of the embedded text (model-independent: a model change is detected separately)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def token_estimator() -> Callable[[str], int]:
    """tiktoken's cl100k_base count when installed, otherwise ~4 characters per token (rounded up)."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("cl100k_base")
        return lambda text: len(encoding.encode(text))
    except Exception:  # noqa: BLE001 - not installed, or its vocabulary cannot be fetched offline
        return lambda text: max(1, math.ceil(len(text) / 4))


def make_batches(token_counts: Sequence[int], max_inputs: int, max_tokens: int) -> list[list[int]]:
    """Group input indices into requests of at most ``max_inputs`` inputs and ``max_tokens`` tokens."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_tokens = 0
    for i, tokens in enumerate(token_counts):
        if current and (len(current) >= max_inputs or current_tokens + tokens > max_tokens):
            batches.append(current)
            current, current_tokens = [], 0
        current.append(i)
        current_tokens += tokens
    if current:
        batches.append(current)
    return batches
