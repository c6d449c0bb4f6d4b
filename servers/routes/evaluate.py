"""``/v1/evaluate`` (a population, batched, P calls) and ``/v1/predict`` (one candidate, 1 call)."""

from __future__ import annotations

from fastapi import APIRouter

from servers.deps import KeyDep, ServiceDep
from servers.schemas import ERROR_RESPONSES, EvaluateRequest, EvaluateResponse, PredictRequest, PredictResponse

router = APIRouter(tags=["scoring"], responses=ERROR_RESPONSES)


@router.post("/evaluate", response_model=EvaluateResponse)
async def evaluate(body: EvaluateRequest, key: KeyDep, service: ServiceDep) -> dict:
    """Loss and metric of every candidate; counts P calls, committed before the answer (a retried request id is
    answered again without a charge)."""
    return await service.evaluate(key, body)


@router.post("/predict", response_model=PredictResponse)
async def predict(body: PredictRequest, key: KeyDep, service: ServiceDep) -> dict:
    """Predictions, per-option scores and the metric of one candidate; counts 1 call."""
    return await service.predict(key, body)
