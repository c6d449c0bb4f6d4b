"""Checks run before any forward pass; each error names the problem, the value and the fix."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.tasks.types import Metric

__all__ = ["check_prompts", "check_dataset", "check_labels"]


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
