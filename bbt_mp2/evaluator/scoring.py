"""Task metrics of a population from the evaluator's raw outputs (option scores or predicted spans).

The metrics themselves live in :mod:`bbt_mp2.tasks.metrics`; this module picks the metric and decodes spans."""

from __future__ import annotations

import logging

import numpy as np

from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import ConfigError, UnknownNameError
from bbt_mp2.evaluator.plan import no_answer_spans
from bbt_mp2.tasks import metrics as task_metrics
from bbt_mp2.tasks.types import Metric

__all__ = ["resolve_metric", "option_metric", "decode_spans", "span_metric"]

logger = logging.getLogger(__name__)


def resolve_metric(dataset: EncodedDataset, metric: Metric | str | None) -> Metric:
    """The metric to report: ``metric`` if given, else the task spec's (``bbt_mp2.tasks.get_task``), else
    accuracy for option tasks and span F1 for span tasks."""
    if metric is not None:
        try:
            return Metric(metric)
        except ValueError:
            raise ConfigError(f"metric {metric!r} is unknown; choose one of {[m.value for m in Metric]}") from None
    try:
        from bbt_mp2.tasks import get_task

        return get_task(dataset.task).metric
    except (ImportError, UnknownNameError, KeyError):
        logger.debug("task %r is not registered; using the default metric", dataset.task)
    return Metric.ACC if dataset.n_options > 0 else Metric.SPAN_F1


def option_metric(pred: np.ndarray, labels: np.ndarray, metric: Metric) -> np.ndarray:
    """Accuracy or binary F1 (positive class = option 1) per candidate (:func:`bbt_mp2.tasks.metrics.label_metric`).

    Args:
        pred: ``P x N`` int predicted option per candidate and example.
        labels: ``N`` int gold option.
        metric: ``acc`` or ``f1``.

    Returns:
        ``P`` float64 in [0, 1].
    """
    if metric not in (Metric.ACC, Metric.F1):
        raise ConfigError(f"metric {metric.value!r} does not apply to option predictions; use 'acc' or 'f1'")
    return task_metrics.label_metric(pred, labels, metric)


def decode_spans(dataset: EncodedDataset, spans: np.ndarray) -> list[list[str]]:
    """Predicted token spans -> answer strings (THE span decoder).

    A span equal to the example's no-answer phrase (``dataset.no_answer_spans``) decodes to ``""`` (no answer),
    as does an invalid span; any other span decodes to the MRC-text characters it covers
    (:meth:`EncodedDataset.span_text`).

    Args:
        dataset: the encoded dataset (needs ``offsets`` and ``mrc_texts``).
        spans: ``P x N x 2`` int (first, last) token, inclusive.

    Returns:
        ``P`` lists of ``N`` strings.
    """
    if len(dataset.offsets) != len(dataset) or len(dataset.mrc_texts) != len(dataset):
        raise ConfigError(
            f"span decoding needs dataset.offsets and dataset.mrc_texts for all {len(dataset)} examples; got "
            f"{len(dataset.offsets)} and {len(dataset.mrc_texts)}. Encode the data with bbt_mp2.encoding.encode."
        )
    spans = np.asarray(spans, dtype=np.int64)
    no_answer = (spans == no_answer_spans(dataset)[None]).all(-1)  # P x N
    return [[("" if no_answer[p, i] else dataset.span_text(i, int(s), int(e))) for i, (s, e) in enumerate(cand)]
            for p, cand in enumerate(spans)]


def span_metric(texts: list[list[str]], answers: list[list[str]], metric: Metric) -> np.ndarray:
    """Mean span F1 / EM per candidate (:func:`bbt_mp2.tasks.metrics.compute_metric`), ``P`` float64."""
    if metric not in (Metric.SPAN_F1, Metric.SPAN_EM):
        raise ConfigError(f"metric {metric.value!r} does not apply to span predictions; use 'span_f1' or 'span_em'")
    if texts and len(answers) != len(texts[0]):
        raise ConfigError(f"span metric needs gold answers for every example; got {len(answers)}")
    return np.array([task_metrics.compute_metric(metric, row, answers) for row in texts], dtype=np.float64)
