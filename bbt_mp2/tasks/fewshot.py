"""The true few-shot protocol: :func:`fewshot` -> :class:`FewShotSplit` (train, dev, test).

For a task and a seed:

* test = the task's evaluation split (``load_split(task, "test")``), unchanged;
* train = k examples per class (classification, NLI) or k examples in all (multiple choice, span), and dev = a
  disjoint set of the same size, chosen as follows.

``source="auto"`` (default): when the data ships a published few-shot split for this seed
(``TaskSpec.extra["published"]``: FewCLUE ``train_<i>/dev_<i>``, the BBT authors' ``fewshot/<dir>/``, UniPrompt's
Amazon ``16-<seed>``; see ``builtin.py`` for the seed -> file mapping), its train and dev files are used: examples
whose text also occurs in the test set are dropped (logged), as are repeated texts inside a file, then k per class
(or k in all) are drawn from each file with the seed. If a class of the published file has fewer than k examples
(e.g. FewCLUE's unbalanced 2- and 3-class files, or k larger than published), the split is drawn from the pool
instead (logged).

Pool draw (MP2's sampler, ``Hzfinfdu/MPMP``): for each class in label order, permute that class's examples of
``load_split(task, "train")`` with ``np.random.default_rng(seed)`` and take the first k for train and the next k
for dev; for multiple choice and span tasks, permute the whole pool, take k for train, then the next k whose
passage (``extra["splits"]["group"]``) is not in train for dev. A class with fewer than 2k pool examples gives all
it has (train first) and logs a warning (only iFLYTEK, whose FewCLUE data has single-example classes).

``source="published"`` returns the published files verbatim (k ignored unless given; error if there is none for
the seed); ``source="pool"`` always draws from the pool. Only a local generator is used; nothing global is seeded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bbt_mp2.errors import ConfigError, DataError
from bbt_mp2.tasks.paths import data_root as resolve_root
from bbt_mp2.tasks.registry import get_task
from bbt_mp2.tasks.splits import dedupe, group_key, load_split, read_task_files, split_keys, text_key
from bbt_mp2.tasks.types import Example, TaskSpec, TaskType

__all__ = ["SEEDS", "FewShotSplit", "fewshot", "published_files"]

logger = logging.getLogger(__name__)

SEEDS: tuple[int, ...] = (13, 21, 42, 87, 100)
"""The protocol seeds (five runs per task)."""

_SOURCES = ("auto", "published", "pool")


class _Short(Exception):
    """A published file cannot supply k per class."""


@dataclass(frozen=True)
class FewShotSplit:
    """The few-shot data of one task and seed.

    Attributes:
        train: the few-shot training set (k per class, or k in all).
        dev: the few-shot dev set, disjoint from train, same size.
        test: the evaluation set.
        seed: the protocol seed.
        k: per class (classification) or in all (multiple choice, span).
        source: ``"published:<train file>"`` or ``"pool"``.
    """

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    seed: int = 0
    k: int = 0
    source: str = field(default="pool")


def published_files(spec: TaskSpec, seed: int) -> tuple[str, str] | None:
    """The (train, dev) published files of ``spec`` for ``seed``, or ``None`` when there are none."""
    pub = spec.extra.get("published")
    if not pub or str(seed) not in pub["seeds"]:
        return None
    key = pub["seeds"][str(seed)]
    return pub["train"].format(key=key), pub["dev"].format(key=key)


def _is_classification(spec: TaskSpec) -> bool:
    return spec.type in (TaskType.SINGLE, TaskType.PAIR, TaskType.NLI)


def _draw(spec: TaskSpec, examples: list[Example], k: int, rng: np.random.Generator) -> list[Example]:
    """k per class (or k in all) from ``examples``; raises _Short if a class has fewer."""
    if not _is_classification(spec):
        if len(examples) < k:
            raise _Short(f"{len(examples)} examples < k={k}")
        return [examples[i] for i in rng.permutation(len(examples))[:k]]
    out = []
    for c in range(spec.n_classes):
        members = [e for e in examples if e.label == c]
        if len(members) < k:
            raise _Short(f"class {spec.label_words[c]!r} has {len(members)} < k={k}")
        out.extend(members[i] for i in rng.permutation(len(members))[:k])
    return out


def _clean(spec: TaskSpec, examples: list[Example], banned: set[str], what: str) -> list[Example]:
    kept = [e for e in examples if text_key(e) not in banned]
    if len(kept) < len(examples):
        logger.warning("%s: %d examples of %s also occur in the test set (or in train); dropped",
                       spec.name, len(examples) - len(kept), what)
    return kept


def _from_published(spec: TaskSpec, seed: int, k: int | None, root: Path,
                    test_keys: set[str]) -> tuple[list[Example], list[Example], str] | None:
    files = published_files(spec, seed)
    if files is None:
        return None
    train = _clean(spec, dedupe(spec, read_task_files(spec, [files[0]], root), files[0]), test_keys, files[0])
    dev = _clean(spec, dedupe(spec, read_task_files(spec, [files[1]], root), files[1]),
                 test_keys | {text_key(e) for e in train}, files[1])
    if k is None:
        return train, dev, f"published:{files[0]}"
    rng = np.random.default_rng(seed)
    return _draw(spec, train, k, rng), _draw(spec, dev, k, rng), f"published:{files[0]}"


def _from_pool(spec: TaskSpec, seed: int, k: int, root: Path) -> tuple[list[Example], list[Example]]:
    pool = load_split(spec.name, "train", root)
    rng = np.random.default_rng(seed)
    if _is_classification(spec):
        train, dev, short = [], [], []
        for c in range(spec.n_classes):
            members = [e for e in pool if e.label == c]
            order = [members[i] for i in rng.permutation(len(members))]
            if len(order) < 2 * k:
                short.append(f"{spec.label_words[c]}:{len(order)}")
            train.extend(order[:k])
            dev.extend(order[k:2 * k])
        if short:
            logger.warning("%s: %d classes have fewer than 2k=%d pool examples (%s); few-shot train/dev get what "
                           "there is", spec.name, len(short), 2 * k, ", ".join(short))
        return train, dev
    order = [pool[i] for i in rng.permutation(len(pool))]
    group = spec.extra["splits"].get("group", "text")
    train = order[:k]
    used = {group_key(e, group) for e in train}
    dev = [e for e in order[k:] if group_key(e, group) not in used][:k]
    if len(train) < k or len(dev) < k:
        raise DataError(f"task {spec.name!r}: the train pool has {len(pool)} examples; too few for k={k} train "
                        f"+ k dev examples (lower k)")
    return train, dev


def fewshot(task: str, seed: int, data_root: str | Path | None = None, k: int | None = None, *,
            source: str = "auto") -> FewShotSplit:
    """The few-shot train/dev/test sets of ``task`` for ``seed`` (see the module docstring for the protocol).

    Args:
        task: registered task name.
        seed: protocol seed (any int; :data:`SEEDS` are the published ones).
        data_root: data folder (default resolution of :func:`bbt_mp2.tasks.data_root`).
        k: per class (classification) or in all (multiple choice, span); default ``TaskSpec.k_shot``.
        source: ``"auto"``, ``"published"`` or ``"pool"``.

    Returns:
        A :class:`FewShotSplit`; the same arguments always give the same examples in the same order.

    Raises:
        ConfigError: bad ``k``/``source``, or ``source="published"`` for a task/seed without a published split.
        DataError: unreadable files, or a pool too small for k.
    """
    spec = get_task(task)
    if source not in _SOURCES:
        raise ConfigError(f"few-shot source {source!r}; expected one of {', '.join(_SOURCES)}")
    if k is not None and (not isinstance(k, (int, np.integer)) or k < 1):
        raise ConfigError(f"k={k!r}; expected a positive integer (examples per class, or in all)")
    root = resolve_root(data_root)
    test = load_split(spec.name, "test", root)
    test_keys = set(split_keys(spec.name, "test", root))
    if source != "pool":
        try:
            got = _from_published(spec, seed, k if source == "published" else (k or spec.k_shot), root, test_keys)
        except _Short as short:
            if source == "published":
                raise DataError(f"task {spec.name!r}, seed {seed}: the published split cannot give "
                                f"k={k}: {short}") from None
            logger.info("%s seed %d: published split unusable (%s); drawing from the pool", spec.name, seed, short)
            got = None
        if got is not None:
            return FewShotSplit(got[0], got[1], test, seed=seed, k=k or spec.k_shot, source=got[2])
        if source == "published":
            raise ConfigError(f"task {spec.name!r} has no published few-shot split for seed {seed}; "
                              f"use source='auto' or 'pool'")
    train, dev = _from_pool(spec, seed, k or spec.k_shot, root)
    return FewShotSplit(train, dev, test, seed=seed, k=k or spec.k_shot, source="pool")
