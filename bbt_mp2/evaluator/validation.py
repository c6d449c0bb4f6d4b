"""Checks run before any forward pass; each error names the problem, the value and the fix.

Validate once, at the boundary: untrusted data is checked where it enters (``LocalBackend.register`` /
``register_encoded`` for a dataset, ``LocalBackend.evaluate`` / ``predict`` for an in-process population, the
server's ``ModelService`` for a request) and the inner layers take the checked objects on trust:

- :class:`CheckedDataset`: an encoded dataset that passed :func:`check_dataset` against the backbone, with its
  content fingerprint computed once (the dataset id is derived from it); label checks are remembered per
  (loss, metric).
- :class:`CheckedPrompts`: layer prompts ``P x L' x n x h`` (float32, finite) for checked ``layers``.
- :class:`ValidatedPopulation`: a backend population (``P x L' x d``, or raw ``P x L' x n x h``) that passed the
  boundary checks for one registered dataset and one :class:`~bbt_mp2.backend.PromptParam`.

The evaluator's public methods still accept plain arrays and datasets (research use) and check them on every
call; a checked object skips its checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bbt_mp2.backend import PromptParam
from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.evaluator.plan import dataset_fingerprint
from bbt_mp2.tasks.types import Metric

__all__ = ["check_prompts", "check_population", "check_dataset", "check_labels", "checked_dataset",
           "CheckedDataset", "CheckedPrompts", "ValidatedPopulation"]


@dataclass(frozen=True, eq=False)
class CheckedDataset:
    """An encoded dataset checked once against a backbone and fingerprinted once (build it with
    :func:`checked_dataset`); its arrays must not change afterwards.

    Attributes:
        data: the :class:`EncodedDataset` (``N`` examples).
        fingerprint: :func:`bbt_mp2.evaluator.plan.dataset_fingerprint` of ``data`` (sha1 hex).
    """

    data: EncodedDataset
    fingerprint: str
    _labels_checked: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def check_labels(self, loss_name: str, metric: Metric) -> None:
        """:func:`check_labels` for this (loss, metric), run once and remembered.

        Raises:
            ConfigError: as :func:`check_labels`.
        """
        key = (loss_name, str(metric))
        if key not in self._labels_checked:
            check_labels(self.data, loss_name, metric)
            self._labels_checked.add(key)


def checked_dataset(dataset: EncodedDataset | CheckedDataset, backbone: Any) -> CheckedDataset:
    """``dataset`` checked (:func:`check_dataset`) and fingerprinted; a :class:`CheckedDataset` is returned as is.

    Raises:
        ShapeError: as :func:`check_dataset`.
    """
    if isinstance(dataset, CheckedDataset):
        return dataset
    check_dataset(dataset, backbone)
    return CheckedDataset(dataset, dataset_fingerprint(dataset))


@dataclass(frozen=True, eq=False)
class CheckedPrompts:
    """Layer prompts that passed :func:`check_prompts` (or were projected from a validated population).

    Attributes:
        prompts: ``P x L' x n x h`` float32 tensor, finite; ``prompts[p, j]`` goes before layer ``layers[j]``.
        layers: the ``L'`` prompted layers, checked against the backbone (strictly increasing, in range).
    """

    prompts: Tensor
    layers: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class ValidatedPopulation:
    """A population that passed the boundary checks for one registered dataset and one parameterisation.

    Built by ``LocalBackend.validate`` (in-process) or by the server after its request checks; taken on trust by
    ``LocalBackend.evaluate_validated`` / ``predict_validated``.

    Attributes:
        dataset_id: the registered dataset it was checked against.
        param: the :class:`~bbt_mp2.backend.PromptParam` (``n_tokens`` equal to the dataset's, layers in range).
        values: ``P x L' x d`` float32 (raw prompts: ``P x L' x n x h``), finite, ``P >= 1``.
    """

    dataset_id: str
    param: PromptParam
    values: np.ndarray


def check_population(population: Any, n_layers_prompted: int, d: int) -> np.ndarray:
    """Validate a population of intrinsic vectors; returns it as a float32 ndarray ``P x L' x d``.

    Args:
        population: ``P x L' x d`` numbers (any numeric dtype).
        n_layers_prompted: ``L'``, the number of prompted layers of the parameterisation.
        d: the intrinsic dimension.

    Raises:
        ShapeError: non-numeric, not ``P x L' x d`` with ``P >= 1``, or NaN/inf (also values beyond float32).
    """
    pop = np.asarray(population)
    if not np.issubdtype(pop.dtype, np.number) or np.iscomplexobj(pop):
        raise ShapeError(f"population must hold real numbers, got dtype {pop.dtype}")
    if pop.ndim != 3 or pop.shape[0] == 0 or pop.shape[1:] != (n_layers_prompted, d):
        raise ShapeError(f"population has shape {pop.shape}; expected (P >= 1, len(layers)={n_layers_prompted}, "
                         f"d={d})")
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(pop, dtype=np.float32)
    finite = np.isfinite(out).reshape(len(out), -1).all(1)
    if not finite.all():
        bad = np.nonzero(~finite)[0].tolist()
        raise ShapeError(f"population holds NaN or inf (candidates {bad[:10]}), or values beyond float32; send "
                         "finite vectors")
    return out


def check_prompts(prompts: Any, layers: tuple[int, ...], n_tokens: int, hidden: int) -> Tensor:
    """Validate a population of prompts; returns it as a float32 tensor ``P x L' x n x h`` (same device).

    Raises:
        ShapeError: not 4-D, empty population, wrong ``L'``/``n``/``h``, non-numeric, NaN or inf.
    """
    if isinstance(prompts, np.ndarray):
        if not np.issubdtype(prompts.dtype, np.number):
            raise ShapeError(f"prompts must be numeric, got dtype {prompts.dtype}")
        prompts = torch.from_numpy(np.ascontiguousarray(prompts))
    if not isinstance(prompts, Tensor):
        raise ShapeError(f"prompts must be a torch.Tensor or numpy array, got {type(prompts).__name__}")
    if prompts.ndim != 4:
        raise ShapeError(
            f"prompts have shape {tuple(prompts.shape)}; expected 4-D (P, L'={len(layers)}, "
            f"n_tokens={n_tokens}, hidden={hidden})"
        )
    if prompts.shape[0] == 0:
        raise ShapeError("the population is empty (P = 0); send at least one candidate")
    expected = (len(layers), n_tokens, hidden)
    if tuple(prompts.shape[1:]) != expected:
        raise ShapeError(
            f"prompts have shape {tuple(prompts.shape)}; expected (P, L'={len(layers)}, n_tokens={n_tokens}, "
            f"hidden={hidden}) for layers {layers} on this dataset and backbone"
        )
    prompts = prompts.detach().to(torch.float32)
    finite = torch.isfinite(prompts).flatten(1).all(1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        raise ShapeError(f"prompts hold NaN or inf (candidates {bad[:10]}); send finite values")
    return prompts


def check_dataset(dataset: EncodedDataset, backbone: Any) -> None:
    """Validate an encoded dataset against the backbone.

    Raises:
        ShapeError: empty dataset, inconsistent array shapes, examples without room for the placeholders,
            sequences longer than the backbone's positions.
    """
    n = len(dataset)
    if n == 0:
        raise ShapeError(f"dataset {dataset.task!r} is empty; register at least one example")
    ids = np.asarray(dataset.input_ids)
    if ids.ndim != 2:
        raise ShapeError(f"dataset input_ids must be N x T, got shape {ids.shape}")
    for name in ("attention_mask", "token_type_ids"):
        shape = np.asarray(getattr(dataset, name)).shape
        if shape != ids.shape:
            raise ShapeError(f"dataset {name} has shape {shape}; expected {ids.shape} like input_ids")
    for name in ("start_positions", "end_positions", "labels"):
        shape = np.asarray(getattr(dataset, name)).shape
        if shape != (n,):
            raise ShapeError(f"dataset {name} has shape {shape}; expected ({n},)")
    if dataset.n_tokens < 1:
        raise ShapeError(f"dataset n_tokens={dataset.n_tokens}; prompts need at least one placeholder position")
    lengths = np.asarray(dataset.attention_mask).sum(1)
    short = np.nonzero(lengths < dataset.n_tokens + 1)[0]
    if short.size:
        raise ShapeError(
            f"example {int(short[0])} has {int(lengths[short[0]])} real tokens, fewer than [CLS] + "
            f"n_tokens={dataset.n_tokens} placeholders; re-encode with this n_tokens"
        )
    limit = getattr(backbone, "max_positions", None)
    if limit is not None and ids.shape[1] > limit:
        raise ShapeError(f"dataset length {ids.shape[1]} exceeds the backbone's {limit} positions; re-encode shorter")


def check_labels(dataset: EncodedDataset, loss_name: str, metric: Metric) -> None:
    """Check that the gold information the loss and the metric read is present and in range.

    Raises:
        ConfigError: unlabelled examples, gold option outside the options, gold span outside the sequence,
            missing answers for a span metric.
    """
    n, t = np.asarray(dataset.input_ids).shape
    if dataset.n_options > 0:
        labels = np.asarray(dataset.labels)
        spans = np.asarray(dataset.option_spans)
        bad = np.nonzero((labels < 0) | (labels >= dataset.n_options))[0]
        if bad.size:
            raise ConfigError(
                f"example {int(bad[0])} has label {int(labels[bad[0]])}, outside its {dataset.n_options} options; "
                "evaluate needs labelled data (use predict for unlabelled data)"
            )
        if (spans[np.arange(n), labels, 0] < 0).any():
            raise ConfigError("some gold options are padding (-1) in option_spans; the gold option was truncated")
    elif metric in (Metric.SPAN_F1, Metric.SPAN_EM) and len(dataset.answers) != n:
        raise ConfigError(f"span metric needs gold answers for all {n} examples; dataset has {len(dataset.answers)}")
    if loss_name == "span_ce":
        sp, ep = np.asarray(dataset.start_positions), np.asarray(dataset.end_positions)
        if ((sp < 0) | (sp >= t) | (ep < 0) | (ep >= t)).any():
            raise ConfigError(f"span_ce needs gold start/end positions in [0, {t}) for every example")
