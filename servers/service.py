"""What the routes do: validation before any forward pass, batching, charging. No HTTP types here."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np

from bbt_mp2.backend import EvalResult, PromptParam
from bbt_mp2.errors import CheckpointError, ConfigError, DataError, ShapeError, UnknownNameError
from bbt_mp2.evaluator.validation import ValidatedPopulation
from bbt_mp2.local_backend import LocalBackend
from servers.batcher import DynamicBatcher
from servers.datasets import DatasetStore
from servers.errors import ServiceError
from servers.metrics import ServiceMetrics
from servers.schemas import DatasetCreate, EvaluateRequest, PredictRequest, PromptParamModel
from servers.settings import ServerSettings
from servers.storage import KeyRecord, Storage
from servers.wire import decode_array, encode_array, example_from_dict, task_from_dict

__all__ = ["ModelService"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class _Checked:
    population: ValidatedPopulation  # P x L' x d (or raw P x L' x n x h), float32, checked here (the boundary)
    meta: dict[str, Any]


class ModelService:
    """The model behind the API: one backend, one model thread, the batcher, storage and dataset store."""

    def __init__(self, settings: ServerSettings, backend: LocalBackend, storage: Storage) -> None:
        self.settings, self.backend, self.storage = settings, backend, storage
        self.metrics = ServiceMetrics()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bbt-model")
        self.datasets = DatasetStore(backend, storage, settings.state_dir / "datasets")
        self.batcher = DynamicBatcher(self._run_batch, self.executor, token_budget=settings.token_budget,
                                      max_queue=settings.queue_size, wait_s=settings.batch_wait_ms / 1000,
                                      on_batch=self.metrics.on_batch)
        self.info = backend.info()

    async def model(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the model thread (never on the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a storage call off the event loop."""
        return await asyncio.to_thread(fn, *args)

    # ------------------------------------------------------------------ datasets
    async def create_dataset(self, key: KeyRecord, body: DatasetCreate) -> dict[str, Any]:
        s = self.settings
        limit = min(s.max_length_limit, int(getattr(self.backend.backbone, "max_positions", s.max_length_limit)))
        if body.max_length is not None and body.max_length > limit:
            raise ConfigError(f"max_length={body.max_length} exceeds this server's limit {limit} (backbone positions)")
        if body.n_tokens + 8 > (body.max_length or limit):
            raise ConfigError(f"n_tokens={body.n_tokens} leaves no room for text in max_length="
                              f"{body.max_length or limit}")
        if (body.task is None) == (body.task_spec is None):
            raise ConfigError("give either task (a built-in task name, with split and seed) or task_spec + examples")
        if body.task is not None:
            if body.examples is not None:
                raise ConfigError("examples go with task_spec; a built-in task takes split, seed and shots")
            from bbt_mp2 import tasks

            spec = tasks.get_task(body.task)
            split = await self.model(functools.partial(tasks.fewshot, spec.name, body.seed, k=body.shots))
            examples = list(getattr(split, body.split))
        else:
            if not body.examples:
                raise ConfigError("task_spec needs a non-empty examples list")
            if body.shots is not None:
                raise ConfigError("shots applies to a built-in task; send the examples you want with task_spec")
            try:
                spec = task_from_dict(body.task_spec or {})
                examples = [example_from_dict(e) for e in body.examples]
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"malformed task spec or example: {type(exc).__name__}: {exc}") from None
        if len(examples) > s.max_examples:
            raise ServiceError(413, "too_large", f"{len(examples)} examples; the server takes at most "
                               f"{s.max_examples} per dataset")
        return await self.model(self._register, key.tenant, spec, examples, body.n_tokens, body.max_length, body.head)

    def _register(self, tenant: str, spec: Any, examples: list, n_tokens: int,
                  max_length: int | None, head: str = "mrc") -> dict[str, Any]:
        try:
            return self.datasets.register(tenant, spec, examples, n_tokens=n_tokens, max_length=max_length,
                                          head=head)
        except (ConfigError, DataError, ShapeError, UnknownNameError):
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise DataError(f"the examples do not fit task {spec.name!r} ({spec.type.value}): "
                            f"{type(exc).__name__}: {exc}") from None

    async def dataset(self, key: KeyRecord, dataset_id: str) -> dict[str, Any]:
        meta = await self.io(self.storage.dataset_meta, key.tenant, dataset_id)
        if meta is None:
            raise UnknownNameError(f"dataset {dataset_id!r} not found; register it with POST /v1/datasets")
        return meta

    async def _loaded(self, key: KeyRecord, dataset_id: str) -> dict[str, Any]:
        meta = await self.dataset(key, dataset_id)
        if not self.backend.has_dataset(dataset_id):
            await self.model(self.datasets.ensure_loaded, key.tenant, dataset_id)
        return meta

    # ------------------------------------------------------------------ validation
    def _param(self, model: PromptParamModel) -> PromptParam:
        data = model.model_dump()
        try:
            return PromptParam.from_dict(data)
        except TypeError as exc:
            raise ConfigError(f"malformed param: {exc}") from None

    async def _check(self, key: KeyRecord, dataset_id: str, pmodel: PromptParamModel, shape: list[int], data: str,
                     *, single: bool) -> _Checked:
        s, info = self.settings, self.info
        param = self._param(pmodel)
        meta = await self._loaded(key, dataset_id)
        if param.n_tokens != meta["n_tokens"]:
            raise ShapeError(f"param.n_tokens={param.n_tokens} but dataset {dataset_id} was registered with "
                             f"n_tokens={meta['n_tokens']}")
        if max(param.layers) >= info.n_layers:
            raise ConfigError(f"layers {list(param.layers)} out of range for {info.name} (0..{info.n_layers - 1})")
        for cid in {param.head, param.projection.checkpoint if param.projection else None} - {None}:
            if cid not in info.checkpoints:
                raise UnknownNameError(f"checkpoint {cid!r} is not served here; served: {sorted(info.checkpoints)}")
        if param.head is None and info.default_checkpoint is None:
            logger.debug("scoring with the untrained default head")
        spec = param.projection
        if spec is not None and spec.kind == "learned":
            c = info.checkpoints[str(spec.checkpoint)]
            if (c["d"], c["n_tokens"]) != (param.d, param.n_tokens) or not set(param.layers) <= set(c["layers"]):
                raise CheckpointError(f"checkpoint {spec.checkpoint!r} has d={c['d']}, n_tokens={c['n_tokens']}, "
                                      f"layers {c['layers']}; the request asks for d={param.d}, n_tokens="
                                      f"{param.n_tokens}, layers {list(param.layers)}")
        if spec is not None and spec.stats_dataset and spec.kind == "normal" and max(param.layers) > 0:
            await self._loaded(key, spec.stats_dataset)
        lp = len(param.layers)
        tail = [lp, param.d] if spec is not None else [lp, param.n_tokens, info.hidden]
        want = tail if single else ["P", *tail]
        got = list(shape)
        if not single and got and got[0] > s.max_population:
            raise ServiceError(413, "too_large", f"population of {got[0]} candidates; the server takes at most "
                               f"{s.max_population} per request")
        if (got[1:] if not single else got) != tail or (not single and len(got) != len(tail) + 1):
            raise ShapeError(f"population shape {got}; expected {want} for this param")
        per = int(np.prod(tail))
        pop = decode_array(got, data, max_values=per * (1 if single else s.max_population))
        # every check of the population happens above, once: the backend takes it on trust
        return _Checked(ValidatedPopulation(dataset_id, param, pop if not single else pop[None]), meta)

    # ------------------------------------------------------------------ scoring
    def _run_batch(self, group: tuple[str, PromptParam, str], population: np.ndarray) -> EvalResult:
        """Score merged populations (each validated by :meth:`_check`, same dataset, param and loss)."""
        dataset_id, param, loss = group
        return self.backend.evaluate_validated(ValidatedPopulation(dataset_id, param, population), loss=loss)

    async def evaluate(self, key: KeyRecord, body: EvaluateRequest) -> dict[str, Any]:
        rid = body.request_id or uuid.uuid4().hex
        stored = await self.io(self.storage.answered, key.id, rid)
        if stored is not None:
            return dict(stored, calls=0)
        checked = await self._check(key, body.dataset_id, body.param, body.population.shape, body.population.data,
                                    single=False)
        pop = checked.population
        n = len(pop.values)
        await self.io(self.storage.check_budget, key.id, n)
        tokens = n * checked.meta["n_examples"] * checked.meta.get("length", checked.meta["max_length"])
        self.metrics.queue_depth.set(self.batcher.depth + 1)
        result = await self.batcher.submit(key.tenant, (pop.dataset_id, pop.param, body.loss), pop.values, tokens)
        self.metrics.queue_depth.set(self.batcher.depth)
        response = {"loss": [float(x) for x in result.loss], "metric": [float(x) for x in result.metric],
                    "calls": n, "request_id": rid}
        answer = await self.io(self.storage.charge, key.id, rid, n, response)
        self.metrics.calls.labels("evaluate").inc(answer["calls"] if answer is response else 0)
        return answer if answer is response else dict(answer, calls=0)

    async def predict(self, key: KeyRecord, body: PredictRequest) -> dict[str, Any]:
        rid = body.request_id or uuid.uuid4().hex
        stored = await self.io(self.storage.answered, key.id, rid)
        if stored is not None:
            return dict(stored, calls=0)
        checked = await self._check(key, body.dataset_id, body.param, body.candidate.shape, body.candidate.data,
                                    single=True)
        await self.io(self.storage.check_budget, key.id, 1)
        pred = await self.model(partial(self.backend.predict_validated, loss=body.loss), checked.population)
        response = {"metric": _num(pred.metric), "loss": _num(pred.loss),
                    "predicted": [int(x) for x in pred.predicted], "labels": [int(x) for x in pred.labels],
                    "scores": encode_array(np.nan_to_num(np.asarray(pred.scores, dtype=np.float32),
                                                         neginf=np.finfo(np.float32).min)),
                    "texts": list(pred.texts), "calls": 1, "request_id": rid}
        answer = await self.io(self.storage.charge, key.id, rid, 1, response)
        self.metrics.calls.labels("predict").inc(1 if answer is response else 0)
        return answer if answer is response else dict(answer, calls=0)


def _num(value: float) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None
