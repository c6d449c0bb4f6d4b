"""Configuration of BBT (Sun et al., ICML 2022): one prompt at layer 0 through a fixed random projection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bbt_mp2.backend import PROJECTION_KINDS
from bbt_mp2.errors import ConfigError
from bbt_mp2.methods.base import ProjectedPromptConfig

__all__ = ["BBTConfig"]


@dataclass(frozen=True, kw_only=True)
class BBTConfig(ProjectedPromptConfig):
    """BBT hyper-parameters; defaults are the ``reference`` preset (txsun1997/Black-Box-Tuning ``bbt.py`` HEAD).

    Fields of :class:`MethodConfig` (budget, eval_every, loss, checkpoint, optimizer, selection),
    :class:`CMAStageConfig` (popsize, sigma: also divides the normal projection's scale, bound) and
    :class:`ProjectedPromptConfig` (d, n_tokens, alpha), plus:

    Attributes:
        projection: ``normal`` (scaled by the embedding std) or ``uniform`` (U(+-1/sqrt(d)), ICML-era BBT).
    """

    method: ClassVar[str] = "bbt"

    projection: str = "normal"  # normal | uniform

    def validate(self) -> None:
        super().validate()
        if self.projection not in ("normal", "uniform"):
            raise ConfigError(
                f"bbt: projection {self.projection!r} is not a random projection; choose 'normal' or 'uniform' "
                f"(of {PROJECTION_KINDS}; 'learned' is MP2's)"
            )
