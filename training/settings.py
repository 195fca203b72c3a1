"""Settings of the training entry points (environment variables, parsed once per process)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from lambdarec_contracts.settings import BaseLambdarecSettings


class TrainingSettings(BaseLambdarecSettings):
    """Locations plus publishing policy; run parameters (ds, epochs, ...) are CLI flags instead."""

    keep_bundles: int = Field(default=5, ge=1, alias="LAMBDAREC_KEEP_BUNDLES")

    @property
    def staging_dir(self) -> Path:
        """Candidate bundles built by training, before the quality gate."""
        return self.models_dir / "staging"
