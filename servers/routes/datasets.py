"""``/v1/datasets``: register (built-in task split or raw examples), list, show, delete; per tenant."""

from __future__ import annotations

from fastapi import APIRouter, Response

from bbt_mp2.errors import UnknownNameError
from servers.deps import KeyDep, ServiceDep
from servers.schemas import ERROR_RESPONSES, DatasetCreate, DatasetList, DatasetPublic

router = APIRouter(tags=["datasets"], responses=ERROR_RESPONSES)


@router.post("/datasets", response_model=DatasetPublic, status_code=201)
async def create_dataset(body: DatasetCreate, key: KeyDep, service: ServiceDep) -> dict:
    """Format and tokenise a dataset; identical content gets the same id."""
    return await service.create_dataset(key, body)


@router.get("/datasets", response_model=DatasetList)
async def list_datasets(key: KeyDep, service: ServiceDep) -> dict:
    return {"datasets": await service.io(service.storage.list_datasets, key.tenant)}


@router.get("/datasets/{dataset_id}", response_model=DatasetPublic)
async def get_dataset(dataset_id: str, key: KeyDep, service: ServiceDep) -> dict:
    return await service.dataset(key, dataset_id)


@router.delete("/datasets/{dataset_id}", status_code=204)
async def delete_dataset(dataset_id: str, key: KeyDep, service: ServiceDep) -> Response:
    if not await service.io(service.storage.delete_dataset, key.tenant, dataset_id):
        raise UnknownNameError(f"dataset {dataset_id!r} not found")
    return Response(status_code=204)
