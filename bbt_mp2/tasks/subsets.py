"""Label subsets of many-label tasks: a deterministic, seeded choice of N labels, registered as a task of its own.

The MP2 paper studies black-box tuning against the number of labels (IFLYTEK restricted to 10/15/20/25/30 of its
119 classes); in English, DBpedia's 14 classes serve. :func:`subset_task` picks ``n_labels`` label indices of a
classification task with ``np.random.default_rng([seed, n_labels])`` (a local generator; nothing global is
seeded), keeps them in their original order, and registers ``<task>.labels<N>.s<seed>``: the same files and
template, only the chosen label words, examples of other labels dropped and labels renumbered ``0..N-1``. After
that every task function (``fewshot``, ``load_split``, the gradient baselines) works on the subset by name, and
the run's ``config.json`` records the subset task name; ``TaskSpec.extra["label_subset"]`` records the source task,
seed and chosen labels.

Example:
    >>> spec = subset_task("dbpedia", 5, seed=13)          # doctest: +SKIP
    >>> spec.name, spec.label_words                         # doctest: +SKIP
    ('dbpedia.labels5.s13', ('Company', 'Artist', ...))
    >>> split = fewshot(spec.name, 13)                      # 16 per class of the 5 labels  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from bbt_mp2.errors import ConfigError
from bbt_mp2.tasks.registry import _TASKS, get_reader, get_task, register_task
from bbt_mp2.tasks.types import Example, TaskSpec, TaskType

__all__ = ["label_subset", "subset_task", "subset_name"]

logger = logging.getLogger(__name__)

_CLASSIFICATION = (TaskType.SINGLE, TaskType.PAIR, TaskType.NLI)


def subset_name(task: str, n_labels: int, seed: int) -> str:
    """Registry name of a label subset: ``<task>.labels<N>.s<seed>``."""
    return f"{task}.labels{int(n_labels)}.s{int(seed)}"


def label_subset(task: str, n_labels: int, seed: int) -> tuple[int, ...]:
    """The label indices (into the task's ``label_words``, ascending) of the ``n_labels`` subset for ``seed``.

    Args:
        task: a registered classification task.
        n_labels: N, at least 2 and at most the task's number of labels.
        seed: subset seed (recorded in the subset's spec).

    Returns:
        ``n_labels`` sorted distinct ints.

    Raises:
        ConfigError: a task that is not classification, or N outside ``[2, n_classes]``.
    """
    spec = get_task(task)
    if spec.type not in _CLASSIFICATION:
        raise ConfigError(f"a label subset needs a classification task; {spec.name!r} is {spec.type.value}")
    if isinstance(n_labels, bool) or not isinstance(n_labels, (int, np.integer)) or not 2 <= n_labels <= spec.n_classes:
        raise ConfigError(f"labels={n_labels!r} for task {spec.name!r}: expected an integer in [2, "
                          f"{spec.n_classes}] (its number of labels)")
    rng = np.random.default_rng([int(seed), int(n_labels)])
    return tuple(sorted(int(i) for i in rng.choice(spec.n_classes, size=int(n_labels), replace=False)))


def subset_task(task: str, n_labels: int, seed: int) -> TaskSpec:
    """Register (once) and return the task restricted to the :func:`label_subset` of ``n_labels`` labels.

    Examples of the other labels are dropped when files are read; the kept labels are renumbered in their
    original order. ``n_labels`` equal to the task's number of labels still registers a subset task (same labels).

    Raises:
        ConfigError: as :func:`label_subset`.
    """
    name = subset_name(task, n_labels, seed)
    if name in _TASKS:
        return get_task(name)
    source = get_task(task)
    keep = label_subset(source.name, n_labels, seed)
    remap = {old: new for new, old in enumerate(keep)}
    source_reader = get_reader(source.name)

    def read(spec: TaskSpec, path: Path, rel: str) -> list[Example]:
        examples = source_reader(source, path, rel)
        return [dataclasses.replace(ex, label=remap[ex.label]) for ex in examples if ex.label in remap]

    extra = dict(source.extra)
    extra["dir"] = str(source.extra.get("dir", f"{source.lang}/{source.name}"))
    extra["label_subset"] = {"task": source.name, "n_labels": int(n_labels), "seed": int(seed), "labels": list(keep),
                             "words": [source.label_words[i] for i in keep]}
    spec = dataclasses.replace(
        source, name=name, label_words=tuple(source.label_words[i] for i in keep), extra=extra,
        description=f"{source.name} restricted to {n_labels} of its {source.n_classes} labels (seed {seed})",
    )
    register_task(spec, read)
    logger.info("registered %s: labels %s of %s", name, list(keep), source.name)
    return spec
