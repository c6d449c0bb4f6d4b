"""Upstream data for pre-training: encoded train pools and dev parts, and the seeded task/batch sampler.

Every random draw is a pure function of ``(seed, step)`` or ``(seed, task, epoch)`` plus a per-task cursor, so the
sampler's whole state is a list of integers: a resumed run and every DDP rank draw exactly the same tasks and batches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import DataError, ResumeError
from bbt_mp2.tasks.types import Example, TaskSpec

__all__ = [
    "TaskData", "load_task_data", "load_task_part", "encode_examples", "batch_tensors", "TaskBatchSampler", "child_rng",
]

logger = logging.getLogger(__name__)

# stream identifiers for the SeedSequence-derived generators (never reuse one for another purpose)
_STREAM_TASK, _STREAM_EPOCH, _STREAM_SUBSAMPLE, _STREAM_NOISE, _STREAM_DROP = 7, 11, 13, 17, 19


def child_rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent numpy generator for ``(seed, *keys)`` (no global state)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, keys)]))


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The torch generator of step ``step`` (routing noise) on ``device``; the same on every rank and after a resume."""
    state = np.random.SeedSequence([int(seed), _STREAM_NOISE, int(step)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state) & ((1 << 63) - 1))


def prompt_dropped(seed: int, step: int, p: float) -> bool:
    """Whether step ``step`` trains on the zero prompt (probability ``p``); the same on every rank and resume."""
    if p <= 0:
        return False
    state = np.random.SeedSequence([int(seed), _STREAM_DROP, int(step)]).generate_state(1, dtype=np.uint64)[0]
    return bool(np.random.default_rng(int(state)).random() < p)


@dataclass
class TaskData:
    """One upstream task ready for training.

    Attributes:
        spec: the task.
        train: the encoded training pool (``N_train`` examples).
        dev: the encoded held-out dev part (``N_dev`` examples).
    """

    spec: TaskSpec
    train: EncodedDataset
    dev: EncodedDataset


def _is_labelled(spec: TaskSpec, ex: Example) -> bool:
    return ex.label is not None if spec.is_option_task else ex.answers is not None


def _subsample(examples: list[Example], size: int, rng: np.random.Generator) -> list[Example]:
    if size <= 0 or len(examples) <= size:
        return examples
    keep = np.sort(rng.choice(len(examples), size=size, replace=False))
    return [examples[i] for i in keep]


def encode_examples(spec: TaskSpec, examples: Sequence[Example], backbone: Any, *, n_tokens: int,
                    max_length: int) -> EncodedDataset:
    """Encode ``examples`` for ``backbone`` (its tokenizer, placeholder ids and token type)."""
    from bbt_mp2.encoding import encode

    return encode(spec, examples, backbone.tokenizer, n_tokens=n_tokens,
                  placeholder_ids=backbone.placeholder_ids(n_tokens), token_type_id=backbone.token_type_id,
                  max_length=max_length)


def _encode_dropping_failures(spec: TaskSpec, examples: list[Example], backbone: Any, n_tokens: int,
                              max_length: int) -> EncodedDataset:
    """Encode ``examples``; if the encoder refuses some, drop exactly those (found one by one) and warn."""
    try:
        return encode_examples(spec, examples, backbone, n_tokens=n_tokens, max_length=max_length)
    except DataError as exc:
        first = exc
    bad = set()
    for j, ex in enumerate(examples):
        try:
            encode_examples(spec, [ex], backbone, n_tokens=n_tokens, max_length=max_length)
        except DataError:
            bad.add(j)
    if not bad or len(bad) == len(examples):
        raise first
    logger.warning("task %s: dropped %d of %d examples the encoder refuses (%s): %s", spec.name, len(bad),
                   len(examples), first, [examples[j].uid for j in sorted(bad)][:10])
    kept = [ex for j, ex in enumerate(examples) if j not in bad]
    return encode_examples(spec, kept, backbone, n_tokens=n_tokens, max_length=max_length)


def load_task_data(tasks: Sequence[str], backbone: Any, *, n_tokens: int, max_length: int, seed: int,
                   dev_size: int = 0, train_size: int = 0, data_root: str | None = None) -> list[TaskData]:
    """Load, check and encode the train pool and dev part of every task.

    Args:
        tasks: registered task names (router-row order).
        backbone: a :class:`~bbt_mp2.backbones.base.Backbone` (tokenizer, placeholder ids, token type).
        n_tokens: prompt length n.
        max_length: maximum encoded length T.
        seed: seed of the dev/train subsamples.
        dev_size: at most this many dev examples per task (0 = all).
        train_size: at most this many training examples per task (0 = all).
        data_root: task data folder (None = the default of ``bbt_mp2.tasks.data_root``).

    Returns:
        One :class:`TaskData` per task, in the order of ``tasks``.

    Raises:
        UnknownNameError: a task is not registered.
        DataError: a task has no labelled training pool or no labelled dev part.
    """

    from bbt_mp2.tasks import get_task

    specs = [get_task(name) for name in tasks]  # fail fast on unknown names, before any loading
    out = []
    for i, spec in enumerate(specs):
        parts = {split: load_task_part(spec, i, split, backbone, n_tokens=n_tokens, max_length=max_length, seed=seed,
                                       size=size, data_root=data_root)
                 for split, size in (("train", train_size), ("dev", dev_size))}
        logger.info("task %s: %d train, %d dev examples", spec.name, len(parts["train"]), len(parts["dev"]))
        out.append(TaskData(spec, parts["train"], parts["dev"]))
    return out


