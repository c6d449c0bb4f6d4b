"""Helpers shared by the built-in task tables (``specs_en.py``, ``specs_zh.py``).

k-shot sizes (MP2 / BBT): 16 per class for 2 classes, 11 for 3, 8 for 4 (AG News, as the BBT authors' published
splits), 7 for 5 (as MP2 for Amazon), 8 for more than 5, and 32 examples in all for multiple-choice and span tasks.
"""

from __future__ import annotations

from typing import Any

from bbt_mp2.tasks.readers import Reader
from bbt_mp2.tasks.types import Metric, TaskSpec, TaskType

__all__ = ["define", "default_k", "BUILTIN", "FEWCLUE_SEEDS", "BBT_SEEDS"]

BUILTIN: list[tuple[TaskSpec, Reader]] = []
"""Every built-in task, in definition order; :mod:`bbt_mp2.tasks.registry` registers them (no import cycle)."""

FEWCLUE_SEEDS = {"13": "0", "21": "1", "42": "2", "87": "3", "100": "4"}
"""Protocol seed -> FewCLUE split index (``train_<i>.json``/``dev_<i>.json``): by position in SEEDS."""

BBT_SEEDS = {"13": "13", "42": "42", "21": "8", "87": "50", "100": "60", "8": "8", "50": "50", "60": "60"}
"""Protocol seed -> BBT few-shot folder ``fewshot/<dir>/``: the same seed where that folder exists (13, 42);
the other protocol seeds 21, 87, 100 take the remaining folders 8, 50, 60 in order; 8, 50, 60 map to themselves."""


def default_k(task_type: TaskType, n_classes: int) -> int:
    """The few-shot size of the MP2 protocol (per class; in all for multiple-choice and span tasks)."""
    if task_type in (TaskType.MULTIPLE_CHOICE, TaskType.SPAN, TaskType.KEYWORD):
        return 32
    return {2: 16, 3: 11, 4: 8, 5: 7}.get(n_classes, 8)


def define(name: str, lang: str, task_type: TaskType, words: tuple[str, ...], template: str, reader: Reader,
           description: str, *, metric: Metric | None = None, k: int | None = None, **extra: Any) -> TaskSpec:
    """Build one built-in task and add it to :data:`BUILTIN` (``extra["dir"]`` defaults to ``<lang>/<name>``)."""
    if metric is None:
        metric = Metric.SPAN_F1 if task_type in (TaskType.SPAN, TaskType.KEYWORD) else Metric.ACC
    extra.setdefault("dir", f"{lang}/{name}")
    spec = TaskSpec(name=name, lang=lang, type=task_type, label_words=words, metric=metric, template=template,
                    k_shot=k if k is not None else default_k(task_type, len(words)), description=description,
                    extra=extra)
    BUILTIN.append((spec, reader))
    return spec
