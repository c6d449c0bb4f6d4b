"""The in-process :class:`~bbt_mp2.backend.Backend`: datasets, checkpoints, projections and the evaluator.

``LocalBackend.evaluate(dataset_id, param, population)`` turns each candidate's intrinsic vectors (``P x L' x d``)
into layer prompts ``(z @ A_l).reshape(n, h)`` with the projection of ``param.projection`` (random ``normal`` /
``uniform`` drawn from a seed, or ``learned`` from a served MP2 checkpoint), then scores the whole population in
one :meth:`bbt_mp2.evaluator.Evaluator.evaluate` call with the MRC head of checkpoint ``param.head`` (``None`` =
the default checkpoint). With ``param.projection is None`` the population holds raw prompts, ``P x L' x n x h``.
The ``normal`` projection of layers > 0 is scaled by the clipped hidden-state std of ``projection.stats_dataset``
(or the evaluated dataset), computed once with zero prompts and cached.

Checkpoints are served by id: :meth:`LocalBackend.add_checkpoint` resolves a shipped name (its id is the name), a
directory (its id is the absolute path) or ``id=DIR`` given explicitly (the server's ``--checkpoint NAME=DIR``).
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
from bbt_mp2.backend import (
    CHECKPOINT_INFO_KEYS,
    HEAD_KINDS,
    EvalResult,
    ModelInfo,
    Prediction,
    PromptParam,
    json_ready,
)
from bbt_mp2.checkpoint import (
    TENSORS_FILE,
    MP2Checkpoint,
    file_sha256,
    load_checkpoint,
    resolve_checkpoint,
    shipped_checkpoints,
)
from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import BackendError, ConfigError, ShapeError, UnknownNameError
from bbt_mp2.evaluator import Evaluator, dataset_fingerprint
from bbt_mp2.evaluator.validation import (
    CheckedDataset,
    CheckedPrompts,
    ValidatedPopulation,
    check_population,
    check_prompts,
    checked_dataset,
)
from bbt_mp2.prompts import build_projection, embedding_std, hidden_state_std
from bbt_mp2.tasks.types import Example, TaskSpec

__all__ = ["LocalBackend", "checkpoint_id_of"]

logger = logging.getLogger(__name__)


def checkpoint_id_of(name_or_path: str | os.PathLike[str]) -> str:
    """The id under which :meth:`LocalBackend.add_checkpoint` serves a checkpoint given without an explicit id.

    A shipped name (``english-deep``) is its own id; a directory is named by its absolute path.
    """
    text = os.fspath(name_or_path)
    if text in shipped_checkpoints():
        return text
    return str(Path(text).expanduser().resolve())


class LocalBackend:
    """A frozen backbone + MRC heads served in-process; implements :class:`bbt_mp2.backend.Backend`.

    Args:
        backbone: the frozen backbone.
        head: the default MRC head (e.g. ``MRCHead.from_checkpoint``), used when ``PromptParam.head`` is None;
            None = no MRC head (only datasets registered with ``head="mlm"`` can be scored, by the backbone's
            MLM head).
        **evaluator_options: passed to :class:`~bbt_mp2.evaluator.Evaluator` (``device``, ``dtype``,
            ``token_budget``, ``cache_size``, ``cache_bytes``, ``max_answer_tokens``, ``shared_prefix``).

    Attributes:
        n_calls: candidates scored by :meth:`evaluate` so far (P per call); ``n_predict_calls`` counts predict.
        checkpoint: the default checkpoint (``None`` when built from a bare head).
    """

    def __init__(self, backbone: Backbone, head: nn.Module | None, **evaluator_options: Any) -> None:
        self.evaluator = Evaluator(backbone, head, **evaluator_options)
        self.backbone = self.evaluator.backbone
        self._options = evaluator_options
        self.checkpoint: MP2Checkpoint | None = None
        self.default_checkpoint: str | None = None
        self.n_calls = 0
        self.n_predict_calls = 0
        self._datasets: dict[str, tuple[TaskSpec | None, CheckedDataset]] = {}  # checked + hashed once
        self._max_lengths: dict[str, int] = {}
        self._stds: dict[str, list[float]] = {}
        self._checkpoints: dict[str, MP2Checkpoint] = {}
        self._checkpoint_info: dict[str, dict[str, Any]] = {}
        self._evaluators: dict[str, Evaluator] = {}
        self._projections: dict[tuple[Any, ...], Tensor] = {}
        self._embedding_hash = self.backbone.embedding_hash()

    @classmethod
    def from_checkpoint(
        cls, backbone: Backbone, name_or_path: str | os.PathLike[str], **evaluator_options: Any
    ) -> LocalBackend:
        """A backend serving one checkpoint (shipped name or directory) as its default: head and learned ``A``.

        Its id is :func:`checkpoint_id_of` ``(name_or_path)``.

        Raises:
            CheckpointError: the checkpoint is missing, malformed, or was trained on another backbone / shapes.
        """
        from bbt_mp2.heads import MRCHead

        ckpt = load_checkpoint(name_or_path)
        ckpt.check_compatible(backbone_hash=backbone.embedding_hash(), hidden=backbone.hidden,
                              n_layers=backbone.n_layers)
        backend = cls(backbone, MRCHead.from_checkpoint(ckpt), **evaluator_options)
        backend.add_checkpoint(name_or_path, default=True, loaded=ckpt)
        return backend

    def add_checkpoint(
        self, name_or_path: str | os.PathLike[str], *, checkpoint_id: str | None = None, default: bool = False,
        loaded: MP2Checkpoint | None = None,
    ) -> str:
        """Serve the MP2 checkpoint ``name_or_path`` under ``checkpoint_id`` (default :func:`checkpoint_id_of`).

        Args:
            name_or_path: shipped checkpoint name or checkpoint directory.
            checkpoint_id: the id clients use; default the name, or the absolute path of a directory.
            default: make its head the default head (``PromptParam.head=None``).
            loaded: the checkpoint already loaded from ``name_or_path`` (saves a second read).

        Returns:
            The id.

        Raises:
            CheckpointError: missing/malformed checkpoint, or one trained on another backbone or shapes.
            ConfigError: ``checkpoint_id`` already serves another checkpoint.
        """
        cid = checkpoint_id or checkpoint_id_of(name_or_path)
        directory = resolve_checkpoint(name_or_path)
        ckpt = loaded if loaded is not None else load_checkpoint(directory)
        bb = self.backbone
        ckpt.check_compatible(backbone_hash=self._embedding_hash, hidden=bb.hidden, n_layers=bb.n_layers)
        sha = file_sha256(directory / TENSORS_FILE)
        if cid in self._checkpoint_info and self._checkpoint_info[cid]["sha256"] != sha:
            raise ConfigError(f"checkpoint id {cid!r} already serves another checkpoint; choose another id")
        entry = {k: v for k, v in ckpt.config.to_dict().items() if k in CHECKPOINT_INFO_KEYS}
        self._checkpoints[cid] = ckpt
        self._checkpoint_info[cid] = json_ready(dict(entry, sha256=sha))
        if default:
            from bbt_mp2.heads import MRCHead

            self.evaluator = self._evaluator(MRCHead.from_checkpoint(ckpt))
            self.checkpoint, self.default_checkpoint = ckpt, cid
            self._evaluators[cid] = self.evaluator
        logger.info("serving checkpoint %s (layers %s, sha256 %s)", cid, list(ckpt.config.layers), sha[:12])
        return cid

    # ------------------------------------------------------------------ Backend protocol
    def info(self) -> ModelInfo:
        """Backbone name, L, h, embedding hash, token type id, dtype and the served checkpoints."""
        bb = self.backbone
        dtype = str(self.evaluator.dtype).removeprefix("torch.")
        return ModelInfo(name=bb.name, n_layers=bb.n_layers, hidden=bb.hidden, embedding_hash=self._embedding_hash,
                         token_type_id=bb.token_type_id, dtype=dtype,
                         checkpoints={k: dict(v) for k, v in self._checkpoint_info.items()},
                         default_checkpoint=self.default_checkpoint,
                         max_positions=getattr(bb, "max_positions", None),
                         revision=getattr(bb, "revision", None))

    def checkpoint_modules(self, checkpoint_id: str) -> np.ndarray:
        """Module vectors z of a served checkpoint: ``L' x K x d`` float32, rows in the order of its layers.

        Raises:
            ConfigError: a zero-prompt head checkpoint (pre-trained with prompt dropout 1): its modules are untrained.
        """
        ckpt = self.served_checkpoint(checkpoint_id)
        if ckpt.config.head_only:
            raise ConfigError(f"checkpoint {checkpoint_id!r} is a zero-prompt head (pre-trained with prompt_dropout "
                              "1): its modules are untrained, so it serves only as the MRC head of bbt/bbtv2; use "
                              "an MP2 checkpoint (e.g. english-deep) for mp2 methods")
        return ckpt.z.detach().cpu().float().numpy().copy()

    def register(
        self, task: TaskSpec, examples: Sequence[Example], *, n_tokens: int, max_length: int | None = None,
        head: str = "mrc",
    ) -> str:
        """Encode ``examples`` with the backbone's tokenizer and store them; returns the content-hash id.

        ``max_length`` None = :func:`bbt_mp2.encoding.default_max_length` capped by the backbone's positions.
        ``head="mlm"``: the cloze format (:mod:`bbt_mp2.cloze`), scored by the backbone's MLM head.

        Raises:
            ConfigError: ``head="mlm"`` on a backbone without an MLM head (named), or a verbalizer word that is not
                one token.
        """
        data = self.encode(task, examples, n_tokens=n_tokens, max_length=max_length, head=head)
        dataset_id = self.register_encoded(data, task)
        self._max_lengths[dataset_id] = self._resolved_length(task, max_length)
        return dataset_id

    def _resolved_length(self, task: TaskSpec, max_length: int | None) -> int:
        from bbt_mp2.encoding import default_max_length

        if max_length is not None:
            return int(max_length)
        return default_max_length(task.type, getattr(self.backbone, "max_positions", None))

    def encode(
        self, task: TaskSpec, examples: Sequence[Example], *, n_tokens: int, max_length: int | None = None,
        head: str = "mrc",
    ) -> EncodedDataset:
        """MRC-format (``head="mrc"``) or cloze-format (``head="mlm"``, after checking that the backbone has an MLM
        head) and tokenise ``examples`` for this backbone (no storing); ``max_length`` as in :meth:`register`."""
        from bbt_mp2.encoding import encode

        bb = self.backbone
        if head not in HEAD_KINDS:
            raise ConfigError(f"head {head!r} is unknown; choose one of {HEAD_KINDS}")
        if head == "mlm":
            from bbt_mp2.cloze import encode_cloze

            self.evaluator.mlm_head  # noqa: B018 - loads it now: a backbone without one is refused before any call
            return encode_cloze(task, examples, bb.tokenizer, n_tokens=n_tokens,
                                placeholder_ids=bb.placeholder_ids(n_tokens), token_type_id=bb.token_type_id,
                                max_length=self._resolved_length(task, max_length))
        return encode(task, examples, bb.tokenizer, n_tokens=n_tokens, placeholder_ids=bb.placeholder_ids(n_tokens),
                      token_type_id=bb.token_type_id, max_length=self._resolved_length(task, max_length))

    def dataset_stats(self, dataset_id: str) -> dict[str, Any]:
        """What encoding did to a registered dataset (plain data, :func:`bbt_mp2.encoding.encoding_stats`):
        ``{"n", "max_length", "length", "n_truncated", "n_answer_lost"}``.

        Raises:
            UnknownNameError: the dataset is not registered.
        """
        from bbt_mp2.encoding import encoding_stats

        _, checked = self._get(dataset_id)
        return encoding_stats(checked.data, self._max_lengths.get(dataset_id))

    def register_encoded(self, dataset: EncodedDataset, task: TaskSpec | None = None, *,
                         expected_id: str | None = None) -> str:
        """Store an already encoded dataset; returns its id ``"ds-<sha1 prefix>"`` (same content, same id).

        The dataset is checked against the backbone and hashed here, once: every later ``evaluate`` / ``predict``
        on it trusts that check and that fingerprint (its arrays must not change afterwards).

        Args:
            dataset: the encoded dataset.
            task: its task spec (the metric); None = the dataset's own.
            expected_id: the id the content must have (a dataset reloaded from disk); nothing is stored if not.

        Raises:
            ShapeError: an empty or malformed dataset, or one longer than the backbone's positions.
            BackendError: the content does not give ``expected_id``.
        """
        checked = checked_dataset(dataset, self.backbone)
        dataset_id = _id_of_fingerprint(checked.fingerprint)
        if expected_id is not None and dataset_id != expected_id:
            raise BackendError(f"the dataset's content gives id {dataset_id}, not the expected {expected_id}; it was "
                               "changed or encoded by another backbone or package version")
        self._datasets[dataset_id] = (task, checked)
        logger.debug("registered %s (%s, %d examples)", dataset_id, dataset.task, len(dataset))
        return dataset_id

    def evaluate(
        self, dataset_id: str, param: PromptParam, population: np.ndarray, *, loss: str = "auto"
    ) -> EvalResult:
        """Score ``P`` candidates (``P x L' x d``, or raw ``P x L' x n x h``) on a registered dataset.

        The in-process boundary: the population is validated here, once (:meth:`validate`); the evaluator takes
        the checked prompts and the dataset checked at registration on trust. Counts ``P`` calls.

        Raises:
            ShapeError, ConfigError, UnknownNameError, CheckpointError: before any forward pass.
        """
        task, checked = self._get(dataset_id)
        evaluator = self.head_evaluator(param.head)
        values = self._validate(dataset_id, checked, param, population)
        return self._evaluate(evaluator, task, checked, ValidatedPopulation(dataset_id, param, values), loss)

    def evaluate_validated(self, population: ValidatedPopulation, *, loss: str = "auto") -> EvalResult:
        """:meth:`evaluate` of a population already validated at a boundary (:meth:`validate`, or the server's
        request checks, which build the :class:`ValidatedPopulation` themselves); nothing is checked again."""
        task, checked = self._get(population.dataset_id)
        return self._evaluate(self.head_evaluator(population.param.head), task, checked, population, loss)

    def predict(
        self, dataset_id: str, param: PromptParam, candidate: np.ndarray, *, loss: str = "auto"
    ) -> Prediction:
        """Predictions of one candidate (``L' x d``, or raw ``L' x n x h``); not counted in ``n_calls``.

        Validated here, once, like :meth:`evaluate`."""
        task, checked = self._get(dataset_id)
        evaluator = self.head_evaluator(param.head)
        values = self._validate(dataset_id, checked, param, np.asarray(candidate)[None])
        return self._predict(evaluator, task, checked, ValidatedPopulation(dataset_id, param, values), loss)

    def predict_validated(self, population: ValidatedPopulation, *, loss: str = "auto") -> Prediction:
        """:meth:`predict` of a one-candidate population (``1 x ...``) already validated at a boundary."""
        task, checked = self._get(population.dataset_id)
        return self._predict(self.head_evaluator(population.param.head), task, checked, population, loss)

    def validate(self, dataset_id: str, param: PromptParam, population: np.ndarray) -> ValidatedPopulation:
        """Check a population for a registered dataset and ``param`` (the one population check of the in-process
        path): ``param.n_tokens`` equal to the dataset's, layers in range for the backbone, shape ``P x L' x d``
        (raw: ``P x L' x n x h``) with ``P >= 1``, real numbers, finite in float32.

        Raises:
            UnknownNameError: the dataset is not registered. ShapeError: n_tokens, shape, NaN/inf.
            ConfigError: layers out of range.
        """
        _, checked = self._get(dataset_id)
        return ValidatedPopulation(dataset_id, param, self._validate(dataset_id, checked, param, population))

    def _validate(self, dataset_id: str, checked: CheckedDataset, param: PromptParam, population: Any) -> np.ndarray:
        n_tokens = checked.data.n_tokens
        if param.head is not None and getattr(checked.data, "verbalizer_ids", None) is not None:
            raise ConfigError(f"dataset {dataset_id} was registered with head='mlm' (the backbone's MLM head scores "
                              f"it); param.head={param.head!r} names an MRC head: send head=None")
        if param.n_tokens != n_tokens:
            raise ShapeError(f"param.n_tokens={param.n_tokens} but dataset {dataset_id} was registered with "
                             f"n_tokens={n_tokens}; register it again with this n_tokens")
        layers = self.evaluator.check_layers(param.layers)
        if param.projection is None:  # raw prompts
            return check_prompts(population, layers, n_tokens, self.backbone.hidden).numpy()
        return check_population(population, len(layers), param.d)

    def _evaluate(self, evaluator: Evaluator, task: TaskSpec | None, checked: CheckedDataset,
                  population: ValidatedPopulation, loss: str) -> EvalResult:
        prompts = self._project(population)
        param = population.param
        result = evaluator.evaluate(checked, prompts, prompts.layers, loss, metric=_metric(task),
                                    prompt_mode=param.prompt_mode, scoring=param.scoring)
        self.n_calls += prompts.prompts.shape[0]
        return result

    def _predict(self, evaluator: Evaluator, task: TaskSpec | None, checked: CheckedDataset,
                 population: ValidatedPopulation, loss: str) -> Prediction:
        prompts = self._project(population)
        param = population.param
        self.n_predict_calls += 1
        return evaluator.predict(checked, prompts, prompts.layers, loss, metric=_metric(task),
                                 prompt_mode=param.prompt_mode, scoring=param.scoring)

    # ------------------------------------------------------------------ helpers
    def served_checkpoint(self, checkpoint_id: str | None) -> MP2Checkpoint:
        """The loaded checkpoint served as ``checkpoint_id`` (``None`` or ``"default"``: the default one).

        Raises:
            UnknownNameError: not served; the message lists the served ids.
        """
        if checkpoint_id is None or checkpoint_id == "default":
            if self.checkpoint is None:
                raise UnknownNameError("this backend serves no default checkpoint; name one of "
                                       f"{sorted(self._checkpoints)} or build it with LocalBackend.from_checkpoint")
            return self.checkpoint
        ckpt = self._checkpoints.get(checkpoint_id)
        if ckpt is None and checkpoint_id_of(checkpoint_id) in self._checkpoints:
            ckpt = self._checkpoints[checkpoint_id_of(checkpoint_id)]
        if ckpt is None:
            raise UnknownNameError(f"checkpoint {checkpoint_id!r} is not served by this backend; served: "
                                   f"{sorted(self._checkpoints) or 'none'}")
        return ckpt

    def head_evaluator(self, checkpoint_id: str | None) -> Evaluator:
        """The evaluator scoring with the MRC head of checkpoint ``checkpoint_id`` (``None``: the default head)."""
        if checkpoint_id is None or checkpoint_id == self.default_checkpoint:
            return self.evaluator
        ckpt = self.served_checkpoint(checkpoint_id)
        key = checkpoint_id if checkpoint_id in self._checkpoints else checkpoint_id_of(checkpoint_id)
        if key not in self._evaluators:
            from bbt_mp2.heads import MRCHead

            self._evaluators[key] = self._evaluator(MRCHead.from_checkpoint(ckpt))
        return self._evaluators[key]

    def _evaluator(self, head: nn.Module) -> Evaluator:
        opts = dict(self._options, device=self.evaluator.device, dtype=self.evaluator.dtype)
        return Evaluator(self.backbone, head, **opts)  # the backbone is already placed: no copy

    def dataset(self, dataset_id: str) -> EncodedDataset:
        """The registered :class:`EncodedDataset`."""
        return self._get(dataset_id)[1].data

    def has_dataset(self, dataset_id: str) -> bool:
        """Whether ``dataset_id`` is registered."""
        return dataset_id in self._datasets

    def hidden_state_std(self, dataset_id: str) -> list[float]:
        """Clipped std of the states entering each layer (zero prompts) on a registered dataset, cached."""
        if dataset_id not in self._stds:
            self._stds[dataset_id] = hidden_state_std(self.backbone, self._get(dataset_id)[1].data,
                                                      device=self.evaluator.device)
        return self._stds[dataset_id]

    def prompts(self, dataset_id: str, param: PromptParam, population: np.ndarray) -> Tensor:
        """Layer prompts of a population: ``P x L' x n x h`` float32 on the evaluator's device (validated as in
        :meth:`evaluate`).

        Raises:
            ShapeError: population shape does not match ``param`` (or n_tokens of the dataset), NaN/inf.
        """
        return self._project(self.validate(dataset_id, param, population)).prompts

    def _project(self, population: ValidatedPopulation) -> CheckedPrompts:
        """The layer prompts of a validated population (``z @ A_l`` per prompted layer; raw prompts as they are).

        Raises:
            ShapeError: projected prompts overflow float32 (finite but huge vectors): the one check of the derived
                prompts, which can fail only here.
        """
        param, pop = population.param, population.values
        layers, device = tuple(param.layers), self.evaluator.device
        if param.projection is None:
            return CheckedPrompts(torch.as_tensor(pop, dtype=torch.float32), layers)
        lp, n, h = len(layers), param.n_tokens, self.backbone.hidden
        z = torch.as_tensor(pop, dtype=torch.float32, device=device)
        out = torch.empty(pop.shape[0], lp, n * h, device=device)
        for j, layer in enumerate(layers):
            out[:, j] = z[:, j] @ self._projection(population.dataset_id, param, layer)
        finite = torch.isfinite(out).flatten(1).all(1)
        if not bool(finite.all()):
            bad = torch.nonzero(~finite).flatten().tolist()
            raise ShapeError(f"the prompts projected from candidates {bad[:10]} overflow float32 (the vectors are "
                             "finite but too large); send smaller vectors")
        return CheckedPrompts(out.view(pop.shape[0], lp, n, h), layers)

    def _projection(self, dataset_id: str, param: PromptParam, layer: int) -> Tensor:
        spec = param.projection
        if spec is None:
            raise ConfigError("raw prompts (projection=None) have no projection")
        std, ckpt = None, None
        if spec.kind == "normal":
            if layer == 0:
                std = embedding_std(self.backbone)
            else:
                stats_id = spec.stats_dataset or dataset_id
                std = self.hidden_state_std(stats_id)[layer]
        elif spec.kind == "learned":
            ckpt = self.served_checkpoint(spec.checkpoint)
            bb = self.backbone
            ckpt.check_compatible(backbone_hash=self._embedding_hash, hidden=bb.hidden, n_layers=bb.n_layers,
                                  n_tokens=param.n_tokens)
        key = (spec, param.d, param.n_tokens, layer, std, id(ckpt))
        if key not in self._projections:
            a = build_projection(spec, d=param.d, n_tokens=param.n_tokens, hidden=self.backbone.hidden, layer=layer,
                                 std=std, checkpoint=ckpt)
            self._projections[key] = a.to(self.evaluator.device)
        return self._projections[key]

    def _get(self, dataset_id: str) -> tuple[TaskSpec | None, CheckedDataset]:
        try:
            return self._datasets[dataset_id]
        except KeyError:
            known = sorted(self._datasets)
            raise UnknownNameError(
                f"dataset {dataset_id!r} is not registered with this backend; registered: {known[:20]}"
            ) from None


def dataset_id_of(dataset: EncodedDataset) -> str:
    """Content id of an encoded dataset: ``"ds-"`` + the first 20 hex digits of its fingerprint (hashes the
    dataset; :meth:`LocalBackend.register_encoded` returns the same id from the hash it computes anyway)."""
    return _id_of_fingerprint(dataset_fingerprint(dataset))


def _id_of_fingerprint(fingerprint: str) -> str:
    return "ds-" + fingerprint[:20]


def _metric(task: TaskSpec | None) -> Any:
    return None if task is None else task.metric