def load_task_part(spec: TaskSpec, index: int, split: str, backbone: Any, *, n_tokens: int, max_length: int,
                   seed: int, size: int = 0, data_root: str | None = None) -> EncodedDataset:
    """The encoded train pool or dev part of the task at router row ``index`` (what :func:`load_task_data` uses).

    The subsample is a pure function of ``(seed, index, split)``, so the recipe report scores exactly the dev
    examples the pre-training curve was measured on.

    Args:
        spec: the task.
        index: its position in the run's task list (router row).
        split: ``train`` or ``dev``.
        backbone: the backbone whose tokenizer encodes.
        n_tokens, max_length: encoding sizes.
        seed: the run seed.
        size: at most this many examples (0 = all).
        data_root: task data folder.

    Raises:
        DataError: the split has no labelled example.
    """
    from bbt_mp2.tasks import load_split

    examples = list(load_split(spec.name, split, data_root=data_root))
    labelled = [ex for ex in examples if _is_labelled(spec, ex)]
    if not labelled:
        raise DataError(
            f"task {spec.name!r} has no labelled {split!r} examples ({len(examples)} examples, none with a "
            "label), so it cannot be pre-trained on; drop it from the upstream tasks or supply a labelled "
            f"{split} split")
    examples = _subsample(labelled, size, child_rng(seed, _STREAM_SUBSAMPLE, index, split == "dev"))
    return _encode_dropping_failures(spec, examples, backbone, n_tokens, max_length)


def batch_tensors(ds: EncodedDataset, idx: np.ndarray | Sequence[int], device: torch.device | str = "cpu"
                  ) -> dict[str, Tensor]:
    """Rows ``idx`` of ``ds`` as tensors, cut to the longest real sequence among them.

    Returns:
        ``input_ids``, ``attention_mask``, ``token_type_ids`` (``B x T'`` int64), ``start_positions``,
        ``end_positions``, ``labels`` (``B`` int64), ``option_spans`` (``B x C x 2``), ``context_spans`` (``B x 2``).
    """
    idx = np.asarray(idx, dtype=np.int64)
    mask = ds.attention_mask[idx]
    width = max(int(mask.sum(axis=1).max()), int(ds.n_tokens) + 1) if len(idx) else 1
    out = {
        "input_ids": ds.input_ids[idx, :width],
        "attention_mask": mask[:, :width],
        "token_type_ids": ds.token_type_ids[idx, :width],
        "start_positions": ds.start_positions[idx],
        "end_positions": ds.end_positions[idx],
        "labels": ds.labels[idx],
        "option_spans": ds.option_spans[idx],
        "context_spans": ds.context_spans[idx],
    }
    return {k: torch.as_tensor(np.ascontiguousarray(v), dtype=torch.int64, device=device) for k, v in out.items()}


class TaskBatchSampler:
    """Draws one task per step (by ``probs``) and the next ``batch_size`` examples of that task's shuffled stream.

    The stream of task t is the concatenation of permutations ``perm(seed, t, epoch)`` of its pool, so batches never
    repeat an example before the pool is used up. State: ``cursors[t]`` = batches already drawn from task t.

    Args:
        sizes: pool size of each task.
        probs: probability of each task (sums to 1).
        batch_size: global batch size.
        seed: run seed.
    """

    def __init__(self, sizes: Sequence[int], probs: Sequence[float], batch_size: int, seed: int) -> None:
        if len(sizes) != len(probs) or any(n <= 0 for n in sizes):
            raise DataError(f"sampler needs one positive pool size per task, got sizes={list(sizes)}")
        self.sizes = [int(n) for n in sizes]
        self.probs = np.asarray(probs, dtype=np.float64)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.cursors = [0] * len(self.sizes)
        self._perm_cache: dict[tuple[int, int], np.ndarray] = {}

    def task_at(self, step: int) -> int:
        """The task drawn at ``step`` (pure function of seed and step)."""
        return int(child_rng(self.seed, _STREAM_TASK, step).choice(len(self.sizes), p=self.probs))

    def _perm(self, task: int, epoch: int) -> np.ndarray:
        key = (task, epoch)
        if key not in self._perm_cache:
            if len(self._perm_cache) > 4 * len(self.sizes):
                self._perm_cache.clear()
            self._perm_cache[key] = child_rng(self.seed, _STREAM_EPOCH, task, epoch).permutation(self.sizes[task])
        return self._perm_cache[key]

    def draw(self, step: int) -> tuple[int, np.ndarray]:
        """Task and example indices (``batch_size`` int64) of ``step``; advances that task's cursor."""
        task = self.task_at(step)
        n = self.sizes[task]
        start = self.cursors[task] * self.batch_size
        pos = np.arange(start, start + self.batch_size)
        idx = np.array([self._perm(task, int(p // n))[p % n] for p in pos], dtype=np.int64)
        self.cursors[task] += 1
        return task, idx

    def state_dict(self) -> dict[str, Any]:
        return {"cursors": list(self.cursors), "sizes": list(self.sizes), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state["sizes"]) != self.sizes or int(state["seed"]) != self.seed:
            raise ResumeError(f"saved sampler has pool sizes {state['sizes']} and seed {state['seed']}; this run has "
                              f"{self.sizes} and {self.seed}. Resume with the same tasks, data and seed, or start a "
                              "new output directory")
        self.cursors = [int(c) for c in state["cursors"]]
