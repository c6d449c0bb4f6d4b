"""Every task type -> one machine-reading-comprehension (MRC) example: (context, query, answer span).

Layouts (the text the model reads after ``[CLS] p_1..p_n``):

* Classification / sentence pair / NLI: the task's query template with the input text(s) quoted inside it,
  followed by the list of ALL label words in label order, each followed by the language's separator::

      情感分析："这个很好"的情感是？选项：负面，正面，
      Sentiment analysis: what is the sentiment of "it is good"? Options: negative, positive,

  The answer is the gold label word's span inside that option list.
* Multiple choice: the same, with the example's own options (``Example.options``); answer = the gold option.
* Span extraction: hard prompt + context + question, e.g. ``抽取式问答（可能没有答案）：文本"…"问题"…"``; the gold
  answer offsets are re-based into the MRC text. An unanswerable question (``answers == ()``) points at the fixed
  "no answer" phrase inside the hard prompt (``没有答案`` / ``no answer``).
* Keyword extraction (opinion targets): as span extraction with a fixed question (``评论的对象是？`` /
  ``what is being commented on?``).

Query templates live in a registry keyed by (template name, language); ``TaskSpec.template`` picks one (an empty
name picks the default of the task type). Truncation (done by :mod:`bbt_mp2.encoding`) only ever shortens the
quoted input texts (the template's ``cut`` roles), never the query wording, the question or the options.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from string import Formatter

from bbt_mp2.errors import ConfigError, DataError, UnknownNameError
from bbt_mp2.tasks.types import OPTION_TYPES, SPAN_TYPES, Example, TaskSpec, TaskType

__all__ = [
    "QueryTemplate",
    "Segment",
    "MRCExample",
    "register_template",
    "get_template",
    "template_names",
    "to_mrc",
    "template_for",
    "option_list_text",
    "NO_ANSWER",
    "ROLE_FIELDS",
]

logger = logging.getLogger(__name__)

NO_ANSWER = {"zh": "没有答案", "en": "no answer"}
"""The fixed phrase (per language) inside span hard prompts that unanswerable questions point at."""

# (text after the option list's header, separator after each option, joiner between "option+separator" items)
_OPTION_STYLE = {"zh": ("", "，", ""), "en": (" ", ",", " ")}

ROLE_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text", "sentence", "text_a", "context"),
    "text_a": ("text_a", "text1", "sentence1", "premise"),
    "text_b": ("text_b", "text2", "sentence2", "hypothesis"),
    "context": ("context", "document", "passage", "text"),
    "question": ("question", "text_a"),
    "reply": ("reply", "answer", "text_b"),
    "pronoun": ("pronoun", "span2_text"),
    "quote": ("quote", "span1_text"),
    "abst": ("abst", "text_a", "text"),
    "keyword": ("keyword", "keywords", "text_b"),
}
"""Template role -> the ``Example.fields`` keys that may hold it, tried in order."""


@dataclass(frozen=True)
class QueryTemplate:
    """One MRC query template.

    Attributes:
        name: registry name (lowercase-hyphen), e.g. ``"sentiment"``.
        lang: ``"zh"`` or ``"en"``.
        pattern: ``str.format`` pattern whose ``{role}`` slots are filled from ``Example.fields`` (see
            :data:`ROLE_FIELDS`); option templates are followed by the option list, span templates are not.
        kind: ``"options"`` (classification, pair, NLI, multiple choice) or ``"span"`` (span/keyword extraction).
        cut: roles that truncation may shorten (the quoted input texts), in the order they appear.
        no_answer: for span templates, the phrase inside ``pattern``'s literal text that unanswerable (or
            truncated-away) answers point at.
    """

    name: str
    lang: str
    pattern: str
    kind: str = "options"
    cut: tuple[str, ...] = ("text",)
    no_answer: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("options", "span"):
            raise ConfigError(f"template {self.name!r}: kind={self.kind!r}; expected 'options' or 'span'")
        if self.lang not in _OPTION_STYLE:
            raise ConfigError(f"template {self.name!r}: lang={self.lang!r}; expected one of {sorted(_OPTION_STYLE)}")
        roles = self.roles
        unknown = [r for r in roles if r not in ROLE_FIELDS]
        if unknown:
            raise ConfigError(f"template {self.name!r} uses unknown roles {unknown}; known: {sorted(ROLE_FIELDS)}")
        missing_cut = [r for r in self.cut if r not in roles]
        if missing_cut:
            raise ConfigError(f"template {self.name!r}: cut roles {missing_cut} do not occur in {self.pattern!r}")
        if self.kind == "span":
            if "context" not in roles:
                raise ConfigError(f"span template {self.name!r} must contain a {{context}} slot: {self.pattern!r}")
            head = self.pattern.split("{", 1)[0]
            if not self.no_answer or self.no_answer not in head:
                raise ConfigError(
                    f"span template {self.name!r}: no_answer phrase {self.no_answer!r} must occur in the literal "
                    f"text before the first slot of {self.pattern!r}"
                )

    @property
    def roles(self) -> tuple[str, ...]:
        """The ``{role}`` slots of ``pattern`` in order."""
        return tuple(f for _, f, _, _ in Formatter().parse(self.pattern) if f)


@dataclass(frozen=True)
class Segment:
    """A filled slot of a rendered template: ``text[start:end]`` holds role ``role``'s (maybe cut) value."""

    role: str
    start: int
    end: int
    cut: bool


