"""Turns lambdarec's environment into the values ``feature_store.yaml`` substitutes.

``feature_store.yaml`` uses ``${FEAST_REGISTRY_URL}`` and ``${FEAST_REDIS_CONNECTION}``.
They are derived here from the project-wide settings (``LAMBDAREC_DATA_DIR``,
``REDIS_URL``) unless set explicitly, so one environment drives every component.
"""

from __future__ import annotations

import os
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import yaml
from pydantic import Field

from lambdarec_contracts.settings import BaseLambdarecSettings

if TYPE_CHECKING:
    from feast import FeatureStore

REPO_DIR = Path(__file__).resolve().parent
FEATURE_STORE_YAML = REPO_DIR / "feature_store.yaml"


class FeastSettings(BaseLambdarecSettings):
    """Where Feast keeps its registry and online store."""

    # SQLAlchemy URL of the SQL registry; SQLite under the data dir when unset.
    registry_url: str | None = Field(default=None, alias="FEAST_REGISTRY_URL")
    # Feast's own redis connection string (host:port,db=N,...); derived from REDIS_URL when unset.
    redis_connection: str | None = Field(default=None, alias="FEAST_REDIS_CONNECTION")

    @property
    def feast_dir(self) -> Path:
        return self.data_dir / "feast"

    @property
    def sqlite_registry_path(self) -> Path:
        return self.feast_dir / "registry.db"

    def resolved_registry_url(self) -> str:
        return self.registry_url or f"sqlite:///{self.sqlite_registry_path}"

    def resolved_redis_connection(self) -> str:
        return self.redis_connection or redis_url_to_feast(self.redis_url)

    def feast_env(self) -> dict[str, str]:
        """The variables ``feature_store.yaml`` expects, ready to merge into an environment."""
        return {
            "LAMBDAREC_DATA_DIR": str(self.data_dir),
            "FEAST_REGISTRY_URL": self.resolved_registry_url(),
            "FEAST_REDIS_CONNECTION": self.resolved_redis_connection(),
        }

    def prepare(self) -> None:
        """Create the local registry directory (SQLite needs it to exist)."""
        if self.registry_url is None:
            self.feast_dir.mkdir(parents=True, exist_ok=True)


def redis_url_to_feast(url: str) -> str:
    """``redis://[:password@]host:port/db`` -> Feast's ``host:port,db=N[,password=...][,ssl=true]``."""
    parsed = urlparse(url)
    if parsed.scheme not in {"redis", "rediss"}:
        raise ValueError(f"REDIS_URL must start with redis:// or rediss://, got {url!r}")
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 6379
    db = (parsed.path or "/0").lstrip("/") or "0"
    parts = [f"{host}:{port}", f"db={int(db)}"]
    if parsed.username and parsed.username != "default":
        parts.append(f"username={unquote(parsed.username)}")
    if parsed.password:
        parts.append(f"password={unquote(parsed.password)}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def render_config(settings: FeastSettings) -> dict:
    """``feature_store.yaml`` with its ``${VAR}`` placeholders filled in (like Feast's expandvars)."""
    mapping = {**os.environ, **settings.feast_env()}
    text = Template(FEATURE_STORE_YAML.read_text()).safe_substitute(mapping)
    return yaml.safe_load(text)


def open_store(settings: FeastSettings) -> FeatureStore:
    """A FeatureStore on this repo configured from ``settings`` (no process-wide env changes)."""
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    settings.prepare()
    config = RepoConfig(**render_config(settings))
    config.repo_path = REPO_DIR
    return FeatureStore(config=config)
