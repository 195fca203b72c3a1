"""POST /v1/admin/reload"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from ..deps import KEY_RESPONSES, AdminKeyDep, RecommenderDep
from ..schemas import ReloadResult

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[AdminKeyDep], responses=KEY_RESPONSES)


@router.post("/reload", response_model=ReloadResult)
async def reload(recommender: RecommenderDep) -> ReloadResult:
    """Load the bundle ``models/current`` points to now (forced), then swap it in."""
    holder = recommender.holder
    swapped = await run_in_threadpool(holder.refresh, True)
    bundle = holder.current
    return ReloadResult(
        swapped=swapped, bundle_version=bundle.version if bundle else None, error=holder.last_error
    )
