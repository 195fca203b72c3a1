"""GET /v1/items/{item_id}/similar"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from lambdarec_contracts.events import ID_PATTERN

from ..deps import KEY_RESPONSES, MetricsDep, ReadKeyDep, SimilarDep
from ..schemas import Problem, SimilarItemsResponse

router = APIRouter(prefix="/v1/items", tags=["items"], dependencies=[ReadKeyDep], responses=KEY_RESPONSES)


@router.get(
    "/{item_id}/similar",
    response_model=SimilarItemsResponse,
    responses={404: {"model": Problem, "description": "the item is not in the served catalogue"}},
)
def similar(
    service: SimilarDep,
    metrics: MetricsDep,
    item_id: Annotated[str, Path(pattern=ID_PATTERN)],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict:
    """Items similar to one catalogue item (no Redis needed: bundle neighbours and embeddings)."""
    bundle, items = service.similar(item_id, k)
    if bundle is None:
        metrics.degraded.labels(reason="no_bundle").inc()
        return {
            "item_id": item_id,
            "items": [],
            "model_version": None,
            "degraded": True,
            "request_id": uuid.uuid4().hex,
        }
    if not bundle.available(item_id):
        raise HTTPException(404, f"item {item_id!r} is not in the catalogue of bundle {bundle.version}")
    return {
        "item_id": item_id,
        "items": items,
        "model_version": bundle.version,
        "degraded": False,
        "request_id": uuid.uuid4().hex,
    }
