"""The config base of bbt-mp2: :class:`Config`, the one base (``optimizers.configs.ConfigBase``) bound to
:class:`bbt_mp2.errors.ConfigError`.

Every config of the toolkit is a frozen, keyword-only dataclass on this base (method configs, the pre-training
config, the MP2 checkpoint config) or on :class:`optimizers.OptimizerConfig` (optimizer configs): validation in
``validate()``, a JSON round trip with sorted keys, unknown keys rejected by name with the valid keys listed, and
``parse_value`` for ``--set key=value``. The base is a dataclass rather than a pydantic model so that the
``optimizers`` package, which holds it, stays numpy-only.

Example:
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True, kw_only=True)
    ... class ToyConfig(Config):
    ...     steps: int = 10  # optimisation steps
    ...     def validate(self) -> None:
    ...         super().validate()
    ...         self._check_int("steps", minimum=1)
    >>> ToyConfig.from_json(ToyConfig(steps=3).to_json())
    ToyConfig(steps=3)
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from bbt_mp2.errors import ConfigError
from optimizers.configs import ConfigBase

__all__ = ["Config"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ConfigBase):
    """Base of the bbt-mp2 configs; raises :class:`bbt_mp2.errors.ConfigError` (see :class:`ConfigBase`)."""

    error: ClassVar[type[Exception]] = ConfigError
