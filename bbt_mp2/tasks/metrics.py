"""Metrics: accuracy, binary F1 (MRPC), SQuAD-style span F1 / exact match (character level for Chinese), ROC AUC.

THE metric implementation: the evaluator (populations), pre-training dev evaluation (through the evaluator), the
methods' controls and the benchmarks all call this module. All return floats in [0, 1] (not percentages).

Span normalisation (SQuAD v1 evaluation, extended to Chinese as in the CMRC 2018 evaluation script): lower-case,
drop ASCII and CJK punctuation, drop the English articles a/an/the, collapse whitespace. Tokens for F1: every CJK
character is a token of its own, other text is split on whitespace, so Chinese F1 is character-level and English F1
is word-level.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.tasks.types import Metric

__all__ = ["label_metric", "accuracy", "binary_f1", "span_f1", "span_em", "normalize_answer", "answer_tokens",
           "roc_auc", "compute_metric"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af])")
_PUNCT = set(string.punctuation) | set("，。、；：？！…—·「」『』《》〈〉（）【】〔〕“”‘’﹏～￥％＃＠＆＊＋－／＼｜．")


def _labels(pred: Sequence[int] | np.ndarray, gold: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, g = np.asarray(pred).reshape(-1), np.asarray(gold).reshape(-1)
    if p.shape != g.shape:
        raise ShapeError(f"predictions have {p.size} entries but gold labels {g.size}; expected the same number")
    if p.size == 0:
        raise ShapeError("no predictions to score; expected at least one")
    return p, g


def label_metric(pred: np.ndarray, gold: Sequence[int] | np.ndarray, metric: Metric | str,
                 positive: int = 1) -> np.ndarray:
    """Accuracy or binary F1 of many prediction rows at once (THE label-metric implementation).

    Args:
        pred: ``P x N`` (or ``N``) int predicted labels, one row per candidate.
        gold: ``N`` int gold labels.
        metric: ``acc`` or ``f1`` (F1 of the ``positive`` class, e.g. MRPC paraphrase; 0.0 without true
            positives).
        positive: the positive class of F1.

    Returns:
        ``P`` float64 in [0, 1].

    Raises:
        ShapeError: ``pred`` rows and ``gold`` differ in length, or are empty. ConfigError: another metric.
    """
    p = np.asarray(pred)
    p = p.reshape(1, -1) if p.ndim <= 1 else p.reshape(-1, p.shape[-1])
    g = np.asarray(gold).reshape(-1)
    if p.shape[1] != g.size:
        raise ShapeError(f"predictions have {p.shape[1]} entries per row but gold labels {g.size}; expected the same "
                         "number")
    if g.size == 0:
        raise ShapeError("no predictions to score; expected at least one")
    metric = _as_metric(metric)
    if metric is Metric.ACC:
        return (p == g[None, :]).mean(axis=1).astype(np.float64)
    if metric is not Metric.F1:
        raise ConfigError(f"metric {metric.value!r} does not apply to label predictions; use 'acc' or 'f1'")
    tp = ((p == positive) & (g == positive)).sum(axis=1)
    fp = ((p == positive) & (g != positive)).sum(axis=1)
    fn = ((p != positive) & (g == positive)).sum(axis=1)
    return np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0).astype(np.float64)


def accuracy(pred: Sequence[int] | np.ndarray, gold: Sequence[int] | np.ndarray) -> float:
    """Fraction of ``pred == gold`` (two length-N int sequences)."""
    p, g = _labels(pred, gold)
    return float(label_metric(p, g, Metric.ACC)[0])


def binary_f1(pred: Sequence[int] | np.ndarray, gold: Sequence[int] | np.ndarray, positive: int = 1) -> float:
    """F1 of the ``positive`` class (label index 1 by default, e.g. MRPC paraphrase); 0.0 when undefined."""
    p, g = _labels(pred, gold)
    return float(label_metric(p, g, Metric.F1, positive)[0])


def _as_metric(metric: Metric | str) -> Metric:
    try:
        return Metric(metric)
    except ValueError:
        raise ConfigError(f"unknown metric {metric!r}; expected one of {[m.value for m in Metric]}") from None


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation (see module docstring)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT or unicodedata.category(ch).startswith("P") else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    """Tokens of a normalised answer: CJK characters one by one, other runs split on whitespace."""
    return _CJK.sub(r" \1 ", normalize_answer(text)).split()


def _f1(pred: str, gold: str) -> float:
    p, g = answer_tokens(pred), answer_tokens(gold)
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def span_f1(pred: str, golds: Sequence[str]) -> float:
    """Token F1 of one predicted answer, max over the gold answers.

    ``golds`` empty means "no answer": 1.0 if the prediction is empty too, else 0.0.
    """
    if not golds:
        return float(not answer_tokens(pred))
    return max(_f1(pred, g) for g in golds)


def span_em(pred: str, golds: Sequence[str]) -> float:
    """Exact match after normalisation, max over the gold answers (empty ``golds`` = no answer)."""
    if not golds:
        return float(not answer_tokens(pred))
    p = "".join(answer_tokens(pred))
    return float(any(p == "".join(answer_tokens(g)) for g in golds))


def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher = class 1) for binary ``labels`` (0/1), ties counted 1/2.

    Returns:
        The AUC in [0, 1]; ``nan`` when ``labels`` hold only one class (AUC undefined).
    """
    s, y = np.asarray(scores, dtype=np.float64).reshape(-1), np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise ShapeError(f"{s.size} scores but {y.size} labels; expected the same number")
    if not np.all(np.isin(y, (0, 1))):
        raise ShapeError(f"labels must be 0/1, got values {sorted(set(y.tolist()))[:5]}")
    n_pos, n_neg = int(np.sum(y == 1)), int(np.sum(y == 0))
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def compute_metric(metric: Metric | str, predictions: Sequence, references: Sequence) -> float:
    """The mean of ``metric`` over a dataset.

    Args:
        metric: a :class:`Metric` or its value (``"acc"``, ``"f1"``, ``"span_f1"``, ``"span_em"``).
        predictions: ``acc``/``f1``: N predicted label indices; span metrics: N predicted answer strings.
        references: ``acc``/``f1``: N gold label indices; span metrics: N lists of gold answer strings.

    Raises:
        ConfigError: unknown metric. ShapeError: lengths differ or are zero.
    """
    metric = _as_metric(metric)
    if metric is Metric.ACC:
        return accuracy(predictions, references)
    if metric is Metric.F1:
        return binary_f1(predictions, references)
    if len(predictions) != len(references) or not predictions:
        raise ShapeError(f"{len(predictions)} predicted answers for {len(references)} references; expected the "
                         f"same non-zero number")
    fn = span_f1 if metric is Metric.SPAN_F1 else span_em
    return float(np.mean([fn(p, list(r)) for p, r in zip(predictions, references)]))
