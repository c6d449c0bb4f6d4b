"""Tests for bbt_mp2/templates.py: template validation, the registry, and a task's template."""

from __future__ import annotations

import pytest

from bbt_mp2 import mrc, templates
from bbt_mp2.errors import ConfigError, UnknownNameError
from bbt_mp2.tasks import get_task
from bbt_mp2.tasks.types import TaskSpec, TaskType
from bbt_mp2.templates import QueryTemplate, get_template, register_template, template_for, template_names


@pytest.mark.parametrize("kw, match", [
    (dict(kind="list"), "kind='list'"),
    (dict(lang="fr"), "lang='fr'"),
    (dict(pattern='Is "{sender}" spam?'), "unknown roles"),
    (dict(cut=("text_b",)), "cut roles"),
    (dict(kind="span", cut=()), "context"),
])
def test_bad_templates_are_refused_with_the_reason(kw, match):
    base = dict(name="t", lang="en", pattern='Is "{text}" spam? Options:')
    with pytest.raises(ConfigError, match=match):
        QueryTemplate(**{**base, **kw})


def test_registry_resolves_aliases_and_refuses_silent_overwrites():
    assert get_template("TREC", "en").name == "question-type" and get_template("polarity", "zh").name == "sentiment"
    taken = QueryTemplate("sentiment", "en", 'Other wording of "{text}"? Options:')
    with pytest.raises(ConfigError, match="already registered"):
        register_template(taken)
    with pytest.raises(UnknownNameError, match="known:"):
        get_template("no-such", "en")
    both = set(template_names("en")) & set(template_names("zh"))  # other tests may register one-language ones
    assert {"sentiment", "topic", "relation", "choice", "extractive", "keyword-extraction"} <= both


def test_task_template_defaults_by_type_and_checks_the_kind():
    assert template_for(get_task("sst2")).kind == "options"
    assert template_for(TaskSpec("q", "en", TaskType.SPAN, ())).name == "extractive"
    with pytest.raises(ConfigError, match="pick a 'options' template"):
        template_for(TaskSpec("x", "en", TaskType.SINGLE, ("a", "b"), template="keyword-extraction"))


def test_mrc_reexports_the_same_registry():
    assert mrc.get_template is templates.get_template and mrc.QueryTemplate is templates.QueryTemplate
