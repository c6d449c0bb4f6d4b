"""Templates: the MRC query templates (registry keyed by (name, language), built-ins, a task's template) and the
classic BBT cloze templates with their verbalizers (``head=mlm``).

A template is a ``str.format`` pattern whose ``{role}`` slots are filled from ``Example.fields`` (see
:data:`ROLE_FIELDS`). Option templates (classification, sentence pair, NLI, multiple choice) are followed by the
list of all options; span templates (span and keyword extraction) carry a fixed no-answer phrase that unanswerable
questions point at. :mod:`bbt_mp2.mrc` renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter

from bbt_mp2.errors import ConfigError, UnknownNameError
from bbt_mp2.tasks.types import OPTION_TYPES, TaskSpec, TaskType

__all__ = [
    "QueryTemplate",
    "register_template",
    "get_template",
    "template_names",
    "template_for",
    "NO_ANSWER",
    "ROLE_FIELDS",
    "OPTION_STYLE",
    "ClozeTemplate",
    "register_cloze_template",
    "cloze_template_for",
    "verbalizer_words",
    "REFERENCE_VERBALIZERS",
]

NO_ANSWER = {"zh": "没有答案", "en": "no answer"}
"""The fixed phrase (per language) inside span hard prompts that unanswerable questions point at."""

# (text after the option list's header, separator after each option, joiner between "option+separator" items)
OPTION_STYLE = {"zh": ("", "，", ""), "en": (" ", ",", " ")}

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
        if self.lang not in OPTION_STYLE:
            raise ConfigError(f"template {self.name!r}: lang={self.lang!r}; expected one of {sorted(OPTION_STYLE)}")
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


_TEMPLATES: dict[tuple[str, str], QueryTemplate] = {}
_ALIASES: dict[str, str] = {}
DEFAULT_BY_TYPE = {
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
            f"(aliases: {', '.join(sorted(_ALIASES))}); register one with bbt_mp2.templates.register_template"
        ) from None


def template_for(task: TaskSpec) -> QueryTemplate:
    """The query template of ``task`` (its ``template`` name, or the default of its type when empty).

    Raises:
        UnknownNameError: unknown template name (the message lists the known ones).
        ConfigError: the template's kind does not fit the task type (e.g. a span template for a classifier).
    """
    tpl = get_template(task.template or DEFAULT_BY_TYPE[task.type], task.lang)
    want = "options" if task.type in OPTION_TYPES else "span"
    if tpl.kind != want:
        raise ConfigError(
            f"task {task.name!r} ({task.type.value}) uses template {tpl.name!r} of kind {tpl.kind!r}; "
            f"pick a {want!r} template: "
            f"{', '.join(n for n in template_names(task.lang) if get_template(n, task.lang).kind == want)}"
        )
    return tpl


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


@dataclass(frozen=True)
class ClozeTemplate:
    """A classic BBT cloze template (``head=mlm``): the input text with one ``{mask}`` slot for the backbone's mask
    token, whose MLM logits over the verbalizer tokens score the classes.

    Attributes:
        name: registry name; a task whose MRC template has this (canonical) name uses it.
        lang: ``"zh"`` or ``"en"``.
        pattern: ``str.format`` pattern with ``{role}`` slots (:data:`ROLE_FIELDS`) and exactly one ``{mask}``.
        cut: roles that truncation may shorten, as in :class:`QueryTemplate`.
    """

    name: str
    lang: str
    pattern: str
    cut: tuple[str, ...] = ("text",)

    def __post_init__(self) -> None:
        slots = [f for _, f, _, _ in Formatter().parse(self.pattern) if f]
        if slots.count("mask") != 1:
            raise ConfigError(f"cloze template {self.name!r} needs exactly one {{mask}} slot: {self.pattern!r}")
        unknown = [r for r in self.roles if r not in ROLE_FIELDS]
        if unknown:
            raise ConfigError(f"cloze template {self.name!r} uses unknown roles {unknown}; "
                              f"known: {sorted(ROLE_FIELDS)}")
        if any(r not in self.roles for r in self.cut):
            raise ConfigError(f"cloze template {self.name!r}: cut roles {self.cut} do not all occur in "
                              f"{self.pattern!r}")

    @property
    def roles(self) -> tuple[str, ...]:
        """The ``{role}`` slots of ``pattern`` in order (``mask`` excluded)."""
        return tuple(f for _, f, _, _ in Formatter().parse(self.pattern) if f and f != "mask")


_CLOZE: dict[tuple[str, str], ClozeTemplate] = {}
_CLOZE_BY_TYPE = {TaskType.SINGLE: "classify", TaskType.PAIR: "pair", TaskType.NLI: "relation"}

REFERENCE_VERBALIZERS: dict[str, tuple[str, ...]] = {
    "sst2": ("bad", "great"),
    "yelp_polarity": ("bad", "great"),
    "ag_news": ("World", "Sports", "Business", "Tech"),
    "dbpedia": ("Company", "Education", "Artist", "Athlete", "Office", "Transportation", "Building", "Natural",
                "Village", "Animal", "Plant", "Album", "Film", "Written"),
    "mrpc": ("No", "Yes"),
    "rte": ("Yes", "No"),
    "snli": ("Yes", "Maybe", "No"),
}
"""The label words of the BBT reference code (``dataloaders/dataloader.py``) for its English tasks, in our label
order; other tasks use their ``TaskSpec.label_words``, and ``TaskSpec.extra["verbalizer"]`` overrides both."""


def register_cloze_template(template: ClozeTemplate, *, overwrite: bool = False) -> None:
    """Add a cloze template under (``template.name``, ``template.lang``).

    Raises:
        ConfigError: the (name, lang) pair is taken by another template and ``overwrite`` is False.
    """
    key = (_norm(template.name), template.lang)
    if key in _CLOZE and not overwrite and _CLOZE[key] != template:
        raise ConfigError(f"cloze template {key[0]!r} ({key[1]}) is already registered; pass overwrite=True")
    _CLOZE[key] = template


def cloze_template_for(task: TaskSpec) -> ClozeTemplate:
    """The cloze template of ``task``: ``extra["cloze_template"]``, else the cloze template named like the task's
    MRC template, else the default of its type (classification, sentence pair, NLI).

    Raises:
        ConfigError: the task is multiple choice or span extraction (no fixed label words to verbalize).
        UnknownNameError: ``extra["cloze_template"]`` names no cloze template (the known ones are listed).
    """
    if task.type not in _CLOZE_BY_TYPE:
        raise ConfigError(
            f"head=mlm scores classification, sentence-pair and NLI tasks (one verbalizer token per class); task "
            f"{task.name!r} is {task.type.value}: use head=mrc"
        )
    wanted = task.extra.get("cloze_template")
    if wanted:
        key = (_norm(str(wanted)), task.lang)
        if key not in _CLOZE:
            known = sorted(n for n, lg in _CLOZE if lg == task.lang)
            raise UnknownNameError(f"task {task.name!r}: unknown cloze template {wanted!r}; known: {known}")
        return _CLOZE[key]
    name = _norm(task.template) if task.template else ""
    name = _ALIASES.get(name, name)
    return _CLOZE.get((name, task.lang)) or _CLOZE[(_CLOZE_BY_TYPE[task.type], task.lang)]


def verbalizer_words(task: TaskSpec) -> tuple[str, ...]:
    """One label word per class for ``head=mlm``: ``extra["verbalizer"]``, else :data:`REFERENCE_VERBALIZERS`,
    else the task's label words (Chinese: their first characters when those are distinct, as the reference's CPT
    path does). Each must be one token of the backbone's tokenizer (checked when encoding).

    Raises:
        ConfigError: ``extra["verbalizer"]`` does not give one distinct word per class.
    """
    words = task.extra.get("verbalizer") or REFERENCE_VERBALIZERS.get(task.name)
    if not words:
        firsts = tuple(w[:1] for w in task.label_words)
        zh_chars = task.lang == "zh" and len(set(firsts)) == len(firsts)
        words = firsts if zh_chars else task.label_words
    words = tuple(str(w) for w in words)
    if len(words) != task.n_classes or len(set(words)) != len(words):
        raise ConfigError(f"task {task.name!r}: the verbalizer {list(words)} must give one distinct word for each of "
                          f"its {task.n_classes} classes {list(task.label_words)}")
    return words


def _register_builtin_cloze() -> None:
    # the BBT reference's templates (en: dataloaders/dataloader.py; zh: dataloader_cpt.py), without its "<P> ."
    en_pair, zh_pair = "{text_a} ? {mask} , {text_b}", "“{text_a}”与“{text_b}”两句话的意思是{mask}的。"
    builtin = [
        ("sentiment", "{text} . It was {mask} .", "{text} 。 总之很{mask}", ("text",)),
        ("rating", "{text} . It was {mask} .", "{text} 。 总之很{mask}", ("text",)),
        ("topic", "{mask} News: {text}", "{text} 。 这句话的主题是{mask}", ("text",)),
        ("classify", "[ Category: {mask} ] {text}", "{text} 。 这句话的类别是{mask}", ("text",)),
        ("meaning", en_pair, zh_pair, ("text_a", "text_b")),
        ("relation", en_pair, zh_pair, ("text_a", "text_b")),
        ("pair", en_pair, zh_pair, ("text_a", "text_b")),
    ]
    for name, en, zh, cut in builtin:
        register_cloze_template(ClozeTemplate(name, "en", en, cut))
        register_cloze_template(ClozeTemplate(name, "zh", zh, cut))


_register_builtin_cloze()
