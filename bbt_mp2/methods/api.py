"""``tune``: the one-call Python API (what ``bbt-mp2 tune`` runs), usable without the CLI."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bbt_mp2.backend import Backend, ModelInfo
from bbt_mp2.errors import CheckpointError
from bbt_mp2.methods.compat import served_checkpoint_config
from bbt_mp2.methods.registry import build_config, get_method, get_preset
from bbt_mp2.methods.runner import ProgressCallback, RunConfig, run_method
from bbt_mp2.methods.session import RunResult

__all__ = ["tune", "default_out_dir", "served_checkpoint_id"]

logger = logging.getLogger(__name__)


def default_out_dir(task: str, method: str, seed: int) -> Path:
    """``runs/<task>-<method>-seed<seed>`` under the current directory."""
    return Path("runs") / f"{task}-{method}-seed{seed}"


def served_checkpoint_id(info: ModelInfo, checkpoint: str | os.PathLike[str]) -> str:
    """The id under which the backend serves ``checkpoint``: the id itself, or (LocalBackend) the absolute path of
    a local checkpoint directory given by a relative path.

    Raises:
        CheckpointError: the backend serves no such checkpoint (the served ids are listed).
    """
    text = os.fspath(checkpoint)
    if text in info.checkpoints:
        return text
    local = Path(text).expanduser()
    if local.is_dir() and str(local.resolve()) in info.checkpoints:
        return str(local.resolve())
    served_checkpoint_config(info, text)  # raises, naming the served ids
    return text


def tune(
    task: Any,
    method: str,
    seed: int,
    budget: int | None = None,
    *,
    backend: Backend,
    checkpoint: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    preset: str = "reference",
    overrides: Mapping[str, Any] | None = None,
    optimizer: Any | None = None,
    data: Any | None = None,
    data_root: str | os.PathLike[str] | None = None,
    n_tokens: int | None = None,
    max_length: int | None = None,
    resume: bool = False,
    callbacks: Sequence[ProgressCallback] = (),
) -> RunResult:
    """Tune ``method`` on ``task`` with ``seed`` through ``backend`` and write a run directory.

    Args:
        task: task name, task spec file (YAML/JSON, ``bbt_mp2.tasks.user``) or a :class:`TaskSpec`.
        method: ``bbt``, ``bbtv2``, ``mp2-shallow``, ``mp2-deep`` or ``mp2-router``.
        seed: run seed: the few-shot split (``bbt_mp2.tasks.fewshot(task, seed)``) and every derived seed.
        budget: total API calls on the training set; None = the preset's.
        backend: the frozen model (``LocalBackend`` or ``RemoteBackend``).
        checkpoint: id of a checkpoint the backend serves (``backend.info().checkpoints``; for a ``LocalBackend``
            also the shipped name or directory it was built from). MP2: its modules z and learned A; BBT/BBTv2:
            its MRC head scores the prompts and its prompt length is the default ``n_tokens``. The run's
            config.json records the id and the sha256 of its tensors.
        out_dir: run directory; default ``runs/<task>-<method>-seed<seed>``.
        preset: ``reference`` (released code) or ``paper``.
        overrides: config values over the preset (``{"popsize": 10, ...}``).
        optimizer: your own optimizer object with ``ask() -> P x D``, ``tell(X, losses)``, ``stop() -> dict``,
            ``best -> (x, loss)``, ``state_dict()``, ``load_state_dict()`` (single-stage methods).
        data: a few-shot split with ``train``/``dev``/``test`` example lists; default the protocol split.
        data_root: where the task data lives (default ``bbt_mp2.tasks.data_root()``).
        n_tokens: prompt length for BBT/BBTv2 (MP2 takes the checkpoint's).
        max_length: maximum encoded length, placeholders included; None = the task type's reference length
            capped by the backbone's positions (``bbt_mp2.encoding.default_max_length``).
        resume: continue the run in ``out_dir``.
        callbacks: called after every generation with a progress dict.

    Returns:
        The :class:`RunResult`.
    """
    from bbt_mp2 import tasks
    from bbt_mp2.tasks.user import resolve_task

    spec = resolve_task(task) if isinstance(task, (str, os.PathLike)) else task  # a name or a spec file
    entry = get_method(method)
    get_preset(preset, method)  # unknown preset -> error before any work
    values: dict[str, Any] = dict(overrides or {})
    if budget is not None:
        values["budget"] = int(budget)
    fields = entry.config_cls.field_names()
    if checkpoint is not None:
        info = backend.info()
        values["checkpoint"] = served_checkpoint_id(info, checkpoint)
        ckpt_n = served_checkpoint_config(info, values["checkpoint"]).n_tokens
        if "n_tokens" in fields and n_tokens is None and "n_tokens" not in values:
            n_tokens = ckpt_n
            logger.info("n_tokens=%d from checkpoint %s", ckpt_n, checkpoint)
        if "n_tokens" not in fields and n_tokens is not None and n_tokens != ckpt_n:
            raise CheckpointError(f"{method} uses the checkpoint's prompt length n_tokens={ckpt_n}; "
                                  f"got n_tokens={n_tokens}. Drop --n-tokens or pre-train with n_tokens={n_tokens}")
    if n_tokens is not None and "n_tokens" in fields:
        values.setdefault("n_tokens", int(n_tokens))
    method_config = build_config(method, preset, values)
    config = RunConfig(task=spec.name, method=method, seed=int(seed), method_config=method_config,
                       max_length=None if max_length is None else int(max_length), preset=preset)
    if data is None:
        data = tasks.fewshot(spec.name, int(seed), data_root=data_root)
    out = Path(out_dir) if out_dir is not None else default_out_dir(spec.name, method, int(seed))
    from bbt_mp2.tuned import clear_failure, record_failure, record_tuned

    try:
        result = run_method(config, backend, data, str(out), resume, optimizer=optimizer, callbacks=callbacks,
                            task_spec=spec)
    except Exception as exc:  # recorded for `bbt-mp2 runs` (failed), then raised unchanged
        record_failure(out, exc)
        raise
    clear_failure(out)
    record_tuned(out, spec)  # what `bbt-mp2 predict` / bbt_mp2.load_tuned need
    return result
