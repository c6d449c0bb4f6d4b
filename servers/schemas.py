"""Request and response bodies of the ``/v1`` API (pydantic, ``extra="forbid"``), apart from any logic."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bbt_mp2.backend import HEAD_KINDS, LOSSES, PROJECTION_KINDS, PROMPT_MODES, SCORINGS

__all__ = [
    "ErrorInfo", "ErrorBody", "Population", "ProjectionModel", "PromptParamModel", "EvaluateRequest",
    "EvaluateResponse", "PredictRequest", "PredictResponse", "DatasetCreate", "DatasetPublic", "DatasetList",
    "ModelPublic", "UsagePublic", "HealthPublic", "ERROR_RESPONSES",
]

_ID = r"^[A-Za-z0-9_.:\-]{1,128}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorInfo(_Strict):
    code: str = Field(description="machine-readable error class, e.g. shape_error, budget_exceeded")
    message: str = Field(description="what was wrong, what was expected, and the fix")


class ErrorBody(_Strict):
    """Every error the API returns: ``{"error": {"code", "message"}}``."""

    error: ErrorInfo


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in ((401, "missing or unknown API key"), (404, "unknown dataset or checkpoint"),
                       (409, "a checkpoint the model cannot take"), (413, "body, population or dataset too large"),
                       (422, "malformed request (shapes, NaN/inf, JSON)"),
                       (429, "budget exhausted or rate limit (Retry-After)"), (503, "queue full (Retry-After)"))
}


class Population(_Strict):
    """A ``P x L' x d`` (or raw ``P x L' x n x h``) float32 array: little-endian bytes, base64."""

    shape: list[int] = Field(min_length=1, max_length=4)
    data: str = Field(description="base64 of prod(shape) little-endian float32 values")


class ProjectionModel(_Strict):
    kind: Literal[PROJECTION_KINDS] = "normal"  # type: ignore[valid-type]
    seed: int = Field(0, ge=0, le=2**63 - 1)
    alpha: float = Field(1.0, gt=0, allow_inf_nan=False)
    sigma: float = Field(1.0, gt=0, allow_inf_nan=False)
    stats_dataset: str | None = Field(None, pattern=_ID)
    checkpoint: str | None = Field(None, min_length=1, max_length=512)


class PromptParamModel(_Strict):
    """:class:`bbt_mp2.backend.PromptParam` on the wire (checkpoint ids, never paths)."""

    layers: list[int] = Field(min_length=1, max_length=128)
    d: int = Field(500, ge=1, le=1_000_000)
    n_tokens: int = Field(50, ge=1, le=4096)
    projection: ProjectionModel | None = Field(default_factory=ProjectionModel)
    head: str | None = Field(None, min_length=1, max_length=512)
    prompt_mode: Literal[PROMPT_MODES] = "add"  # type: ignore[valid-type]
    scoring: Literal[SCORINGS] = "sum"  # type: ignore[valid-type]


class EvaluateRequest(_Strict):
    dataset_id: str = Field(pattern=_ID)
    param: PromptParamModel
    population: Population
    loss: Literal[LOSSES] = "auto"  # type: ignore[valid-type]
    request_id: str | None = Field(None, pattern=_ID, description="idempotency key: a retry is charged once")


class EvaluateResponse(_Strict):
    loss: list[float]
    metric: list[float]
    calls: int = Field(description="calls this request counted (0 for a replayed request id)")
    request_id: str


class PredictRequest(_Strict):
    dataset_id: str = Field(pattern=_ID)
    param: PromptParamModel
    candidate: Population
    loss: Literal[LOSSES] = "auto"  # type: ignore[valid-type]
    request_id: str | None = Field(None, pattern=_ID)


class PredictResponse(_Strict):
    metric: float | None
    loss: float | None
    predicted: list[int]
    labels: list[int]
    scores: Population
    texts: list[str]
    calls: int
    request_id: str


class DatasetCreate(_Strict):
    """A built-in task split (``task``, ``split``, ``seed``, ``shots``) or raw ``examples`` with a ``task_spec``."""

    task: str | None = Field(None, min_length=1, max_length=128, description="built-in task name")
    split: Literal["train", "dev", "test"] = "train"
    seed: int = Field(13, ge=0, le=2**31 - 1)
    shots: int | None = Field(None, ge=1, le=100_000,
                              description="k of the few-shot protocol (per class); None = the task's k_shot")
    task_spec: dict[str, Any] | None = Field(None, description="bbt_mp2 task spec (servers.wire.task_to_dict)")
    examples: list[dict[str, Any]] | None = Field(None, min_length=1)
    n_tokens: int = Field(50, ge=1, le=4096)
    max_length: int | None = Field(None, ge=8, le=100_000,
                                   description="None = the default for the task type, capped by the backbone")
    head: Literal[HEAD_KINDS] = Field(  # type: ignore[valid-type]
        "mrc", description="mrc = MRC format (span head); mlm = cloze format scored by the backbone's MLM head")


class DatasetPublic(_Strict):
    id: str
    task: str
    n_examples: int
    n_tokens: int
    max_length: int
    length: int = Field(description="T, the encoded (padded) length")
    n_options: int
    n_truncated: int


class DatasetList(_Strict):
    datasets: list[DatasetPublic]


class ModelPublic(_Strict):
    """:class:`bbt_mp2.backend.ModelInfo` on the wire (a test keeps the two field lists equal)."""

    name: str
    n_layers: int
    hidden: int
    embedding_hash: str
    token_type_id: int
    dtype: str
    checkpoints: dict[str, dict[str, Any]]
    default_checkpoint: str | None
    max_positions: int | None
    revision: str | None


class UsagePublic(_Strict):
    tenant: str
    key_prefix: str
    budget: int
    used: int
    remaining: int
    rate: float


class HealthPublic(_Strict):
    status: Literal["ok"]
    model: str
    queue_depth: int
