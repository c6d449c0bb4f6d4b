"""MRC conversion: exact layouts, exact character offsets for every registered task, errors."""

from __future__ import annotations

import pytest

from bbt_mp2.errors import ConfigError, DataError, UnknownNameError
from bbt_mp2.mrc import QueryTemplate, get_template, register_template, template_names, to_mrc
from bbt_mp2.tasks import fewshot, get_task, load_split, task_names
from bbt_mp2.tasks.types import Example, Span, TaskSpec, TaskType

ZH_SENT = TaskSpec("t-zh", "zh", TaskType.SINGLE, ("负面", "正面"), template="sentiment")
EN_SENT = TaskSpec("t-en", "en", TaskType.SINGLE, ("negative", "positive"), template="sentiment")
ZH_SPAN = TaskSpec("t-zh-span", "zh", TaskType.SPAN, template="extractive")
EN_SPAN = TaskSpec("t-en-span", "en", TaskType.SPAN, template="extractive")


def _at(m, start: int, text: str) -> str:
    return m.text[start : start + len(text)]


def test_chinese_sentiment_layout_is_the_reference_style():
    m = to_mrc(ZH_SENT, Example("u1", {"text": "这个很好"}, label=1))
    assert m.text == '情感分析："这个很好"的情感是？选项：负面，正面，'
    assert m.answer_text == "正面" and _at(m, m.answer_start, "正面") == "正面"
    assert [m.text[s:e] for s, e in m.option_spans] == ["负面", "正面"]
    assert m.answer_start == m.text.rindex("正面")


def test_english_sentiment_layout():
    m = to_mrc(EN_SENT, Example("u1", {"text": "it is good"}, label=0))
    assert m.text == 'Sentiment analysis: what is the sentiment of "it is good"? Options: negative, positive,'
    assert _at(m, m.answer_start, "negative") == "negative" == m.answer_text
    assert m.region == (m.option_spans[0][0], m.option_spans[1][1])


def test_pair_lists_both_texts_and_all_options():
    spec = TaskSpec("p", "zh", TaskType.NLI, ("矛盾", "中立", "相似"), template="relation")
    m = to_mrc(spec, Example("u", {"text_a": "甲", "text_b": "乙"}, label=2))
    assert m.text == '意思判别："甲"与"乙"的关系是？选项：矛盾，中立，相似，'
    assert m.answer_text == "相似" and _at(m, m.answer_start, "相似") == "相似"


def test_multiple_choice_uses_example_options():
    spec = TaskSpec("mc", "zh", TaskType.MULTIPLE_CHOICE, template="reading-choice", k_shot=32)
    ex = Example("u", {"context": "文档", "question": "问什么"}, label=1, options=("甲乙", "丙丁", "戊"))
    m = to_mrc(spec, ex)
    assert m.text.startswith('阅读选择：文档"文档"，问题"问什么",选项：')
    assert [m.text[s:e] for s, e in m.option_spans] == ["甲乙", "丙丁", "戊"]
    assert m.answer_text == "丙丁" and _at(m, m.answer_start, "丙丁") == "丙丁"


@pytest.mark.parametrize("spec,phrase", [(ZH_SPAN, "没有答案"), (EN_SPAN, "no answer")])
def test_span_offsets_rebased_and_unanswerable_points_at_no_answer(spec, phrase):
    context = "巴黎是法国的首都。" if spec.lang == "zh" else "Paris is the capital of France."
    answer = "法国" if spec.lang == "zh" else "France"
    ex = Example("u", {"context": context, "question": "q?"}, answers=(Span(answer, context.index(answer)),))
    m = to_mrc(spec, ex)
    assert _at(m, m.answer_start, answer) == answer and m.answers == (answer,)
    assert m.text[m.region[0] : m.region[1]] == context
    none = to_mrc(spec, Example("v", {"context": context, "question": "q?"}, answers=()))
    assert none.answer_text == phrase and _at(none, none.answer_start, phrase) == phrase
    assert none.answers == () and none.answer_start < none.region[0]


