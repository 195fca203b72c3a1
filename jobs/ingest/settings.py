"""Settings of the ingestion job (environment variables, parsed once by the CLI)."""

from __future__ import annotations

from pydantic import Field

from lambdarec_contracts.settings import BaseLambdarecSettings


class IngestSettings(BaseLambdarecSettings):
    """Where landing goes (``landing_dir``) and how strict ingestion is."""

    # Share of a file's rows that may be malformed before the run fails: a few broken
    # lines in a 25M-row dump are noise, a broken export is not.
    max_malformed_share: float = Field(
        default=0.01, ge=0.0, le=1.0, alias="LAMBDAREC_INGEST_MAX_MALFORMED_SHARE"
    )
    # Bytes of a ratings file parsed at once; bounds memory (~40 bytes of RAM per byte read)
    # and sets the size of one landing/interactions/part-*.parquet.
    chunk_bytes: int = Field(default=32 * 1024 * 1024, ge=1, alias="LAMBDAREC_INGEST_CHUNK_BYTES")
    # ml-25m has items with hundreds of distinct tags; keep the most frequent ones.
    max_tags_per_item: int = Field(default=50, ge=1, alias="LAMBDAREC_INGEST_MAX_TAGS_PER_ITEM")
