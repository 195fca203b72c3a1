"""An explained request (``GET /v1/recommendations/{user}?explain=true``, the why-not answers):
the response a normal request would get, plus what the pipeline recorded on the way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .pipeline import PipelineInput, PipelineResult, RecParams, Trace
from .pipeline.explain import trace_document
from .schemas import RecommendationResponse


@dataclass(frozen=True)
class Explained:
    response: RecommendationResponse
    trace: Trace  # with ``detail`` recorded
    input: PipelineInput | None  # None: no bundle was loaded
    result: PipelineResult | None

    def document(self) -> dict[str, Any]:
        """The response body: the normal answer plus ``trace`` (see pipeline.explain)."""
        params = self.input.params if self.input is not None else RecParams()
        bundle = self.input.bundle if self.input is not None else None
        page = None
        if self.result is not None:
            page = self.result.ranked.take(slice(params.offset, params.offset + params.k))
        body = self.response.model_dump()
        body.update(
            request_id=uuid.uuid4().hex, trace=trace_document(bundle, self.trace, page, params.offset)
        )
        return body
