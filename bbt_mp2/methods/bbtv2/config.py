"""Configuration of BBTv2 (Sun et al., EMNLP 2022): a prompt at every layer, divide-and-conquer CMA-ES."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bbt_mp2.methods.base import ProjectedPromptConfig

__all__ = ["BBTv2Config"]


@dataclass(frozen=True, kw_only=True)
class BBTv2Config(ProjectedPromptConfig):
    """BBTv2 hyper-parameters; defaults are the ``reference`` preset (``deepbbt.py`` README example).

    Fields of :class:`MethodConfig`, :class:`CMAStageConfig` and :class:`ProjectedPromptConfig`; rounds visit
    layers 0..L-1, one generation (``popsize`` calls) each, so a full round costs ``popsize * L`` calls. ``sigma``
    is the step size of layer 0 (the normal projections of every layer divide their scale by it); layer l's
    projection is scaled by ``alpha`` times the std of the hidden states entering it on the training set (clipped at
    3 sigma five times; layer 0 by the embedding std). Plus:

    Attributes:
        sigma_rest: CMA-ES step size of layers 1..L-1.
    """

    method: ClassVar[str] = "bbtv2"

    sigma: float = 0.2  # step size of layer 0
    sigma_rest: float = 0.2  # step size of layers 1..L-1
    alpha: float = 0.2  # scale of the normal projections

    def validate(self) -> None:
        super().validate()
        self._check_float("sigma_rest")
