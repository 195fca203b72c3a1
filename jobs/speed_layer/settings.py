"""Environment of the speed-layer entry points (run parameters are CLI flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from lambdarec_contracts.settings import REPO_ROOT, BaseLambdarecSettings

# Steps of one batch at which a test can make the worker SIGKILL itself.
CrashPoint = Literal["after_read", "after_apply", "after_push", "after_land"]


class SpeedLayerSettings(BaseLambdarecSettings):
    """Locations plus the test-only crash hook."""

    feature_repo_dir: Path = Field(default=REPO_ROOT / "feature_repo", alias="LAMBDAREC_FEATURE_REPO")
    # Test-only: SIGKILL the worker at this step of batch number ``crash_on_batch`` (1-based),
    # to prove that a crash between side effects and XACK loses and double-counts nothing.
    crash_at: CrashPoint | None = Field(default=None, alias="LAMBDAREC_SPEED_CRASH_AT")
    crash_on_batch: int = Field(default=1, ge=1, alias="LAMBDAREC_SPEED_CRASH_BATCH")
