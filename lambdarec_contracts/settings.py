"""Settings base shared by every entry point: environment variables are the interface.

Each entry point builds its own settings object once (``BaseLambdarecSettings()``
or a subclass) at start-up; nothing here runs at import time.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "xxx", "todo"}
# The placeholder of docker/.env.example: a copied-but-unedited .env must not start a service.
_PLACEHOLDER_SECRETS |= {"replace_me", "replace-me"}


class BaseLambdarecSettings(BaseSettings):
    """Locations and endpoints every component agrees on."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    data_dir: Path = Field(default=REPO_ROOT / "var" / "data", alias="LAMBDAREC_DATA_DIR")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", alias="REDIS_URL")

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def marts_dir(self) -> Path:
        return self.data_dir / "marts"

    @property
    def tombstones_dir(self) -> Path:
        """Forgotten users (``DELETE /v1/users/{id}``): one CSV per deletion, TOMBSTONE_COLUMNS."""
        return self.landing_dir / "tombstones"

    @property
    def features_dir(self) -> Path:
        return self.data_dir / "features"

    @property
    def embeddings_dir(self) -> Path:
        return self.data_dir / "embeddings"

    @property
    def events_dir(self) -> Path:
        return self.data_dir / "events" / "landed"

    @property
    def impressions_dir(self) -> Path:
        """Impressions landed by the speed layer (kept apart: dbt globs events/landed/**)."""
        return self.data_dir / "events" / "impressions"

    @property
    def training_sets_dir(self) -> Path:
        return self.data_dir / "training_sets"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def bundles_dir(self) -> Path:
        return self.models_dir / "bundles"

    @property
    def current_bundle_link(self) -> Path:
        """Symlink to the published bundle; flipped atomically by publishing."""
        return self.models_dir / "current"


def reject_placeholder_secret(value: SecretStr | None) -> SecretStr | None:
    """Refuse obvious placeholder secrets (use in a field_validator)."""
    if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
        raise ValueError("a placeholder value is not a secret; set a real one in the environment")
    return value


__all__ = ["BaseLambdarecSettings", "REPO_ROOT", "reject_placeholder_secret", "field_validator"]


def iso_date_arg(value: str) -> date:
    """A ``YYYY-MM-DD`` CLI value (``--ds``, ``--start``): argparse reports a bad one as a usage error."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from exc
