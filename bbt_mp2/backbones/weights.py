"""Reading published weight files by key name (safetensors, sharded safetensors, ``pytorch_model.bin``).

Used by the CPT loader and by the MLM-head loader, which need tensors by name rather than a ``from_pretrained``
of a class whose layout they do not match.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from bbt_mp2.errors import ConfigError

__all__ = ["weight_files", "read_weights", "weight_keys"]

logger = logging.getLogger(__name__)

_SAFE_INDEX = "model.safetensors.index.json"
_BIN_INDEX = "pytorch_model.bin.index.json"


def weight_files(folder: str | Path) -> list[Path]:
    """The weight files of a model folder, safetensors preferred: single file, or the shards of an index.

    Raises:
        ConfigError: if the folder holds no ``*.safetensors`` / ``pytorch_model*.bin`` weights.
    """
    folder = Path(folder)
    for index in (_SAFE_INDEX, _BIN_INDEX):
        if (folder / index).is_file():
            shards = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            return [folder / s for s in shards]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return [folder / name]
    found = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if found:
        return found
    raise ConfigError(
        f"no weights in {folder}: expected model.safetensors, pytorch_model.bin or a sharded index; "
        "point at a folder saved with save_pretrained or downloaded from the hub"
    )


def weight_keys(folder: str | Path) -> list[str]:
    """All tensor names in a model folder's weight files (safetensors headers are read without the data)."""
    keys: list[str] = []
    for f in weight_files(folder):
        if f.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(f), framework="pt") as fh:
                keys.extend(fh.keys())
        else:
            keys.extend(_load_bin(f))
    return keys


def read_weights(folder: str | Path, keep: Callable[[str], bool] | None = None) -> dict[str, Tensor]:
    """Read the tensors of a model folder whose name passes ``keep`` (all by default), on CPU.

    Args:
        folder: a model folder (see :func:`weight_files`).
        keep: predicate on the tensor name; skipped tensors are not read (safetensors) or dropped (``.bin``).

    Returns:
        ``{name: tensor}`` in the stored dtypes.
    """
    out: dict[str, Tensor] = {}
    for f in weight_files(folder):
        if f.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(f), framework="pt") as fh:
                for k in fh.keys():
                    if keep is None or keep(k):
                        out[k] = fh.get_tensor(k)
        else:
            out.update({k: v for k, v in _load_bin(f).items() if keep is None or keep(k)})
    logger.debug("read %d tensors from %s", len(out), folder)
    return out


def _load_bin(path: Path) -> dict[str, Tensor]:
    try:  # memory-map the zip format: listing keys or picking a few tensors reads little
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (pre-1.6) serialisation cannot be memory-mapped
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ConfigError(f"{path} does not hold a state dict (got {type(state).__name__})")
    return state
