"""The in-process :class:`~bbt_mp2.backend.Backend`: datasets, projections and the evaluator in one object.

``LocalBackend.evaluate(dataset_id, param, population)`` turns each candidate's intrinsic vectors (``P x L' x d``)
into layer prompts ``(z @ A_l).reshape(n, h)`` with the projection of ``param.projection`` (random ``normal`` /
``uniform`` drawn from a seed, or ``learned`` from an MP2 checkpoint), then scores the whole population in one
:meth:`bbt_mp2.evaluator.Evaluator.evaluate` call. With ``param.projection is None`` the population holds raw
prompts, ``P x L' x n x h``. The ``normal`` projection of layers > 0 is scaled by the clipped hidden-state std of
``projection.stats_dataset`` (or the evaluated dataset), computed once with zero prompts and cached.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bbt_mp2.backbones.base import Backbone
from bbt_mp2.backend import EvalResult, ModelInfo, Prediction, PromptParam
from bbt_mp2.checkpoint import MP2Checkpoint, load_checkpoint
from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import ConfigError, ShapeError, UnknownNameError
from bbt_mp2.evaluator import Evaluator, dataset_fingerprint
from bbt_mp2.prompts import build_projection, embedding_std, hidden_state_std
from bbt_mp2.tasks.types import Example, TaskSpec

__all__ = ["LocalBackend"]

logger = logging.getLogger(__name__)


class LocalBackend:
    """A frozen backbone + MRC head served in-process; implements :class:`bbt_mp2.backend.Backend`.

    Args:
        backbone: the frozen backbone.
        head: the MRC head (e.g. ``MRCHead.from_checkpoint``).
        checkpoint: the MP2 checkpoint whose ``A`` serves ``learned`` projections that name no other path.
        **evaluator_options: passed to :class:`~bbt_mp2.evaluator.Evaluator` (``device``, ``dtype``,
            ``token_budget``, ``cache_size``, ``cache_bytes``, ``max_answer_tokens``, ``shared_prefix``).

    Attributes:
        n_calls: candidates scored by :meth:`evaluate` so far (P per call); ``n_predict_calls`` counts predict.
    """

    def __init__(
        self, backbone: Backbone, head: nn.Module, *, checkpoint: MP2Checkpoint | None = None,
        **evaluator_options: Any,
    ) -> None:
        self.evaluator = Evaluator(backbone, head, **evaluator_options)
        self.backbone = self.evaluator.backbone
        self.checkpoint = checkpoint
        self.n_calls = 0
        self.n_predict_calls = 0
        self._datasets: dict[str, tuple[TaskSpec | None, EncodedDataset]] = {}
        self._stds: dict[str, list[float]] = {}
        self._checkpoints: dict[str, MP2Checkpoint] = {}
        self._projections: dict[tuple[Any, ...], Tensor] = {}
        self._info: ModelInfo | None = None

    @classmethod
    def from_checkpoint(
        cls, backbone: Backbone, path: str | os.PathLike[str], **evaluator_options: Any
    ) -> LocalBackend:
        """A backend with the checkpoint's MRC head and learned projections.

        Raises:
            CheckpointError: the checkpoint is malformed or was trained on another backbone / other shapes.
        """
        from bbt_mp2.heads import MRCHead

        ckpt = load_checkpoint(path)
        ckpt.check_compatible(backbone_hash=backbone.embedding_hash(), hidden=backbone.hidden,
                              n_layers=backbone.n_layers)
        backend = cls(backbone, MRCHead.from_checkpoint(ckpt), checkpoint=ckpt, **evaluator_options)
        backend._checkpoints[_path_key(path)] = ckpt
        return backend

    # ------------------------------------------------------------------ Backend protocol
    def info(self) -> ModelInfo:
        """Backbone name, L, h, embedding hash and token type id."""
        if self._info is None:
            bb = self.backbone
            self._info = ModelInfo(name=bb.name, n_layers=bb.n_layers, hidden=bb.hidden,
                                   embedding_hash=bb.embedding_hash(), token_type_id=bb.token_type_id)
        return self._info

    def register(
        self, task: TaskSpec, examples: Sequence[Example], *, n_tokens: int, max_length: int = 128
    ) -> str:
        """Encode ``examples`` with the backbone's tokenizer and store them; returns the content-hash id."""
        from bbt_mp2.encoding import encode

        bb = self.backbone
        data = encode(task, examples, bb.tokenizer, n_tokens=n_tokens, placeholder_ids=bb.placeholder_ids(n_tokens),
                      token_type_id=bb.token_type_id, max_length=max_length)
        return self.register_encoded(data, task)

    def register_encoded(self, dataset: EncodedDataset, task: TaskSpec | None = None) -> str:
        """Store an already encoded dataset; returns its id ``"ds-<sha1 prefix>"`` (same content, same id)."""
        dataset_id = "ds-" + dataset_fingerprint(dataset)[:20]
        self._datasets[dataset_id] = (task, dataset)
        logger.debug("registered %s (%s, %d examples)", dataset_id, dataset.task, len(dataset))
        return dataset_id

    def evaluate(
        self, dataset_id: str, param: PromptParam, population: np.ndarray, *, loss: str = "auto"
    ) -> EvalResult:
        """Score ``P`` candidates (``P x L' x d``, or raw ``P x L' x n x h``) on a registered dataset.

        Counts ``P`` calls. Raises ShapeError/ConfigError/UnknownNameError before any forward pass.
        """
        task, data = self._get(dataset_id)
        prompts = self.prompts(dataset_id, param, population)
        result = self.evaluator.evaluate(data, prompts, param.layers, loss, metric=_metric(task))
        self.n_calls += prompts.shape[0]
        return result

    def predict(
        self, dataset_id: str, param: PromptParam, candidate: np.ndarray, *, loss: str = "auto"
    ) -> Prediction:
        """Predictions of one candidate (``L' x d``, or raw ``L' x n x h``); not counted in ``n_calls``."""
        task, data = self._get(dataset_id)
        prompts = self.prompts(dataset_id, param, np.asarray(candidate)[None])
        self.n_predict_calls += 1
        return self.evaluator.predict(data, prompts[0], param.layers, loss, metric=_metric(task))

    # ------------------------------------------------------------------ helpers
    def dataset(self, dataset_id: str) -> EncodedDataset:
        """The registered :class:`EncodedDataset`."""
        return self._get(dataset_id)[1]

    def hidden_state_std(self, dataset_id: str) -> list[float]:
        """Clipped std of the states entering each layer (zero prompts) on a registered dataset, cached."""
        if dataset_id not in self._stds:
            self._stds[dataset_id] = hidden_state_std(self.backbone, self._get(dataset_id)[1],
                                                      device=self.evaluator.device)
        return self._stds[dataset_id]

    def prompts(self, dataset_id: str, param: PromptParam, population: np.ndarray) -> Tensor:
        """Layer prompts of a population: ``P x L' x n x h`` float32 on the evaluator's device.

        Raises:
            ShapeError: population shape does not match ``param`` (or n_tokens of the dataset), NaN/inf.
        """
        _, data = self._get(dataset_id)
        if param.n_tokens != data.n_tokens:
            raise ShapeError(f"param.n_tokens={param.n_tokens} but dataset {dataset_id} was registered with "
                             f"n_tokens={data.n_tokens}; register it again with this n_tokens")
        pop = np.asarray(population, dtype=np.float64)
        lp, n, h = len(param.layers), param.n_tokens, self.backbone.hidden
        if param.projection is None:
            return torch.as_tensor(pop, dtype=torch.float32)  # raw prompts; the evaluator checks the shape
        if pop.ndim != 3 or pop.shape[0] == 0 or pop.shape[1:] != (lp, param.d):
            raise ShapeError(f"population has shape {pop.shape}; expected (P >= 1, len(layers)={lp}, d={param.d})")
        if not np.isfinite(pop).all():
            raise ShapeError("population holds NaN or inf; send finite vectors")
        self.evaluator.check_layers(param.layers)
        z = torch.as_tensor(pop, dtype=torch.float32, device=self.evaluator.device)
        out = torch.empty(pop.shape[0], lp, n * h, device=self.evaluator.device)
        for j, layer in enumerate(param.layers):
            out[:, j] = z[:, j] @ self._projection(dataset_id, param, layer)
        return out.view(pop.shape[0], lp, n, h)

    def _projection(self, dataset_id: str, param: PromptParam, layer: int) -> Tensor:
        spec = param.projection
        assert spec is not None
        std, ckpt = None, None
        if spec.kind == "normal":
            if layer == 0:
                std = embedding_std(self.backbone)
            else:
                stats_id = spec.stats_dataset or dataset_id
                std = self.hidden_state_std(stats_id)[layer]
        elif spec.kind == "learned":
            ckpt = self._learned(spec.checkpoint, param.n_tokens)
        key = (spec, param.d, param.n_tokens, layer, std, id(ckpt))
        if key not in self._projections:
            a = build_projection(spec, d=param.d, n_tokens=param.n_tokens, hidden=self.backbone.hidden, layer=layer,
                                 std=std, checkpoint=ckpt)
            self._projections[key] = a.to(self.evaluator.device)
        return self._projections[key]

    def _learned(self, path: str | None, n_tokens: int) -> MP2Checkpoint:
        if path is None or path == "default":
            if self.checkpoint is None:
                raise ConfigError("a learned projection needs a checkpoint; use LocalBackend.from_checkpoint")
            ckpt = self.checkpoint
        else:
            key = _path_key(path)
            if key not in self._checkpoints:
                self._checkpoints[key] = load_checkpoint(path)
            ckpt = self._checkpoints[key]
        bb = self.backbone
        ckpt.check_compatible(backbone_hash=self.info().embedding_hash, hidden=bb.hidden, n_layers=bb.n_layers,
                              n_tokens=n_tokens)
        return ckpt

    def _get(self, dataset_id: str) -> tuple[TaskSpec | None, EncodedDataset]:
        try:
            return self._datasets[dataset_id]
        except KeyError:
            known = sorted(self._datasets)
            raise UnknownNameError(
                f"dataset {dataset_id!r} is not registered with this backend; registered: {known[:20]}"
            ) from None


def _metric(task: TaskSpec | None) -> Any:
    return None if task is None else task.metric


def _path_key(path: str | os.PathLike[str]) -> str:
    return str(Path(path).expanduser().resolve())