@dataclass(frozen=True)
class MRCExample:
    """One example in MRC form. All character offsets index ``text``; ends are exclusive.

    Attributes:
        uid: the example's uid.
        text: the full MRC text the model reads (after ``[CLS]`` and the placeholders).
        query: option tasks: the whole text (template, quoted inputs and option list); span tasks: the hard
            prompt and question with the passage left out.
        context: the quoted input text(s) (option tasks, joined by a newline) or the passage (span tasks), as
            they appear in ``text`` (possibly truncated).
        options: the candidate answers listed in ``text`` (label words or the example's options); ``()`` for spans.
        option_spans: per option its (start, end) in ``text``.
        label: gold option index; ``None`` for span tasks and unlabelled examples.
        answer_text: the target span's text (gold option, first fitting gold answer, or the no-answer phrase).
        answer_start: offset of ``answer_text`` in ``text`` (``-1`` when unlabelled).
        answers: all gold answer strings (span tasks; ``()`` = unanswerable) or ``(gold option,)``.
        region: (start, end) of the part of ``text`` where answers may lie (the option list or the passage).
        no_answer_span: (start, end) of the no-answer phrase (span tasks), else ``(-1, -1)``.
        segments: the filled template slots (truncation uses the ``cut`` ones).
        truncated: whether a ``limits`` entry shortened some input text.
        answer_lost: span task whose gold answers all lie in the cut-away text (it then points at no-answer).
    """

    uid: str
    text: str
    query: str
    context: str
    options: tuple[str, ...]
    option_spans: tuple[tuple[int, int], ...]
    label: int | None
    answer_text: str
    answer_start: int
    answers: tuple[str, ...]
    region: tuple[int, int]
    no_answer_span: tuple[int, int] = (-1, -1)
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    truncated: bool = False
    answer_lost: bool = False


_TEMPLATES: dict[tuple[str, str], QueryTemplate] = {}
_ALIASES: dict[str, str] = {}
_DEFAULT_BY_TYPE = {
    TaskType.SINGLE: "classify",
    TaskType.PAIR: "pair",
    TaskType.NLI: "nli",
    TaskType.MULTIPLE_CHOICE: "choice",
    TaskType.SPAN: "extractive",
    TaskType.KEYWORD: "keyword-extraction",
}


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register_template(template: QueryTemplate, *, aliases: tuple[str, ...] = (), overwrite: bool = False) -> None:
    """Add a query template to the registry under (``template.name``, ``template.lang``).

    Args:
        template: the template.
        aliases: further names that resolve to ``template.name``.
        overwrite: replace an existing entry instead of raising.

    Raises:
        ConfigError: if the (name, lang) pair is taken and ``overwrite`` is False.
    """
    key = (_norm(template.name), template.lang)
    if key in _TEMPLATES and not overwrite and _TEMPLATES[key] != template:
        raise ConfigError(f"template {key[0]!r} ({key[1]}) is already registered; pass overwrite=True to replace it")
    _TEMPLATES[key] = template
    for alias in aliases:
        _ALIASES[_norm(alias)] = key[0]


def template_names(lang: str | None = None) -> list[str]:
    """Sorted registered template names (optionally only those with a ``lang`` version)."""
    return sorted({n for n, lg in _TEMPLATES if lang is None or lg == lang})


