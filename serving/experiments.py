"""A/B experiments from a YAML/JSON file; deterministic assignment by sha256(experiment:user)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, Field, model_validator

log = logging.getLogger(__name__)

DEFAULT_VARIANT = "default"


class Variant(BaseModel):
    """One arm; unset fields fall back to the bundle/settings defaults."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,40}$")
    weight: float = Field(gt=0)
    value_model_weights: dict[str, float] | None = None
    generators: list[str] | None = None
    diversity_max_per_genre: int | None = Field(default=None, ge=1)
    diversity_window: int | None = Field(default=None, ge=0)
    exploration_share: float | None = Field(default=None, ge=0, le=0.5)
    bundle: str | None = None  # a bundle version under bundles/ instead of models/current


class Experiment(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,40}$")
    enabled: bool = True
    traffic: float = Field(default=1.0, ge=0.0, le=1.0)  # share of users in the experiment
    variants: list[Variant] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_variants(self) -> Experiment:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name}: duplicate variant names")
        return self


class ExperimentsConfig(BaseModel):
    experiments: list[Experiment] = Field(default_factory=list)


class Assignment(BaseModel):
    experiment: str | None = None
    variant: Variant = Variant(name=DEFAULT_VARIANT, weight=1.0)


_DEFAULT = Assignment()


def unit_hash(user_id: str, experiment: str) -> float:
    """Uniform in [0, 1) from sha256 (stable across processes, unlike hash())."""
    digest = hashlib.sha256(f"{experiment}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(config: ExperimentsConfig, user_id: str) -> Assignment:
    """The first enabled experiment whose traffic share includes the user decides the variant."""
    for exp in config.experiments:
        if not exp.enabled:
            continue
        u = unit_hash(user_id, exp.name)
        if u >= exp.traffic:
            continue
        point = u / exp.traffic * sum(v.weight for v in exp.variants)
        acc = 0.0
        for v in exp.variants:
            acc += v.weight
            if point < acc:
                return Assignment(experiment=exp.name, variant=v)
        return Assignment(experiment=exp.name, variant=exp.variants[-1])
    return _DEFAULT  # shared: Assignment() deep-copies its default Variant on every call


def load_experiments(path: Path) -> ExperimentsConfig:
    """Read the experiments file; a missing or invalid file means no experiments (logged)."""
    if not path.exists():
        return ExperimentsConfig()
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return ExperimentsConfig.model_validate(raw or {})
    except (OSError, ValueError, yaml.YAMLError) as e:
        log.error("ignoring experiments file %s: %s", path, e)
        return ExperimentsConfig()
