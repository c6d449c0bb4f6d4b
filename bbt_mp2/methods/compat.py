"""Client-side checks of an MP2 checkpoint against the served backbone, run before any API call.

Methods see a checkpoint only as plain data: its config in ``Backend.info().checkpoints[id]`` (read with
:func:`served_checkpoint_config`) and its module vectors from ``Backend.checkpoint_modules(id)``; they never read
checkpoint files. :func:`read_checkpoint_config` reads a local directory's JSON for the CLI's early checks.
"""

from __future__ import annotations

import json
import os

from bbt_mp2.backend import ModelInfo
from bbt_mp2.checkpoint import CONFIG_FILE, TENSORS_FILE, CheckpointConfig, resolve_checkpoint
from bbt_mp2.errors import CheckpointError

__all__ = [
    "read_checkpoint_config", "served_checkpoint_config", "check_checkpoint", "check_head_checkpoint",
    "MAKE_CHECKPOINT_HINT",
]

MAKE_CHECKPOINT_HINT = (
    "make one with `bbt-mp2 pretrain --recipe english --out DIR` (the checkpoint is DIR/checkpoint), or get the "
    "shipped one by name (`--checkpoint english-deep` or `english-shallow`, MiniLM)"
)


def read_checkpoint_config(name_or_path: str | os.PathLike[str]) -> CheckpointConfig:
    """Read only the JSON config of a local MP2 checkpoint (shipped name or directory; no tensors).

    Raises:
        CheckpointError: not a checkpoint directory, or a malformed config; the message names the command that
            makes one.
    """
    try:
        path = resolve_checkpoint(name_or_path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; {MAKE_CHECKPOINT_HINT}") from None
    if not (path / CONFIG_FILE).is_file() or not (path / TENSORS_FILE).is_file():
        raise CheckpointError(
            f"{path} is not an MP2 checkpoint directory (needs {CONFIG_FILE} and {TENSORS_FILE}); "
            + MAKE_CHECKPOINT_HINT
        )
    try:
        return CheckpointConfig.from_dict(json.loads((path / CONFIG_FILE).read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path / CONFIG_FILE} is malformed: {exc}") from exc


def served_checkpoint_config(info: ModelInfo, checkpoint_id: str) -> CheckpointConfig:
    """The config of checkpoint ``checkpoint_id`` as the backend serves it (``info.checkpoints``).

    Args:
        info: ``Backend.info()``.
        checkpoint_id: the checkpoint's id (a shipped name, a server's ``--checkpoint NAME``, or the absolute
            directory path a ``LocalBackend`` serves it under).

    Raises:
        CheckpointError: the backend does not serve it (served ids listed) or its entry is malformed.
    """
    entry = info.checkpoints.get(checkpoint_id)
    if entry is None:
        served = sorted(info.checkpoints) or "none"
        raise CheckpointError(
            f"checkpoint {checkpoint_id!r} is not served by the backend ({info.name}); served: {served}. Serve it "
            f"(LocalBackend.from_checkpoint / add_checkpoint, or `bbt-mp2 serve --checkpoint NAME=DIR`) or "
            f"{MAKE_CHECKPOINT_HINT}"
        )
    fields = set(CheckpointConfig.__dataclass_fields__)
    try:
        return CheckpointConfig.from_dict({k: v for k, v in entry.items() if k in fields})
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"the backend's entry for checkpoint {checkpoint_id!r} is malformed: {exc}") from exc


def check_checkpoint(config: CheckpointConfig, info: ModelInfo, *, path: str = "", prompts: bool = True) -> None:
    """Refuse a checkpoint made for another backbone (embedding hash, hidden size) or other layers.

    Args:
        config: the checkpoint's config.
        info: what the backend serves (``Backend.info()``).
        path: the checkpoint id, for messages.
        prompts: also check the prompted layers (False when only the head is used, as BBT/BBTv2 do).

    Raises:
        CheckpointError: naming the mismatch and how to fix it.
    """
    where = f" {path}" if path else ""
    if config.embedding_hash != info.embedding_hash:
        raise CheckpointError(
            f"checkpoint{where} was trained on backbone {config.backbone!r} (embedding hash {config.embedding_hash}); "
            f"the backend serves {info.name!r} (embedding hash {info.embedding_hash}). Serve the same backbone or "
            "pre-train a checkpoint for this one with `bbt-mp2 pretrain`."
        )
    if config.hidden != info.hidden:
        raise CheckpointError(
            f"checkpoint{where} has hidden size {config.hidden}; the backend's backbone {info.name!r} has "
            f"{info.hidden}. Use a checkpoint pre-trained on this backbone."
        )
    if prompts and max(config.layers) >= info.n_layers:
        raise CheckpointError(
            f"checkpoint{where} prompts layers {list(config.layers)} but backbone {info.name!r} has "
            f"{info.n_layers} layers (0..{info.n_layers - 1}). Use a checkpoint pre-trained on this backbone."
        )


def check_head_checkpoint(checkpoint_id: str | None, info: ModelInfo) -> None:
    """BBT/BBTv2: the checkpoint whose MRC head scores the prompts must be served and fit the backbone.

    ``None`` = the backend's default head (nothing to check).

    Raises:
        CheckpointError: not served, or made for another backbone.
    """
    if checkpoint_id:
        check_checkpoint(served_checkpoint_config(info, checkpoint_id), info, path=checkpoint_id, prompts=False)