def get_template(name: str, lang: str) -> QueryTemplate:
    """Look up a template by name (or alias) and language.

    Raises:
        UnknownNameError: listing the known template names for ``lang``.
    """
    key = _norm(name)
    key = _ALIASES.get(key, key)
    try:
        return _TEMPLATES[(key, lang)]
    except KeyError:
        raise UnknownNameError(
            f"unknown MRC template {name!r} for lang {lang!r}; known: {', '.join(template_names(lang)) or 'none'} "
            f"(aliases: {', '.join(sorted(_ALIASES))}); register one with bbt_mp2.mrc.register_template"
        ) from None


def _resolve(task: TaskSpec, ex: Example, role: str, tpl: QueryTemplate) -> str:
    for key in ROLE_FIELDS[role]:
        value = ex.fields.get(key)
        if value is not None:
            return str(value)
    raise DataError(
        f"task {task.name!r}, example {ex.uid!r}: template {tpl.name!r} needs role {role!r} (one of fields "
        f"{list(ROLE_FIELDS[role])}) but the example has fields {sorted(ex.fields)}"
    )


def _render_pattern(
    task: TaskSpec, ex: Example, tpl: QueryTemplate, limits: Mapping[str, int]
) -> tuple[str, list[Segment], bool]:
    parts: list[str] = []
    segments: list[Segment] = []
    pos, truncated = 0, False
    for literal, role, _, _ in Formatter().parse(tpl.pattern):
        parts.append(literal)
        pos += len(literal)
        if not role:
            continue
        value = _resolve(task, ex, role, tpl)
        if role in tpl.cut and role in limits and limits[role] < len(value):
            value, truncated = value[: max(0, limits[role])], True
        parts.append(value)
        segments.append(Segment(role, pos, pos + len(value), role in tpl.cut))
        pos += len(value)
    return "".join(parts), segments, truncated


