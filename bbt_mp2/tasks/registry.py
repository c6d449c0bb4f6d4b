"""The task registry: name -> (:class:`TaskSpec`, reader).

Built-in tasks (35: 22 Chinese, 13 English; see ``specs_zh.py`` and ``specs_en.py``) are registered on first
use. :func:`register_task` adds more (``bbt_mp2.tasks.load_user_task`` uses it for user-defined tasks).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from bbt_mp2.errors import ConfigError, UnknownNameError
from bbt_mp2.tasks import specs_en, specs_zh  # noqa: F401  (fill builtin.BUILTIN; they do not import this module)
from bbt_mp2.tasks.builtin import BUILTIN
from bbt_mp2.tasks.readers import Reader
from bbt_mp2.tasks.types import OPTION_TYPES, TaskSpec, TaskType

__all__ = ["register_task", "get_task", "get_reader", "task_names", "validate_spec", "add_register_hook"]

logger = logging.getLogger(__name__)

_TASKS: dict[str, tuple[TaskSpec, Reader]] = {}
_BUILTIN_LOADED = False
_HOOKS: list[Callable[[str], None]] = []
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SPLIT_KEYS = {"train", "dev", "test", "pool", "dev_frac", "test_frac", "group"}


def _ensure_builtin() -> None:
    global _BUILTIN_LOADED
    if not _BUILTIN_LOADED:
        _BUILTIN_LOADED = True
        for spec, reader in BUILTIN:
            register_task(spec, reader)


def add_register_hook(hook: Callable[[str], None]) -> None:
    """Call ``hook(name)`` whenever a task is (re-)registered (the split cache uses it to drop stale entries)."""
    _HOOKS.append(hook)


def validate_spec(spec: TaskSpec) -> None:
    """Check a spec before it is registered.

    Raises:
        ConfigError: bad name/lang/k_shot, label words missing, repeated, or one inside another (which would
            make a label word's span ambiguous in the MRC query), or a malformed ``extra["splits"]``.
    """
    if not _NAME.match(spec.name):
        raise ConfigError(f"task name {spec.name!r} must be lowercase letters, digits, '_', '-' or '.'")
    if spec.lang not in ("en", "zh"):
        raise ConfigError(f"task {spec.name!r}: lang={spec.lang!r}; expected 'en' or 'zh'")
    if not isinstance(spec.type, TaskType):
        raise ConfigError(f"task {spec.name!r}: type={spec.type!r}; expected a TaskType")
    if spec.k_shot < 1:
        raise ConfigError(f"task {spec.name!r}: k_shot={spec.k_shot}; expected >= 1")
    words = spec.label_words
    if spec.type in OPTION_TYPES - {TaskType.MULTIPLE_CHOICE}:
        if len(words) < 2:
            raise ConfigError(f"task {spec.name!r} ({spec.type.value}) needs >= 2 label words, got {list(words)}")
        if len(set(words)) != len(words) or any(not w.strip() for w in words):
            raise ConfigError(f"task {spec.name!r}: label words must be distinct and non-empty, got {list(words)}")
        clash = [(a, b) for a in words for b in words if a != b and a in b]
        if clash:
            raise ConfigError(f"task {spec.name!r}: label word {clash[0][0]!r} occurs inside {clash[0][1]!r}; "
                              f"pick words that are not substrings of each other")
    elif words:
        raise ConfigError(f"task {spec.name!r} ({spec.type.value}) takes no label words, got {list(words)}")
    splits = spec.extra.get("splits")
    if not isinstance(splits, dict) or not ({"train", "pool"} & set(splits)):
        raise ConfigError(f"task {spec.name!r}: extra['splits'] must name 'train' files or 'pool' files")
    unknown = set(splits) - _SPLIT_KEYS
    if unknown:
        raise ConfigError(f"task {spec.name!r}: unknown keys {sorted(unknown)} in extra['splits']; "
                          f"known: {sorted(_SPLIT_KEYS)}")


def register_task(spec: TaskSpec, reader: Reader, *, overwrite: bool = False) -> None:
    """Add a task to the registry.

    Args:
        spec: the task spec (validated with :func:`validate_spec`).
        reader: reads one file of the task, see :data:`bbt_mp2.tasks.readers.Reader`.
        overwrite: replace an existing task of the same name (user tasks re-loaded from their spec file).

    Raises:
        ConfigError: invalid spec, or the name is taken and ``overwrite`` is false.
    """
    validate_spec(spec)
    if spec.name in _TASKS and not overwrite:
        raise ConfigError(f"task {spec.name!r} is already registered; choose another name or pass overwrite=True")
    _TASKS[spec.name] = (spec, reader)
    for hook in _HOOKS:
        hook(spec.name)
    logger.debug("registered task %s (%s, %s)", spec.name, spec.lang, spec.type.value)


def _lookup(name: str) -> tuple[TaskSpec, Reader]:
    _ensure_builtin()
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _TASKS:
        raise UnknownNameError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_TASKS))} "
                               f"(or describe your own with a task spec file, see bbt_mp2.tasks.load_user_task)")
    return _TASKS[key]


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` registered under ``name`` (case-insensitive).

    Raises:
        UnknownNameError: the message lists every registered task.
    """
    return _lookup(name)[0]


def get_reader(name: str) -> Reader:
    """The reader registered with task ``name``."""
    return _lookup(name)[1]


def task_names(lang: str | None = None) -> list[str]:
    """Sorted names of the registered tasks, optionally only those of language ``lang`` (``"en"``/``"zh"``)."""
    _ensure_builtin()
    return sorted(n for n, (s, _) in _TASKS.items() if lang is None or s.lang == lang)
