"""BBTv2: per-layer normal projections, one CMA-ES per layer, layers visited in rounds (divide and conquer)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from bbt_mp2.backend import ModelInfo, ProjectionSpec, PromptParam
from bbt_mp2.methods.base import Stage, TuningMethod
from bbt_mp2.methods.bbtv2.config import BBTv2Config
from bbt_mp2.methods.compat import check_head_checkpoint
from bbt_mp2.methods.search import dc_cma_search

__all__ = ["BBTv2Method"]

logger = logging.getLogger(__name__)


class BBTv2Method(TuningMethod):
    """BBTv2: one stage over ``L * d`` dims (blocks of ``d`` per layer); population ``P x L x d``."""

    name = "bbtv2"
    config_cls = BBTv2Config
    config: BBTv2Config

    def check(self, info: ModelInfo) -> None:
        self.info = info
        check_head_checkpoint(self.config.checkpoint, info)
        round_calls = self.config.popsize * info.n_layers
        if self.config.budget < round_calls:
            logger.warning(
                "bbtv2: budget %d < one round (%d layers x popsize %d = %d calls); upper layers stay untuned",
                self.config.budget, info.n_layers, self.config.popsize, round_calls,
            )

    @property
    def n_tokens(self) -> int:
        return self.config.n_tokens

    @property
    def n_layers(self) -> int:
        if self.info is None:
            raise RuntimeError("BBTv2Method.check(info) must run first")
        return self.info.n_layers

    def stage_plan(self) -> list[tuple[str, int, int]]:
        return [("prompt", self.config.budget, self.config.popsize)]

    def _param(self) -> PromptParam:
        c = self.config
        spec = ProjectionSpec(
            kind="normal", seed=self.seeds["projection"], alpha=c.alpha, sigma=c.sigma, stats_dataset=self.train_id
        )
        return PromptParam(layers=tuple(range(self.n_layers)), d=c.d, n_tokens=c.n_tokens, projection=spec,
                           head=c.checkpoint or None, prompt_mode=c.prompt_mode, scoring=c.scoring)

    def start(self, train_id: str) -> tuple[PromptParam, np.ndarray, dict[str, np.ndarray]]:
        self.train_id = train_id
        return self._param(), np.zeros((self.n_layers, self.config.d)), {}

    def build_stage(self, index: int, context: Mapping[str, np.ndarray]) -> Stage:
        c, n_layers = self.config, self.n_layers

        def build(seed: int):
            return dc_cma_search(
                blocks=[c.d] * n_layers, seed=seed, x0=np.zeros(n_layers * c.d), sigma_first=c.sigma,
                sigma_rest=c.sigma_rest, popsize=c.popsize, bound=c.bound, optimizer=c.optimizer,
                budget=c.budget,
            )

        return Stage(
            name="prompt", budget=c.budget, eval_every=c.eval_every, param=self._param(), dim=n_layers * c.d,
            generation=c.popsize, build_optimizer=build,
            decode=lambda x: np.asarray(x).reshape(len(x), n_layers, c.d),
        )
