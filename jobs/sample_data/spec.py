"""What to generate: presets and the validated spec of one run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, model_validator

Corruption = Literal["duplicate-ids", "null-keys", "bad-ratings"]

# (users, items, rating rows) per preset; tiny feeds the tests, small the demo.
PRESETS: dict[str, tuple[int, int, int]] = {
    "tiny": (150, 200, 5_000),
    "small": (1_500, 1_200, 100_000),
    "1m": (6_040, 3_700, 1_000_000),
    "10m": (70_000, 10_700, 10_000_000),
    "25m": (162_000, 62_000, 25_000_000),
}


class SampleSpec(BaseModel):
    """One generation run; equal specs produce byte-identical files."""

    users: int = Field(ge=10)
    items: int = Field(ge=20)
    interactions: int = Field(ge=100)  # distinct rating rows, before the deliberate duplicates
    seed: int = 42
    start: datetime = datetime(2024, 7, 1, tzinfo=UTC)
    days: int = Field(default=182, ge=28)
    corrupt: Corruption | None = None
    preset: str | None = None

    @model_validator(mode="after")
    def _fits(self) -> SampleSpec:
        # Each user rates an item at most once; keep well below the full matrix.
        if self.interactions > 0.5 * self.users * self.items:
            raise ValueError(
                f"{self.interactions} interactions do not fit {self.users} users x {self.items} items "
                "(at most half the user-item matrix)"
            )
        return self

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def start_ts(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_ts(self) -> int:
        return int(self.end.timestamp())


def spec_for(
    preset: str,
    seed: int = 42,
    users: int | None = None,
    items: int | None = None,
    interactions: int | None = None,
    corrupt: Corruption | None = None,
    start: datetime | None = None,
    days: int | None = None,
) -> SampleSpec:
    """A preset with optional explicit overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    n_users, n_items, n_inter = PRESETS[preset]
    extra: dict = {}
    if start is not None:
        extra["start"] = start
    if days is not None:
        extra["days"] = days
    return SampleSpec(
        users=users or n_users,
        items=items or n_items,
        interactions=interactions or n_inter,
        seed=seed,
        corrupt=corrupt,
        preset=preset,
        **extra,
    )
