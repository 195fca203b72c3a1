"""Environment of the speed-layer entry points (run parameters are CLI flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field

from lambdarec_contracts.settings import REPO_ROOT
from lambdarec_contracts.user_state import UserStateLimits

# Steps of one batch at which a test can make the worker SIGKILL itself.
CrashPoint = Literal["after_read", "after_apply", "after_push", "after_land"]


def redact_url(url: str) -> str:
    """A connection URL fit for logs and error messages: the password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query, parts.fragment))


class SpeedLayerSettings(UserStateLimits):
    """Locations, the per-user state bounds (shared with serving) and the test-only crash hook."""

    feature_repo_dir: Path = Field(default=REPO_ROOT / "feature_repo", alias="LAMBDAREC_FEATURE_REPO")
    # Test-only: SIGKILL the worker at this step of batch number ``crash_on_batch`` (1-based),
    # to prove that a crash between side effects and XACK loses and double-counts nothing.
    crash_at: CrashPoint | None = Field(default=None, alias="LAMBDAREC_SPEED_CRASH_AT")
    crash_on_batch: int = Field(default=1, ge=1, alias="LAMBDAREC_SPEED_CRASH_BATCH")
