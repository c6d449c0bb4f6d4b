"""Raw per-row outputs of a population forward, and the losses, metrics and predictions made from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bbt_mp2 import losses
from bbt_mp2.backend import PROMPT_MODES, SCORINGS, Prediction
from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import ConfigError
from bbt_mp2.evaluator.plan import PreparedData
from bbt_mp2.evaluator.scoring import decode_spans, option_metric, span_metric
from bbt_mp2.tasks.types import Metric

__all__ = ["RawOutputs", "assemble", "check_modes", "head_outputs", "is_labelled", "population_loss",
           "population_metric", "prediction"]


@dataclass
class RawOutputs:
    """Head outputs of a population, each ``P x N (x ...)`` or ``None`` when not computed.

    Attributes:
        scores: ``P x N x C`` float32 per-option scores (option tasks; ``-inf`` at padded options).
        span_loss: ``P x N`` float32 per-example span CE (when the span loss was requested).
        spans: ``P x N x 2`` int64 best (first, last) token of the predicted answer (span tasks).
    """

    scores: Tensor | None = None
    span_loss: Tensor | None = None
    spans: Tensor | None = None

    def map(self, fn) -> RawOutputs:  # noqa: ANN001 - a Tensor -> Tensor function
        """Apply ``fn`` to every present tensor."""
        return RawOutputs(*(None if x is None else fn(x) for x in (self.scores, self.span_loss, self.spans)))


def head_outputs(
    head: Any, mlm_head: Any, data: PreparedData, h: Tensor, rows: tuple[int, int], c: int, *, span_loss: bool,
    scoring: str, max_answer_tokens: int,
) -> RawOutputs:
    """Head outputs of ``c`` candidates x sorted examples ``rows = (r0, r1)`` from their last hidden states.

    Args:
        head: the MRC span head (``head(h) -> (start, end)``, ``option_scores``, ``best_spans``); unused on a
            cloze dataset.
        mlm_head: the :class:`~bbt_mp2.heads.MLMVerbalizerHead` scoring a cloze dataset (None otherwise).
        data: the prepared dataset.
        h: ``c*g x T x h`` last hidden states, candidate-major (``g = r1 - r0``).
        span_loss: also compute the per-example span CE (MRC format only).
        scoring: ``sum`` or ``product`` of an MRC option's start and end logits.
        max_answer_tokens: longest decoded span (span tasks).

    Returns:
        :class:`RawOutputs` with ``c x g (x ...)`` tensors.
    """
    (r0, r1), g, t = rows, rows[1] - rows[0], h.shape[1]
    if data.cloze:  # classic BBT: MLM logits of the verbalizer tokens at the mask position
        pos = data.mask_positions[r0:r1].repeat(c)
        return RawOutputs(mlm_head(h.float(), pos, data.verbalizer_ids).float().view(c, g, -1))
    start, end = head(h.float())
    scores = loss = spans = None
    if data.option_spans.shape[1] > 0:
        opt = data.option_spans[r0:r1].repeat(c, 1, 1)
        scores = head.option_scores(start, end, opt, scoring=scoring).float().view(c, g, -1)
    else:
        ctx, na = data.context_spans[r0:r1].repeat(c, 1), data.no_answer_spans[r0:r1].repeat(c, 1)
        spans = head.best_spans(start, end, ctx, max_answer_tokens, na).view(c, g, 2)
    if span_loss:
        loss = losses.span_ce(start.view(c, g, t), end.view(c, g, t), data.start_positions[r0:r1],
                              data.end_positions[r0:r1], data.attention_mask[r0:r1, :t], reduction="none")
    return RawOutputs(scores, loss, spans)


def assemble(parts: list[tuple[slice, slice, RawOutputs]], p_count: int, n: int) -> RawOutputs:
    """Stitch micro-batch outputs (candidate slice, example slice, outputs) into ``P x N (x ...)`` tensors."""
    out: dict[str, Tensor] = {}
    for cands, rows, raw in parts:
        for name in ("scores", "span_loss", "spans"):
            x = getattr(raw, name)
            if x is None:
                continue
            if name not in out:
                out[name] = torch.empty((p_count, n, *x.shape[2:]), dtype=x.dtype, device=x.device)
            out[name][cands, rows] = x
    return RawOutputs(out.get("scores"), out.get("span_loss"), out.get("spans"))


def is_labelled(dataset: EncodedDataset) -> bool:
    """True when every example carries the gold information losses and metrics read."""
    n, t = np.asarray(dataset.input_ids).shape
    if dataset.n_options > 0:
        labels = np.asarray(dataset.labels)
        return bool(((labels >= 0) & (labels < dataset.n_options)).all())
    sp, ep = np.asarray(dataset.start_positions), np.asarray(dataset.end_positions)
    return len(dataset.answers) == n and bool(((sp >= 0) & (sp < t) & (ep >= 0) & (ep < t)).all())


def population_metric(dataset: EncodedDataset, raw: RawOutputs, metric: Metric) -> np.ndarray:
    """``P`` float64 task metric from outputs in dataset order (CPU)."""
    if raw.scores is not None:
        return option_metric(raw.scores.argmax(-1).numpy(), np.asarray(dataset.labels), metric)
    assert raw.spans is not None
    return span_metric(decode_spans(dataset, raw.spans.numpy()), dataset.answers, metric)


def population_loss(dataset: EncodedDataset, raw: RawOutputs, loss_name: str, metric: np.ndarray) -> np.ndarray:
    """``P`` float64 loss (``loss_name`` already resolved) from outputs in dataset order (CPU)."""
    if loss_name == "neg_metric":
        return -np.asarray(metric, dtype=np.float64)
    if loss_name == "span_ce":
        assert raw.span_loss is not None
        return raw.span_loss.float().mean(-1).double().numpy()
    assert raw.scores is not None
    labels = torch.as_tensor(np.asarray(dataset.labels, dtype=np.int64))
    fn = losses.option_ce if loss_name == "option_ce" else losses.option_margin
    return fn(raw.scores, labels).double().numpy()


def prediction(dataset: EncodedDataset, raw: RawOutputs, loss_name: str, metric: Metric, labelled: bool) -> Prediction:
    """The :class:`Prediction` of the single candidate in ``raw`` (dataset order, CPU); NaN loss/metric when
    the data is unlabelled."""
    labels = np.asarray(dataset.labels, dtype=np.int64)
    texts: list[str] = []
    if raw.scores is not None:
        scores = raw.scores[0].double()
        predicted = scores.argmax(-1).numpy()
    else:
        assert raw.spans is not None
        scores = torch.zeros(len(dataset), 0, dtype=torch.float64)
        predicted = np.full(len(dataset), -1, dtype=np.int64)
        texts = decode_spans(dataset, raw.spans.numpy())[0]
    metric_v = loss_v = float("nan")
    if labelled:
        metric_arr = population_metric(dataset, raw, metric)
        metric_v = float(metric_arr[0])
        loss_v = float(population_loss(dataset, raw, loss_name, metric_arr)[0])
    return Prediction(metric=metric_v, loss=loss_v, predicted=predicted.astype(np.int64), labels=labels,
                      scores=scores.numpy(), texts=texts)


def check_modes(dataset: EncodedDataset, loss_name: str, prompt_mode: str, scoring: str) -> None:
    """Refuse an unknown prompt mode or scoring, and the span loss on a cloze dataset (it has no span head)."""
    if prompt_mode not in PROMPT_MODES:
        raise ConfigError(f"prompt_mode {prompt_mode!r} is unknown; choose one of {PROMPT_MODES}")
    if scoring not in SCORINGS:
        raise ConfigError(f"scoring {scoring!r} is unknown; choose one of {SCORINGS}")
    data = getattr(dataset, "data", dataset)  # a CheckedDataset wraps the encoded one
    if loss_name == "span_ce" and getattr(data, "verbalizer_ids", None) is not None:
        raise ConfigError(f"dataset {dataset.task!r} is in the cloze format (head=mlm), scored by the MLM head over "
                          "its verbalizer; span_ce needs the MRC span head: use loss=option_ce (auto) or head=mrc")
