"""Deterministic train / dev / test splits of every task: :func:`load_split`.

Split roles:

* ``train``: the pre-training set and the pool few-shot sets are drawn from;
* ``dev``: a held-out upstream dev set (pre-training monitors it), disjoint from ``train``;
* ``test``: the evaluation set.

How a split is made, from ``TaskSpec.extra["splits"]`` (file names relative to ``extra["dir"]``):

1. Files named under the split's own key are read and concatenated (the official files).
2. Otherwise the split is *carved* from the ``pool`` files: each example (or each group, e.g. all questions of
   one passage: ``"group": "context"``) gets the bucket ``u = int(sha256("<task>\\0<key>")[:8]) / 2**64`` in
   [0, 1), where ``key`` is the normalised text (:func:`text_key`). ``u < test_frac`` -> test (only when no test
   files exist), ``u < test_frac + dev_frac`` -> dev, else train. Defaults: ``dev_frac = 0.1``,
   ``test_frac = 0.2``. The rule depends only on the text, so it is identical on every machine and an example
   never changes split when others are added or removed.
3. ``train`` and ``dev`` are de-duplicated by normalised text (first occurrence kept; texts that occur with
   different labels are dropped altogether), and every text that occurs in the task's test set, in its train
   split (for dev), or in the splits of other tasks named in ``extra["exclude"]`` (e.g. ``"sst2:test"``) is
   removed. The test set is never altered when it comes from official files.

Normalised text = lower-cased, with everything but letters, digits and CJK characters removed, so that
re-tokenised copies of one sentence (``"century's"`` vs ``"century 's"``) compare equal.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bbt_mp2.errors import ConfigError, DataError
from bbt_mp2.tasks.paths import data_root as resolve_root
from bbt_mp2.tasks.registry import _lookup, add_register_hook
from bbt_mp2.tasks.types import Example, TaskSpec

__all__ = ["SPLITS", "clear_cache", "dedupe", "load_split", "split_keys", "text_key", "group_key", "normalize_text",
           "task_dir", "read_task_files", "bucket"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


class _BoundedCache(OrderedDict):
    """A dict that keeps at most ``maxsize`` entries, dropping the least recently used (reads refresh an entry)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def __getitem__(self, key: Any) -> Any:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self else default

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


# Bounded, so a long-lived process (the server, a sweep worker) does not keep every split it ever read alive.
CACHE_TASKS = 32  # splits / files / carves / key sets kept (a few tasks x 3 splits)
CACHE_KEYS = 200_000  # memoised (example, group) keys
_CACHE: _BoundedCache = _BoundedCache(CACHE_TASKS * 3)  # (task, split, root) -> examples
_FILE_CACHE: _BoundedCache = _BoundedCache(CACHE_TASKS * 3)  # (task, file, size, mtime) -> examples
_CARVE_CACHE: _BoundedCache = _BoundedCache(CACHE_TASKS)  # (task, root) -> carved splits
_KEY_CACHE: _BoundedCache = _BoundedCache(CACHE_KEYS)  # (id(example), group) -> (example, key); identity checked
_KEYSET_CACHE: _BoundedCache = _BoundedCache(CACHE_TASKS * 3)  # (task, split, group, root) -> keys


def _forget(name: str) -> None:
    for key in [k for k in _CACHE if k[0] == name]:
        del _CACHE[key]
    for key in [k for k in _FILE_CACHE if k[0] == name]:
        del _FILE_CACHE[key]
    for key in [k for k in _CARVE_CACHE if k[0] == name]:
        del _CARVE_CACHE[key]
    for key in [k for k in _KEYSET_CACHE if k[0] == name]:
        del _KEYSET_CACHE[key]


add_register_hook(_forget)


def clear_cache() -> None:
    """Forget every cached file, carve and split (otherwise the least recently used are dropped past the bounds)."""
    for cache in (_CACHE, _FILE_CACHE, _CARVE_CACHE, _KEY_CACHE, _KEYSET_CACHE):
        cache.clear()


def normalize_text(text: str) -> str:
    """Lower-case ``text`` and drop everything but letters, digits and CJK characters."""
    return _NON_WORD.sub("", text.casefold())


def text_key(ex: Example) -> str:
    """The identity of an example's input for de-duplication and overlap checks.

    All ``fields`` (sorted by name, normalised) plus the options; labels and answers are not part of it.
    """
    return group_key(ex, "text")


def _compute_key(ex: Example, group: str) -> str:
    if group == "text":
        parts = [f"{k}={normalize_text(v)}" for k, v in sorted(ex.fields.items())]
        if ex.options:
            parts.append("options=" + "|".join(normalize_text(o) for o in ex.options))
        return "\x1f".join(parts)
    if group not in ex.fields:
        raise ConfigError(f"split group field {group!r} is not a field of {ex.uid!r} (fields {sorted(ex.fields)})")
    return normalize_text(ex.fields[group])


def group_key(ex: Example, group: str) -> str:
    """The normalised value of field ``group`` (``"text"``: :func:`text_key`); memoised per example object."""
    hit = _KEY_CACHE.get((id(ex), group))
    if hit is not None and hit[0] is ex:
        return hit[1]
    key = _compute_key(ex, group)
    _KEY_CACHE[(id(ex), group)] = (ex, key)
    return key


