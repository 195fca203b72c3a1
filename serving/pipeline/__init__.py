"""The pure part of a recommendation request (see run.py), importable without Redis or FastAPI.

Only numpy, onnxruntime, pydantic and ``lambdarec_contracts`` at module level: the training
environment imports this package to replay serving offline.
"""

from .candidates import Candidates, Proposal, Reason, merge
from .context import PipelineConfig, PipelineInput, RecParams, TrendingWindow, UserState, trending_window
from .generators import COLD_START_GENERATORS, GENERATORS, GeneratorContext
from .item_features import ItemFeatures
from .run import PipelineResult, run_pipeline
from .trace import Trace

__all__ = [
    "COLD_START_GENERATORS",
    "GENERATORS",
    "Candidates",
    "GeneratorContext",
    "ItemFeatures",
    "PipelineConfig",
    "PipelineInput",
    "PipelineResult",
    "Proposal",
    "Reason",
    "RecParams",
    "Trace",
    "TrendingWindow",
    "UserState",
    "merge",
    "run_pipeline",
    "trending_window",
]
