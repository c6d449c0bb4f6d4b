"""BBT: CMA-ES over z in R^d from 0; the prompt of layer 0 is A z with A a fixed seeded random projection."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from bbt_mp2.backend import ModelInfo, ProjectionSpec, PromptParam
from bbt_mp2.methods.base import Stage, TuningMethod
from bbt_mp2.methods.bbt.config import BBTConfig
from bbt_mp2.methods.compat import check_head_checkpoint
from bbt_mp2.methods.search import cma_search

__all__ = ["BBTMethod"]

logger = logging.getLogger(__name__)


class BBTMethod(TuningMethod):
    """Black-Box Tuning: one stage, CMA-ES over ``d`` dims, population ``P x 1 x d`` at layer 0."""

    name = "bbt"
    config_cls = BBTConfig
    config: BBTConfig

    def check(self, info: ModelInfo) -> None:
        self.info = info
        check_head_checkpoint(self.config.checkpoint, info)

    @property
    def n_tokens(self) -> int:
        return self.config.n_tokens

    def stage_plan(self) -> list[tuple[str, int, int]]:
        return [("prompt", self.config.budget, self.config.popsize)]

    def _param(self) -> PromptParam:
        c = self.config
        spec = ProjectionSpec(kind=c.projection, seed=self.seeds["projection"], alpha=c.alpha, sigma=c.sigma)
        return PromptParam(layers=(0,), d=c.d, n_tokens=c.n_tokens, projection=spec, head=c.checkpoint or None,
                           prompt_mode=c.prompt_mode, scoring=c.scoring)

    def start(self, train_id: str) -> tuple[PromptParam, np.ndarray, dict[str, np.ndarray]]:
        self.train_id = train_id
        return self._param(), np.zeros((1, self.config.d)), {}

    def build_stage(self, index: int, context: Mapping[str, np.ndarray]) -> Stage:
        c = self.config

        def build(seed: int):
            return cma_search(dim=c.d, seed=seed, x0=np.zeros(c.d), sigma=c.sigma, popsize=c.popsize, bound=c.bound,
                              optimizer=c.optimizer, budget=c.budget)

        return Stage(
            name="prompt", budget=c.budget, eval_every=c.eval_every, param=self._param(), dim=c.d,
            generation=c.popsize, build_optimizer=build, decode=lambda x: np.asarray(x)[:, None, :],
        )
