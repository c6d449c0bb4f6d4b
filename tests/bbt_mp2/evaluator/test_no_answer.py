"""Span decoding can answer "no answer": real cmrc2018 / drcd examples whose answer was truncated away.

The encoder points such examples (and unanswerable ones) at the no-answer phrase of the query; the span loss trains
towards it. These tests check that the evaluator and the pre-training evaluation (which goes through the
evaluator) can decode that phrase, and that it decodes to the empty answer.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bbt_mp2.encoding import encode
from bbt_mp2.evaluator import Evaluator
from bbt_mp2.evaluator.scoring import decode_spans
from bbt_mp2.heads import MRCHead
from bbt_mp2.tasks import get_task, load_split
from bbt_mp2.testing import build_tiny_backbone

N_TOK = 4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # noqa: ANN202 - tiny ops on a shared 2-core machine are far faster on one thread
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def backbone():  # noqa: ANN201
    return build_tiny_backbone(n_layers=2, hidden=32, seed=0)


def _lost(task: str, backbone):  # noqa: ANN001, ANN202
    """The first real examples of ``task`` encoded at 96 tokens: some lose their answer to truncation."""
    spec = get_task(task)
    examples = list(load_split(task, "train"))[:40]
    data = encode(spec, examples, backbone.tokenizer, n_tokens=N_TOK, placeholder_ids=backbone.placeholder_ids(N_TOK),
                  max_length=96)
    assert 0 < data.n_answer_lost < len(data), "fixture must mix kept and lost answers"
    return data


def _no_answer_head() -> MRCHead:
    """A head with zero weight: every position gets the same logit, so every span ties with the no-answer span,
    and the no-answer span wins ties."""
    head = MRCHead(32, seed=0)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.fill_(5.0)
    return head


@pytest.mark.parametrize("task", ["cmrc2018", "drcd"])
def test_truncated_away_answers_decode_as_no_answer(task, backbone):
    data = _lost(task, backbone)
    ev = Evaluator(backbone, _no_answer_head(), cache_size=0)
    pred = ev.predict(data, torch.zeros(1, N_TOK, 32), (0,), loss="span_ce")
    lost = np.flatnonzero(data.answer_lost)
    assert all(pred.texts[i] == "" for i in lost)
    # the answers were lost, so "no answer" still scores 0 against the gold strings
    assert pred.metric == pytest.approx(0.0)


def test_decoder_maps_the_no_answer_span_to_the_empty_answer(backbone):
    data = _lost("cmrc2018", backbone)
    na = np.asarray(data.no_answer_spans)
    ctx = np.asarray(data.context_spans)
    texts = decode_spans(data, np.stack([na, np.stack([ctx[:, 0], ctx[:, 0]], -1)])[:, :, :])
    assert texts[0] == [""] * len(data)  # the no-answer phrase is not an answer string
    assert all(t for t in texts[1])  # a context token is


def test_pretraining_evaluation_answers_no_answer(backbone):
    from bbt_mp2.pretrain import score_dataset

    data = _lost("drcd", backbone)
    res = score_dataset(backbone, _no_answer_head(), data, torch.zeros(1, N_TOK, 32), (0,))
    assert [res.texts[i] for i in np.flatnonzero(data.answer_lost)] == [""] * data.n_answer_lost


def test_an_unanswerable_gold_scores_one_when_no_answer_is_decoded(backbone):
    data = _lost("cmrc2018", backbone)
    data.answers = [[] for _ in range(len(data))]  # as if every question were unanswerable
    ev = Evaluator(backbone, _no_answer_head(), cache_size=0)
    res = ev.evaluate(data, torch.zeros(1, 1, N_TOK, 32), (0,), loss="span_ce")
    assert float(res.metric[0]) == pytest.approx(1.0)
