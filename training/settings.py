"""Settings of the training entry points (environment variables, parsed once per process)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from lambdarec_contracts.settings import BaseLambdarecSettings


class TrainingSettings(BaseLambdarecSettings):
    """Locations plus publishing policy; run parameters (ds, epochs, ...) are CLI flags instead."""

    keep_bundles: int = Field(default=5, ge=1, alias="LAMBDAREC_KEEP_BUNDLES")
    # "redis": publishing also writes the bundle's item and text vectors into Redis's query engine
    # (one HNSW index per version, lambdarec_contracts.vector_index) before `current` flips.
    vector_backend: str = Field(
        default="memory", pattern="^(memory|redis)$", alias="LAMBDAREC_VECTOR_BACKEND"
    )

    @property
    def staging_dir(self) -> Path:
        """Candidate bundles built by training, before the quality gate."""
        return self.models_dir / "staging"
