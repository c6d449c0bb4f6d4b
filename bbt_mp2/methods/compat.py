"""Client-side checks of an MP2 checkpoint against the served backbone, run before any API call."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bbt_mp2.backend import ModelInfo
from bbt_mp2.checkpoint import CONFIG_FILE, TENSORS_FILE, CheckpointConfig
from bbt_mp2.errors import CheckpointError

__all__ = ["read_checkpoint_config", "check_checkpoint", "MAKE_CHECKPOINT_HINT"]

MAKE_CHECKPOINT_HINT = (
    "make one with `bbt-mp2 pretrain --recipe english --out DIR` (the checkpoint is DIR/checkpoint), or get the "
    "small cached demo checkpoint with `bbt-mp2 pretrain --demo` (prints its path)"
)


def read_checkpoint_config(path: str | os.PathLike[str]) -> CheckpointConfig:
    """Read only the JSON config of the MP2 checkpoint directory ``path`` (no tensors).

    Raises:
        CheckpointError: not a checkpoint directory, or a malformed config; the message names the command that
            makes one.
    """
    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / TENSORS_FILE).is_file():
        raise CheckpointError(
            f"{path} is not an MP2 checkpoint directory (needs {CONFIG_FILE} and {TENSORS_FILE}); "
            + MAKE_CHECKPOINT_HINT
        )
    try:
        return CheckpointConfig.from_dict(json.loads((path / CONFIG_FILE).read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path / CONFIG_FILE} is malformed: {exc}") from exc


def check_checkpoint(config: CheckpointConfig, info: ModelInfo, *, path: str = "", prompts: bool = True) -> None:
    """Refuse a checkpoint made for another backbone (embedding hash, hidden size) or other layers.

    Args:
        config: the checkpoint's config.
        info: what the backend serves (``Backend.info()``).
        path: the checkpoint path, for messages.
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