@lru_cache(maxsize=256)
def _option_list(lang: str, options: tuple[str, ...]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The option list text and each option's (start, end) within it."""
    head, sep, joiner = _OPTION_STYLE[lang]
    parts, spans, pos = [head], [], len(head)
    for i, opt in enumerate(options):
        if i:
            parts.append(joiner)
            pos += len(joiner)
        spans.append((pos, pos + len(opt)))
        parts.append(opt + sep)
        pos += len(opt) + len(sep)
    return "".join(parts), tuple(spans)


def option_list_text(lang: str, options: tuple[str, ...]) -> str:
    """The option list appended to an option template's query, e.g. ``"负面，正面，"`` / ``" negative, positive,"``."""
    return _option_list(lang, tuple(options))[0]


def _options_of(task: TaskSpec, ex: Example) -> tuple[str, ...]:
    options = tuple(ex.options or ()) if task.type == TaskType.MULTIPLE_CHOICE else tuple(task.label_words)
    if not options:
        what = "Example.options" if task.type == TaskType.MULTIPLE_CHOICE else "TaskSpec.label_words"
        raise DataError(f"task {task.name!r}, example {ex.uid!r}: no options ({what} is empty)")
    empty = [i for i, o in enumerate(options) if not o]
    if empty:
        raise DataError(f"task {task.name!r}, example {ex.uid!r}: options {empty} are empty strings")
    return options


def _option_mrc(task: TaskSpec, ex: Example, tpl: QueryTemplate, limits: Mapping[str, int]) -> MRCExample:
    body, segments, truncated = _render_pattern(task, ex, tpl, limits)
    options = _options_of(task, ex)
    opt_text, rel = _option_list(task.lang, options)
    spans = [(a + len(body), b + len(body)) for a, b in rel]
    text = body + opt_text
    label = ex.label
    if label is not None and not 0 <= label < len(options):
        raise DataError(
            f"task {task.name!r}, example {ex.uid!r}: label {label} out of range for {len(options)} options {options}"
        )
    answer_text = options[label] if label is not None else ""
    answer_start = spans[label][0] if label is not None else -1
    context = "\n".join(text[s.start : s.end] for s in segments if s.cut)
    return MRCExample(
        uid=ex.uid,
        text=text,
        query=text,
        context=context,
        options=options,
        option_spans=tuple(spans),
        label=label,
        answer_text=answer_text,
        answer_start=answer_start,
        answers=(answer_text,) if label is not None else (),
        region=(spans[0][0], spans[-1][1]),
        segments=tuple(segments),
        truncated=truncated,
    )


def _locate(task: TaskSpec, ex: Example, context: str, text: str, start: int) -> int:
    """Return the character offset of answer ``text`` in ``context`` (trusting ``start`` when it is right)."""
    if context[start : start + len(text)] == text:
        return start
    hits, pos = [], context.find(text)
    while pos >= 0:
        hits.append(pos)
        pos = context.find(text, pos + 1)
    if not hits:
        raise DataError(
            f"task {task.name!r}, example {ex.uid!r}: answer {text!r} does not occur in the context "
            f"(given offset {start}); fix the data or drop the answer"
        )
    best = min(hits, key=lambda h: abs(h - start))
    logger.debug("task %s, example %s: answer %r moved from offset %d to %d", task.name, ex.uid, text, start, best)
    return best


def _span_mrc(task: TaskSpec, ex: Example, tpl: QueryTemplate, limits: Mapping[str, int]) -> MRCExample:
    body, segments, truncated = _render_pattern(task, ex, tpl, limits)
    ctx_seg = next(s for s in segments if s.role == "context")
    full_context = _resolve(task, ex, "context", tpl)
    na_start = body.find(tpl.no_answer)  # QueryTemplate guarantees it lies in the literal before any slot
    no_answer_span = (na_start, na_start + len(tpl.no_answer))
    golds = tuple(ex.answers or ())
    kept = ctx_seg.end - ctx_seg.start
    answer_text, answer_start, lost = tpl.no_answer, na_start, False
    if ex.answers is None:  # unlabelled
        answer_text, answer_start = "", -1
    for span in golds:
        if not span.text:
            continue
        at = _locate(task, ex, full_context, span.text, span.start)
        if at + len(span.text) <= kept:
            answer_text, answer_start = span.text, ctx_seg.start + at
            break
    else:
        lost = any(s.text for s in golds)
    return MRCExample(
        uid=ex.uid,
        text=body,
        query=body[: ctx_seg.start] + body[ctx_seg.end :],
        context=body[ctx_seg.start : ctx_seg.end],
        options=(),
        option_spans=(),
        label=None,
        answer_text=answer_text,
        answer_start=answer_start,
        answers=tuple(s.text for s in golds if s.text),
        region=(ctx_seg.start, ctx_seg.end),
        no_answer_span=no_answer_span,
        segments=tuple(segments),
        truncated=truncated,
        answer_lost=lost,
    )


def template_for(task: TaskSpec) -> QueryTemplate:
    """The query template of ``task`` (its ``template`` name, or the default of its type when empty).

    Raises:
        UnknownNameError: unknown template name (the message lists the known ones).
        ConfigError: the template's kind does not fit the task type (e.g. a span template for a classifier).
    """
    tpl = get_template(task.template or _DEFAULT_BY_TYPE[task.type], task.lang)
    want = "options" if task.type in OPTION_TYPES else "span"
    if tpl.kind != want:
        raise ConfigError(
            f"task {task.name!r} ({task.type.value}) uses template {tpl.name!r} of kind {tpl.kind!r}; "
            f"pick a {want!r} template: "
            f"{', '.join(n for n in template_names(task.lang) if get_template(n, task.lang).kind == want)}"
        )
    return tpl


def to_mrc(task: TaskSpec, ex: Example, *, limits: Mapping[str, int] | None = None) -> MRCExample:
    """Convert one example of ``task`` into its MRC form.

    Args:
        task: the task spec (its ``lang``, ``type``, ``template`` and ``label_words`` are used).
        ex: the example.
        limits: optional role -> maximum number of characters kept of that input text (only roles the template
            allows to cut; used by the encoder to truncate). Span answers past the cut are "lost" and the
            example then points at the no-answer phrase (``answer_lost`` is set).

    Returns:
        The :class:`MRCExample`; ``text[answer_start:answer_start + len(answer_text)] == answer_text``.

    Raises:
        UnknownNameError: unknown template name.
        DataError: a field the template needs is missing, a label is out of range, or a gold answer does not
            occur in the context.
    """
    tpl = template_for(task)
    limits = limits or {}
    if task.type in SPAN_TYPES:
        return _span_mrc(task, ex, tpl, limits)
    return _option_mrc(task, ex, tpl, limits)


def _register_builtin() -> None:
    # fmt: off
    opts = [
        # name, zh pattern, en pattern, cut roles, aliases
        ("sentiment", '情感分析："{text}"的情感是？选项：',
         'Sentiment analysis: what is the sentiment of "{text}"? Options:', ("text",), ("polarity",)),
        ("topic", '主题识别："{text}"的主题是？选项：', 'Topic recognition: what is the topic of "{text}"? Options:',
         ("text",), ("news", "topic-classification")),
        ("rating", '打分："{text}"的评价是？选项：', 'Rating: what is the evaluation of "{text}"? Options:',
         ("text",), ("review-rating", "stars")),
        ("classify", '分类："{text}"的类别是？选项：', 'Classification: what is the category of "{text}"? Options:',
         ("text",), ("single", "classification")),
        ("subjectivity", '主客观判断："{text}"是主观的还是客观的？选项：',
         'Subjectivity analysis: is "{text}" subjective or objective? Options:', ("text",), ("subj",)),
        ("question-type", '问题分类："{text}"问的是什么类型的答案？选项：',
         'Question classification: what type of answer does the question "{text}" ask for? Options:',
         ("text",), ("question-classification", "trec")),
        ("meaning", '意思判别："{text_a}"与"{text_b}"的意思是？选项：',
         'Meaning judgement: do "{text_a}" and "{text_b}" have the same meaning? Options:',
         ("text_a", "text_b"), ("paraphrase", "similarity", "matching")),
        ("relation", '意思判别："{text_a}"与"{text_b}"的关系是？选项：',
         'Meaning judgement: what is the relation between "{text_a}" and "{text_b}"? Options:',
         ("text_a", "text_b"), ("nli", "entailment")),
        ("pair", '句对判别："{text_a}"与"{text_b}"的关系是？选项：',
         'Sentence pair judgement: what is the relation between "{text_a}" and "{text_b}"? Options:',
         ("text_a", "text_b"), ("sentence-pair",)),
        ("qa-match", '问答判断："{question}"的回答"{reply}"符合问题吗？选项：',
         'QA judgement: does the answer "{reply}" fit the question "{question}"? Options:',
         ("question", "reply"), ("zhidao",)),
        ("coreference", '指代判别:在句子"{text}"中，代词"{pronoun}"指代的和"{quote}"一致吗？选项：',
         'Coreference judgement: in the sentence "{text}", does the pronoun "{pronoun}" refer to "{quote}"? Options:',
         ("text",), ("wsc", "cluewsc")),
        ("keyword-match", '主题判别:"{abst}"和关键词"{keyword}"一致吗？选项：',
         'Topic judgement: are "{abst}" and the keywords "{keyword}" consistent? Options:',
         ("abst",), ("csl", "keywords")),
        ("choice", '选择：与"{context}"最相符的是？选项：', 'Choice: which option fits "{context}" best? Options:',
         ("context",), ("multiple-choice",)),
        ("reading-choice", '阅读选择：文档"{context}"，问题"{question}",选项：',
         'Reading choice: document "{context}", question "{question}", options:', ("context",), ("c3", "reading")),
        ("poetry", '诗句理解：与句子"{context}"最相近的诗句是？选项：',
         'Verse understanding: which verse is closest to the sentence "{context}"? Options:', ("context",),
         ("ccpm", "verse")),
        ("idiom-cloze", '成语填空：文本"{context}"中空缺处最合适的成语是？选项：',
         'Cloze: which phrase best fills the blank in "{context}"? Options:', ("context",), ("chid", "cloze", "idiom")),
    ]
    for name, zh, en, cut, aliases in opts:
        register_template(QueryTemplate(name, "zh", zh, "options", cut), aliases=aliases)
        register_template(QueryTemplate(name, "en", en, "options", cut), aliases=aliases)
    spans = [
        ("extractive", '抽取式问答（可能没有答案）：文本"{context}"问题"{question}"',
         'Extractive QA (there may be no answer): text "{context}" question "{question}"',
         ("span", "mrc", "extraction", "extractive-qa", "cmrc2018", "drcd")),
        ("keyword-extraction", '抽取式问答（可能没有答案）：文本"{context}"问题"评论的对象是？"',
         'Extractive QA (there may be no answer): text "{context}" question "what is being commented on?"',
         ("keyword", "opinion-target", "cote")),
    ]
    for name, zh, en, aliases in spans:
        register_template(QueryTemplate(name, "zh", zh, "span", ("context",), NO_ANSWER["zh"]), aliases=aliases)
        register_template(QueryTemplate(name, "en", en, "span", ("context",), NO_ANSWER["en"]), aliases=aliases)
    # fmt: on


_register_builtin()
