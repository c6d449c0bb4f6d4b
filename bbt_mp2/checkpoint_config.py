"""The config of an MP2 checkpoint (``config.json`` beside ``tensors.safetensors``), importable without torch.

The tensors and their loading live in :mod:`bbt_mp2.checkpoint`; this module holds only the shapes and
provenance, on the project's config base, so plain-data code (methods, the server's schemas, the CLI listing
checkpoints) reads a checkpoint's config without importing torch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from bbt_mp2.config import Config
from bbt_mp2.errors import CheckpointError

__all__ = ["CheckpointConfig", "FORMAT_VERSION", "CHECKPOINT_ROUTINGS"]

FORMAT_VERSION = 1
CHECKPOINT_ROUTINGS = ("sigmoid", "binary")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckpointConfig(Config):
    """Shapes and provenance of an MP2 checkpoint (errors are :class:`CheckpointError`).

    Attributes:
        backbone: backbone name (hub id or path).
        embedding_hash: ``Backbone.embedding_hash()`` of the backbone it was trained on.
        n_tokens: n, prompt length.
        n_modules: K, modules per prompted layer.
        d: intrinsic dimension of each module.
        hidden: h, hidden size of the backbone.
        layers: prompted layers; ``(0,)`` = shallow.
        task_names: the router rows.
        routing: inference routing: ``binary`` (paper) or ``sigmoid`` (reference code).
        meta: training metadata (steps, recipe, metrics).
        format_version: version of the checkpoint layout.
    """

    error: ClassVar[type[Exception]] = CheckpointError
    label: ClassVar[str] = "checkpoint config"

    backbone: str  # backbone name (hub id or path)
    embedding_hash: str  # Backbone.embedding_hash() of the backbone it was trained on
    n_tokens: int  # n, prompt length
    n_modules: int  # K
    d: int  # intrinsic dimension
    hidden: int  # h
    layers: tuple[int, ...]  # prompted layers; (0,) = shallow
    task_names: tuple[str, ...]  # router rows
    routing: str = "sigmoid"  # inference routing: "binary" (paper) or "sigmoid" (reference code)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)  # training metadata (steps, recipe, metrics)
    format_version: int = FORMAT_VERSION

    @property
    def head_only(self) -> bool:
        """True for a zero-prompt head (pre-trained with ``prompt_dropout`` 1): its modules are untrained."""
        return float(self.meta.get("pretrain_config", {}).get("prompt_dropout", 0.0)) >= 1.0

    def validate(self) -> None:
        super().validate()
        for name in ("n_tokens", "n_modules", "d", "hidden", "format_version"):
            self._check_int(name, minimum=1)
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "task_names", tuple(self.task_names))
        if not self.layers or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in self.layers):
            self._fail("layers", "a non-empty sequence of layer indices >= 0", "Pass e.g. layers=[0].")
        self._check_choice("routing", CHECKPOINT_ROUTINGS)
        if not isinstance(self.meta, dict):
            self._fail("meta", "a JSON object", "Pass a dict of training metadata.")
