"""Every hyper-parameter of a training run, in one place; the CLI flags are generated from it."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from lambdarec_contracts.features import RECENT_HISTORY_LEN
from lambdarec_contracts.ranker_features import RANKER_HEADS
from training.item_cf import DENSE_MAX_ITEMS


class TrainConfig(BaseModel):
    """Run parameters of one training run (``python -m training.train --help`` lists them as flags)."""

    ds: str = Field(description="data interval YYYY-MM-DD (reads training_sets/ds=<ds> and the marts)")
    holdout_frac: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="share of each user's history held out"
    )
    min_user_interactions: int = Field(default=5, ge=2, description="users with fewer are never held out")
    max_eval_users: int = Field(
        default=3000, ge=100, description="evaluation users replayed (a seeded sample)"
    )
    # two-tower retrieval
    epochs: int = Field(default=5, ge=1, description="retrieval epochs")
    batch_size: int = Field(default=2048, ge=8)
    dim: int = Field(default=64, ge=4, description="two-tower embedding dimension")
    history_len: int = Field(default=RECENT_HISTORY_LEN, ge=1)
    learning_rate: float = Field(default=0.005, gt=0.0)
    temperature: float | None = Field(default=0.2, description="softmax temperature (0 = none)")
    sampling_bias_correction: bool = Field(default=True, description="logQ correction of in-batch negatives")
    user_id_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    # item-to-item generators
    ease_lambda: float = Field(default=200.0, gt=0.0, description="EASE L2 regularisation")
    item_cf_keep: int = Field(default=200, ge=5, description="neighbours kept per item in the bundle")
    max_cf_items: int = Field(
        default=DENSE_MAX_ITEMS,
        ge=100,
        le=DENSE_MAX_ITEMS,
        description="most popular items in the dense CF matrices",
    )
    # ranker
    candidates_per_generator: int = Field(default=100, ge=10)
    ranker_epochs: int = Field(
        default=12, ge=1, description="most ranker epochs (more on small data, see min_ranker_steps)"
    )
    ranker_patience: int = Field(
        default=3,
        ge=1,
        description="stop after this many epochs without better validation Recall@10 + NDCG@10",
    )
    min_ranker_steps: int = Field(
        default=400, ge=1, description="at least this many ranker updates (small data)"
    )
    ranker_batch_size: int = Field(
        default=4096,
        ge=8,
        description="ranker batch (large: a step of the small MLP costs mostly its fixed per-step overhead)",
    )
    ranker_max_examples: int = Field(
        default=400_000,
        ge=1000,
        description="examples per ensemble member (a random sample of users above it)",
    )
    ranker_max_users: int = Field(
        default=12_000,
        ge=100,
        description="users whose served-like candidates become ranker examples (a seeded sample above it: "
        "memory grows with users x candidates)",
    )
    ranker_ensemble: int = Field(
        default=3, ge=1, le=8, description="rankers from different seeds, their heads averaged"
    )
    ranker_learning_rate: float = Field(default=0.01, gt=0.0)
    rating_loss_weight: float = Field(default=0.1, ge=0.0)
    value_weights: dict[str, float] | None = Field(
        default=None,
        description="fixed value-model weights, e.g. p_interaction=1,rating=0 (default: chosen offline)",
    )
    neighbours: int = Field(default=20, ge=1, description="'because you liked' neighbours per item")
    seed: int = 42
    out_dir: Path | None = Field(
        default=None, description="staging directory (default $LAMBDAREC_DATA_DIR/models/staging)"
    )

    @field_validator("ds")
    @classmethod
    def _iso_date(cls, v: str) -> str:
        return dt.date.fromisoformat(v).isoformat()

    @field_validator("temperature")
    @classmethod
    def _no_zero_temperature(cls, v: float | None) -> float | None:
        return v or None

    @field_validator("value_weights")
    @classmethod
    def _heads(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        unknown = set(v) - set(RANKER_HEADS)
        if unknown or not v:
            raise ValueError(f"value weights must name ranker heads {list(RANKER_HEADS)}, got {sorted(v)}")
        return v


def parse_value_weights(text: str) -> dict[str, float]:
    """``"p_interaction=1,rating=0.2"`` -> {"p_interaction": 1.0, "rating": 0.2}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad value weight {part!r}: expected head=number") from exc
    return out


def build_parser(description: str) -> argparse.ArgumentParser:
    """One flag per TrainConfig field, with the field's default and description."""
    p = argparse.ArgumentParser(prog="python -m training.train", description=description)
    for name, field in TrainConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kw: dict[str, Any] = {"help": field.description, "dest": name}
        if name == "ds":
            p.add_argument(flag, required=True, **kw)
        elif name == "sampling_bias_correction":
            p.add_argument("--no-bias-correction", action="store_false", default=True, **kw)
        elif name == "value_weights":
            p.add_argument(flag, type=parse_value_weights, default=None, **kw)
        elif name == "out_dir":
            p.add_argument(flag, type=Path, default=None, **kw)
        else:
            kind = float if name == "temperature" else type(field.default)
            p.add_argument(flag, type=kind, default=field.default, **kw)
    return p
