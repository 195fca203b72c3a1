"""Environment of the embeddings job, parsed once per process."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from lambdarec_contracts.settings import BaseLambdarecSettings, reject_placeholder_secret

# USD per 1M input tokens (published list prices); unknown models fall back to the setting below.
PRICE_PER_MTOK = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
}
LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_MODEL_DIM = 384


class EmbeddingsSettings(BaseLambdarecSettings):
    """OpenAI client and batching knobs; the run date and provider are CLI flags."""

    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    openai_model: str = Field(default="text-embedding-3-small", alias="LAMBDAREC_EMBEDDING_MODEL")
    openai_dimensions: int = Field(default=1536, ge=1, alias="LAMBDAREC_EMBEDDING_DIMENSIONS")
    # API limits: at most 2048 inputs and 300k tokens per request, 8192 tokens per input.
    max_batch_inputs: int = Field(default=2048, ge=1, le=2048, alias="LAMBDAREC_EMBED_MAX_BATCH_INPUTS")
    max_batch_tokens: int = Field(default=250_000, ge=1, le=300_000, alias="LAMBDAREC_EMBED_MAX_BATCH_TOKENS")
    max_input_tokens: int = Field(default=8191, ge=1, alias="LAMBDAREC_EMBED_MAX_INPUT_TOKENS")
    max_concurrency: int = Field(default=4, ge=1, alias="LAMBDAREC_EMBED_CONCURRENCY")
    max_retries: int = Field(default=6, ge=0, alias="LAMBDAREC_EMBED_MAX_RETRIES")
    backoff_base_s: float = Field(default=1.0, gt=0, alias="LAMBDAREC_EMBED_BACKOFF_BASE_S")
    backoff_max_s: float = Field(default=60.0, gt=0, alias="LAMBDAREC_EMBED_BACKOFF_MAX_S")
    request_timeout_s: float = Field(default=60.0, gt=0, alias="LAMBDAREC_EMBED_TIMEOUT_S")
    price_per_mtok: float | None = Field(default=None, ge=0, alias="LAMBDAREC_EMBED_PRICE_PER_MTOK")

    @field_validator("openai_api_key")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        return reject_placeholder_secret(value)

    def default_provider(self) -> Literal["openai", "local"]:
        return "openai" if self.openai_api_key is not None else "local"

    def price(self, model: str) -> float:
        if self.price_per_mtok is not None:
            return self.price_per_mtok
        return PRICE_PER_MTOK.get(model, 0.0)