def test_keyword_extraction_has_fixed_question():
    spec = TaskSpec("kw", "zh", TaskType.KEYWORD, template="keyword-extraction", k_shot=32)
    m = to_mrc(spec, Example("u", {"context": "芝罘岛很壮观"}, answers=(Span("芝罘岛", 0),)))
    assert "评论的对象是？" in m.text and _at(m, m.answer_start, "芝罘岛") == "芝罘岛"
    en = TaskSpec("kw-en", "en", TaskType.KEYWORD, template="keyword-extraction", k_shot=32)
    assert "what is being commented on?" in to_mrc(en, Example("u", {"context": "x"}, answers=())).text


def test_wrong_answer_offset_is_repaired_by_search():
    ex = Example("u", {"context": "abc France xyz", "question": "q"}, answers=(Span("France", 0),))
    m = to_mrc(EN_SPAN, ex)
    assert _at(m, m.answer_start, "France") == "France"


def test_limits_cut_only_the_input_and_mark_lost_answers():
    ex = Example("u", {"context": "Paris is nice. France too.", "question": "where?"}, answers=(Span("France", 15),))
    m = to_mrc(EN_SPAN, ex, limits={"context": 14})
    assert m.truncated and m.answer_lost and m.context == "Paris is nice."
    assert m.answer_text == "no answer" and m.answers == ("France",)
    assert 'question "where?"' in m.text
    kept = to_mrc(EN_SPAN, ex, limits={"context": 22})
    assert not kept.answer_lost and _at(kept, kept.answer_start, "France") == "France"


def test_unknown_template_lists_known_names():
    spec = TaskSpec("x", "en", TaskType.SINGLE, ("a", "b"), template="no-such-template")
    with pytest.raises(UnknownNameError, match="no-such-template.*known:.*sentiment"):
        to_mrc(spec, Example("u", {"text": "t"}, label=0))
    assert "topic" in template_names("en") and "topic" in template_names("zh")


def test_errors_name_the_problem():
    with pytest.raises(DataError, match="role 'text'.*fields"):
        to_mrc(EN_SENT, Example("u", {"other": "t"}, label=0))
    with pytest.raises(DataError, match="label 5 out of range"):
        to_mrc(EN_SENT, Example("u", {"text": "t"}, label=5))
    with pytest.raises(ConfigError, match="kind 'span'"):
        to_mrc(TaskSpec("x", "en", TaskType.SINGLE, ("a", "b"), template="extractive"), Example("u", {"text": "t"}))
    with pytest.raises(DataError, match="does not occur"):
        to_mrc(EN_SPAN, Example("u", {"context": "abc", "question": "q"}, answers=(Span("zzz", 0),)))


def test_register_custom_template():
    register_template(QueryTemplate("test-custom", "en", 'Is "{text}" spam? Options:'), aliases=("spamcheck",))
    spec = TaskSpec("s", "en", TaskType.SINGLE, ("no", "yes"), template="spamcheck")
    m = to_mrc(spec, Example("u", {"text": "buy now"}, label=1))
    assert m.text == 'Is "buy now" spam? Options: no, yes,' and _at(m, m.answer_start, "yes") == "yes"
    assert get_template("test_custom", "en").name == "test-custom"
    with pytest.raises(ConfigError, match="no_answer"):
        QueryTemplate("bad", "en", 'text "{context}"', kind="span", cut=("context",), no_answer="no answer")


def _examples(name: str) -> list[Example]:
    split = fewshot(name, 13)
    return [*split.train, *split.dev, *load_split(name, "test")[:200]]


@pytest.mark.parametrize("name", task_names())
def test_every_task_offsets_exact(name):
    spec = get_task(name)
    examples = _examples(name)
    assert examples
    for ex in examples:
        m = to_mrc(spec, ex)
        assert m.text[m.answer_start : m.answer_start + len(m.answer_text)] == m.answer_text, ex.uid
        for (s, e), opt in zip(m.option_spans, m.options):
            assert m.text[s:e] == opt
        if spec.is_option_task:
            options = ex.options if spec.type == TaskType.MULTIPLE_CHOICE else spec.label_words
            assert m.options == tuple(options)
            assert m.answer_text == options[ex.label]
        elif ex.answers:
            assert m.answer_text == ex.answers[0].text
        else:
            assert m.answer_text in ("没有答案", "no answer")