def bucket(task: str, key: str) -> float:
    """The carve bucket in [0, 1) of a (normalised) key of task ``task``: ``sha256`` of ``"<task>\\0<key>"``."""
    digest = hashlib.sha256(f"{task}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def task_dir(spec: TaskSpec, root: Path) -> Path:
    """The folder of a task's files: ``extra["dir"]`` (absolute, or relative to the data folder)."""
    return root / spec.extra.get("dir", f"{spec.lang}/{spec.name}")


def read_task_files(spec: TaskSpec, files: Sequence[str], root: Path) -> list[Example]:
    """Read and concatenate files of ``spec`` (relative to :func:`task_dir`) with its registered reader."""
    reader = _lookup(spec.name)[1]
    folder = task_dir(spec, root)
    out: list[Example] = []
    for rel in files:
        if rel.startswith("hf:"):  # a HuggingFace split of a user task (see bbt_mp2.tasks.user)
            out.extend(reader(spec, Path(rel), rel))
            continue
        path = folder / rel
        if not path.is_file():
            raise DataError(f"task {spec.name!r}: missing data file {str(path)!r}; point at a complete data folder "
                            f"with BBT_MP2_DATA=/path/to/data or --data")
        stat = path.stat()
        key = (spec.name, str(path), stat.st_mtime_ns, stat.st_size)
        if key not in _FILE_CACHE:
            _FILE_CACHE[key] = tuple(reader(spec, path, rel))
        out.extend(_FILE_CACHE[key])
    return out


def dedupe(spec: TaskSpec, examples: Iterable[Example], where: str) -> list[Example]:
    """Drop repeated texts (:func:`text_key`): the first occurrence stays; texts seen with two labels go entirely."""
    first: dict[str, Example] = {}
    conflict: set[str] = set()
    for ex in examples:
        key = text_key(ex)
        if key in first:
            if first[key].label != ex.label:
                conflict.add(key)
        else:
            first[key] = ex
    out = [ex for k, ex in first.items() if k not in conflict]
    if conflict:
        logger.info("%s/%s: dropped %d texts that occur with different labels", spec.name, where, len(conflict))
    return out


def _carve(spec: TaskSpec, root: Path) -> dict[str, list[Example]]:
    cached = _CARVE_CACHE.get((spec.name, str(root)))
    if cached is not None:
        return cached
    cfg = spec.extra["splits"]
    pool = dedupe(spec, read_task_files(spec, cfg["pool"], root), "pool")
    dev_frac = 0.0 if "dev" in cfg else float(cfg.get("dev_frac", 0.1))
    test_frac = 0.0 if "test" in cfg else float(cfg.get("test_frac", 0.2))
    group = cfg.get("group", "text")
    out: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    for ex in pool:
        u = bucket(spec.name, group_key(ex, group))
        out["test" if u < test_frac else "dev" if u < test_frac + dev_frac else "train"].append(ex)
    _CARVE_CACHE[(spec.name, str(root))] = out
    return out


def _raw_split(spec: TaskSpec, split: str, root: Path) -> list[Example]:
    cfg = spec.extra["splits"]
    if split in cfg:
        return read_task_files(spec, cfg[split], root)
    if "pool" not in cfg:
        raise ConfigError(f"task {spec.name!r} has neither {split!r} files nor a 'pool' to carve it from")
    return _carve(spec, root)[split]


def split_keys(task: str, split: str, data_root: str | Path | None = None, group: str = "text") -> frozenset[str]:
    """The set of :func:`group_key` values (default: :func:`text_key`) of a split; cached."""
    spec = _lookup(task)[0]
    root = resolve_root(data_root)
    cache_key = (spec.name, split, str(root), group)
    if cache_key not in _KEYSET_CACHE:
        _KEYSET_CACHE[cache_key] = frozenset(group_key(e, group) for e in load_split(spec.name, split, root))
    return _KEYSET_CACHE[cache_key]


def _excluded_keys(spec: TaskSpec, split: str, root: Path) -> set[str]:
    keys = set(split_keys(spec.name, "test", root))
    group = spec.extra["splits"].get("group", "text")
    if group != "text":  # a passage of the test set must not reach train/dev through another question
        keys |= split_keys(spec.name, "test", root, group)
    if split == "dev":
        keys |= split_keys(spec.name, "train", root)
    for ref in spec.extra.get("exclude", ()):
        other, _, other_split = ref.partition(":")
        try:
            keys |= split_keys(other, other_split or "test", root)
        except DataError as err:  # a partial data folder: keep going, but say what could not be guaranteed
            logger.warning("%s/%s: could not remove the texts of %s (%s); they may overlap", spec.name, split, ref,
                           err)
    return keys


def load_split(task: str, split: str, data_root: str | Path | None = None) -> list[Example]:
    """Load one split of a task.

    Args:
        task: registered task name.
        split: ``"train"`` (pre-training set / few-shot pool), ``"dev"`` (held-out upstream dev) or ``"test"``.
        data_root: the data folder (default: :func:`bbt_mp2.tasks.data_root` resolution).

    Returns:
        The examples, in a deterministic order (file order; carved splits keep pool order).

    Raises:
        UnknownNameError: unknown task. ConfigError: unknown split.
        DataError: a missing or malformed file, an unknown label, or an empty split (the message names it).
    """
    spec = _lookup(task)[0]
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} for task {spec.name!r}; expected one of {', '.join(SPLITS)}")
    root = resolve_root(data_root)
    key = (spec.name, split, str(root))
    if key not in _CACHE:
        examples = _raw_split(spec, split, root)
        if split != "test" or "test" not in spec.extra["splits"]:
            examples = dedupe(spec, examples, split)
        if split != "test":
            banned = _excluded_keys(spec, split, root)
            group = spec.extra["splits"].get("group", "text")
            examples = [e for e in examples if text_key(e) not in banned
                        and (group == "text" or group_key(e, group) not in banned)]
        if not examples and not (split == "test" and spec.extra.get("no_test")):  # no_test: tuned on dev only
            raise DataError(f"task {spec.name!r}: the {split!r} split is empty (files under "
                            f"{str(task_dir(spec, root))!r}); every split needs at least one example")
        _CACHE[key] = tuple(examples)
    return list(_CACHE[key])
