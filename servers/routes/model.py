"""``/v1/health``, ``/v1/model`` and ``/v1/usage``."""

from __future__ import annotations

from fastapi import APIRouter

from bbt_mp2.errors import UnknownNameError
from servers.deps import KeyDep, ServiceDep
from servers.schemas import ERROR_RESPONSES, HealthPublic, ModelPublic, Population, UsagePublic
from servers.wire import encode_array

router = APIRouter(tags=["model"], responses=ERROR_RESPONSES)


@router.get("/health", response_model=HealthPublic)
async def health(service: ServiceDep) -> dict:
    return {"status": "ok", "model": service.info.name, "queue_depth": service.batcher.depth}


@router.get("/model", response_model=ModelPublic)
async def model(service: ServiceDep) -> dict:
    """The backbone and the checkpoints served by id (K, d, n, layers, sha256)."""
    return service.info.to_dict()


@router.get("/usage", response_model=UsagePublic)
async def usage(key: KeyDep, service: ServiceDep) -> dict:
    rec = await service.io(service.storage.key, key.id)
    return {"tenant": rec.tenant, "key_prefix": rec.prefix, "budget": rec.budget, "used": rec.used,
            "remaining": max(rec.budget - rec.used, 0), "rate": rec.rate}


@router.get("/checkpoints/{checkpoint_id}/modules", response_model=Population)
async def checkpoint_modules(checkpoint_id: str, key: KeyDep, service: ServiceDep) -> dict:
    """Module vectors z of a served checkpoint: ``L' x K x d`` float32 (rows in the order of its layers)."""
    if checkpoint_id not in service.info.checkpoints:
        raise UnknownNameError(f"checkpoint {checkpoint_id!r} is not served here; served: "
                               f"{sorted(service.info.checkpoints)}")
    return encode_array(service.backend.checkpoint_modules(checkpoint_id))
