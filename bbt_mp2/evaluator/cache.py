"""LRU cache of prefix activations: hidden states entering a layer, for one dataset and one set of lower prompts.

Divide-and-conquer tuning revisits the same lower-layer prompts for many generations; the evaluator keys the
states entering layer ``b`` by (dataset fingerprint, hash of the prompts of layers < ``b``, ``b``) and resumes
from the deepest cached boundary instead of re-running the lower layers.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
import torch
from torch import Tensor

from bbt_mp2.errors import ConfigError

__all__ = ["ActivationCache", "prompt_prefix_hash"]

logger = logging.getLogger(__name__)


def prompt_prefix_hash(prompt: Tensor, layers: tuple[int, ...], boundary: int) -> str:
    """Hash of one candidate's prompts for the prompted layers strictly below ``boundary``.

    Args:
        prompt: ``L' x n x h`` prompts of one candidate (any float dtype/device).
        layers: the prompted layers (``L'`` of them, increasing).
        boundary: the layer whose input state the key describes.

    Returns:
        A hex digest; equal prompts (bitwise, as float32) and equal prompted-layer sets give equal digests.
    """
    below = [j for j, layer in enumerate(layers) if layer < boundary]
    digest = hashlib.sha1(repr((tuple(layers[j] for j in below), boundary)).encode())
    if below:
        block = prompt[below].detach().to("cpu", torch.float32).contiguous().numpy()
        digest.update(np.ascontiguousarray(block).tobytes())
    return digest.hexdigest()


class ActivationCache:
    """A bounded LRU map from a hashable key to a tensor (entry count and total bytes both bounded).

    Args:
        max_entries: most entries held (0 disables the cache).
        max_bytes: most bytes held in total; a tensor larger than this is never stored.
    """

    def __init__(self, max_entries: int = 16, max_bytes: int = 1 << 30) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ConfigError(f"cache sizes must be >= 0, got max_entries={max_entries}, max_bytes={max_bytes}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Tensor] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes currently held."""
        return self._bytes

    def get(self, key: Hashable) -> Tensor | None:
        """The tensor stored under ``key`` (marked most recently used), or ``None``."""
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: Tensor) -> None:
        """Store ``value`` (not copied: do not modify it afterwards), evicting least recently used entries."""
        size = value.element_size() * value.numel()
        if self.max_entries == 0 or size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old.element_size() * old.numel()
        self._items[key] = value
        self._bytes += size
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= evicted.element_size() * evicted.numel()

    def clear(self) -> None:
        """Drop every entry and reset the hit/miss counters."""
        self._items.clear()
        self._bytes = 0
        self.hits = self.misses = 0
