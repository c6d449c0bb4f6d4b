import math

import pytest

from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.tasks import Metric, accuracy, binary_f1, compute_metric, roc_auc, span_em, span_f1


def test_accuracy_and_binary_f1_hand_computed():
    assert accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == pytest.approx(0.75)
    # tp=2 fp=1 fn=1 -> F1 = 2*2 / (2*2 + 1 + 1) = 2/3
    assert binary_f1([1, 1, 0, 0, 1], [1, 0, 0, 1, 1]) == pytest.approx(2 / 3)
    assert binary_f1([0, 0], [0, 0]) == 0.0
    assert binary_f1([0, 0, 1], [1, 0, 0]) == 0.0
    with pytest.raises(ShapeError, match="predictions have 2 entries but gold labels 3"):
        accuracy([0, 1], [0, 1, 1])


def test_span_f1_character_level_for_chinese():
    assert span_f1("北京大学", ["北京"]) == pytest.approx(2 / 3)  # P = 2/4, R = 2/2
    assert span_f1("北京", ["上海", "北京，"]) == 1.0  # max over golds, punctuation ignored
    assert span_f1("天津", ["北京"]) == 0.0


def test_span_f1_word_level_for_english_with_squad_normalisation():
    assert span_f1("the Eiffel Tower", ["Eiffel Tower in Paris"]) == pytest.approx(2 / 3)  # P = 1, R = 2/4
    assert span_em("The Eiffel Tower!", ["eiffel tower"]) == 1.0
    assert span_em("Eiffel", ["eiffel tower"]) == 0.0


def test_no_answer_spans():
    assert span_f1("", []) == 1.0 and span_em("", []) == 1.0
    assert span_f1("something", []) == 0.0 and span_em("something", []) == 0.0


def test_roc_auc_hand_computed():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)
    assert roc_auc([0.9, 0.1], [1, 0]) == 1.0
    assert math.isnan(roc_auc([0.1, 0.2], [1, 1]))
    with pytest.raises(ShapeError, match="labels must be 0/1"):
        roc_auc([0.1, 0.2], [0, 2])


def test_compute_metric_dispatch():
    assert compute_metric(Metric.ACC, [1, 0], [1, 1]) == 0.5
    assert compute_metric("f1", [1, 1, 0, 0, 1], [1, 0, 0, 1, 1]) == pytest.approx(2 / 3)
    assert compute_metric("span_f1", ["北京大学", ""], [["北京"], []]) == pytest.approx((2 / 3 + 1) / 2)
    assert compute_metric(Metric.SPAN_EM, ["a b"], [["A B."]]) == 1.0
    with pytest.raises(ConfigError, match="unknown metric 'bleu'"):
        compute_metric("bleu", [], [])
    with pytest.raises(ShapeError, match="1 predicted answers for 2 references"):
        compute_metric("span_em", ["x"], [["x"], ["y"]])
