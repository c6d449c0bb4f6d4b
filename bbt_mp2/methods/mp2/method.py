"""MP2 black-box tuning: stage I BO-UCB over router logits, stage II CMA-ES over the combined z per layer.

The checkpoint is read client-side (z, router shapes, config) and checked against ``Backend.info()`` before any
work. A router ``r`` (``L' x K``) gives each prompted layer the combined intrinsic vector
``z_l = sum_k w~_{l,k} z_{l,k}`` (``w~`` = sigmoid or binary routing, normalised to sum 1); the backend projects it
through the checkpoint's learned ``A_l`` (``ProjectionSpec(kind="learned")``). Because ``A_l`` is shared by the K
modules of a layer, stage II tunes ``z_l`` in R^d directly, started from the dev-selected router's combination.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from bbt_mp2.backend import ModelInfo, ProjectionSpec, PromptParam
from bbt_mp2.checkpoint import CheckpointConfig, load_checkpoint
from bbt_mp2.errors import CheckpointError, ConfigError
from bbt_mp2.methods.base import Stage, TuningMethod
from bbt_mp2.methods.compat import MAKE_CHECKPOINT_HINT, check_checkpoint, read_checkpoint_config
from bbt_mp2.methods.mp2.config import MP2DeepConfig, MP2RouterConfig, MP2ShallowConfig
from bbt_mp2.methods.search import bo_ucb_search, cma_search, dc_cma_search

__all__ = ["route", "MP2ShallowMethod", "MP2DeepMethod", "MP2RouterMethod"]

logger = logging.getLogger(__name__)


def route(router: np.ndarray, routing: str) -> np.ndarray:
    """Router logits -> module weights normalised to sum 1 per layer.

    Args:
        router: ``... x K`` float logits.
        routing: ``sigmoid`` (w = sigmoid(r)) or ``binary`` (w = 1[r > 0]; a layer with no active module gets
            all-zero weights, i.e. a zero prompt).

    Returns:
        ``... x K`` float64 weights.
    """
    r = np.asarray(router, dtype=np.float64)
    s = 1.0 / (1.0 + np.exp(-r)) if routing == "sigmoid" else (r > 0).astype(np.float64)
    return s / (s.sum(axis=-1, keepdims=True) + 1e-12)


class _MP2Base(TuningMethod):
    """Shared checkpoint handling of the MP2 methods."""

    deep: ClassVar[bool] = False

    def _is_deep(self, ckpt_cfg: CheckpointConfig) -> bool:
        return self.deep

    def check(self, info: ModelInfo) -> None:
        self.info = info
        path = self.config.checkpoint
        if not path:
            raise ConfigError(
                f"{self.name} needs an MP2 checkpoint (checkpoint=DIR, CLI --checkpoint DIR); {MAKE_CHECKPOINT_HINT}"
            )
        ckpt_cfg: CheckpointConfig = read_checkpoint_config(path)
        check_checkpoint(ckpt_cfg, info, path=str(path))
        if 0 not in ckpt_cfg.layers:
            raise CheckpointError(f"checkpoint {path} does not prompt layer 0 (layers {list(ckpt_cfg.layers)})")
        deep = self._is_deep(ckpt_cfg)
        if deep and len(ckpt_cfg.layers) < 2:
            raise CheckpointError(
                f"{self.name} tunes every prompted layer but checkpoint {path} is shallow (layers "
                f"{list(ckpt_cfg.layers)}); use mp2-shallow or a deep checkpoint (`bbt-mp2 pretrain` with deep=True)"
            )
        ckpt = load_checkpoint(path)
        self.ckpt_config = ckpt_cfg
        self.layers = tuple(ckpt_cfg.layers) if deep else (0,)
        rows = [ckpt.layer_index(layer) for layer in self.layers]
        self.z = ckpt.z.detach().cpu().double().numpy()[rows]  # L' x K x d
        logger.info("%s: checkpoint %s, layers %s, K=%d, d=%d, n=%d", self.name, path, self.layers,
                    ckpt_cfg.n_modules, ckpt_cfg.d, ckpt_cfg.n_tokens)

    @property
    def n_tokens(self) -> int:
        return self.ckpt_config.n_tokens

    @property
    def n_modules(self) -> int:
        return self.ckpt_config.n_modules

    def _param(self) -> PromptParam:
        spec = ProjectionSpec(kind="learned", checkpoint=str(self.config.checkpoint))
        return PromptParam(layers=self.layers, d=self.ckpt_config.d, n_tokens=self.n_tokens, projection=spec)

    def combine(self, routers: np.ndarray) -> np.ndarray:
        """``P x L' x K`` router logits -> ``P x L' x d`` combined intrinsic vectors."""
        return np.einsum("plk,lkd->pld", route(routers, self.config.routing), self.z)

    def start(self, train_id: str) -> tuple[PromptParam, np.ndarray, dict[str, np.ndarray]]:
        self.train_id = train_id
        router = np.zeros((len(self.layers), self.n_modules))
        return self._param(), self.combine(router[None])[0], {"router": router}

    def _router_stage(self, budget: int, eval_every: int) -> Stage:
        c, shape = self.config, (len(self.layers), self.n_modules)
        dim = shape[0] * shape[1]

        def build(seed: int):
            return bo_ucb_search(dim=dim, seed=seed, bound=c.router_bound, n_init=c.n_init, kappa=c.kappa)

        return Stage(
            name="router", budget=budget, eval_every=eval_every, param=self._param(), dim=dim,
            generation=c.n_init, build_optimizer=build,
            decode=lambda x: self.combine(np.asarray(x).reshape(len(x), *shape)),
            extras=lambda x: {"router": np.asarray(x).reshape(shape)},
        )


class _TwoStageMP2(_MP2Base):
    def stage_plan(self) -> list[tuple[str, int, int]]:
        c = self.config
        plan = [("router", c.budget_router, c.n_init)] if c.budget_router > 0 else []
        return plan + [("prompt", c.budget - c.budget_router, c.popsize)]

    def stage_context(self, index: int, selected_extras: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        router = selected_extras.get("router")
        if router is None:
            router = np.zeros((len(self.layers), self.n_modules))
        return {"router": np.asarray(router, dtype=np.float64)}

    def build_stage(self, index: int, context: Mapping[str, np.ndarray]) -> Stage:
        c = self.config
        if c.budget_router > 0 and index == 0:
            return self._router_stage(c.budget_router, c.eval_every_router)
        router = np.asarray(context["router"], dtype=np.float64)
        n_layers, d = len(self.layers), self.ckpt_config.d
        x0 = self.combine(router[None])[0].reshape(-1)

        def build(seed: int):
            if n_layers == 1:
                return cma_search(dim=d, seed=seed, x0=x0, sigma=c.sigma, popsize=c.popsize, bound=c.bound)
            return dc_cma_search(blocks=[d] * n_layers, seed=seed, x0=x0, sigma_first=c.sigma,
                                 sigma_rest=c.sigma_rest, popsize=c.popsize, bound=c.bound)

        return Stage(
            name="prompt", budget=c.budget - c.budget_router, eval_every=c.eval_every, param=self._param(),
            dim=n_layers * d, generation=c.popsize, build_optimizer=build,
            decode=lambda x: np.asarray(x).reshape(len(x), n_layers, d), extras=lambda x: {"router": router},
        )


class MP2ShallowMethod(_TwoStageMP2):
    """Two-stage shallow MP2: 8 router logits, then CMA-ES over one z in R^d (layer 0)."""

    name = "mp2-shallow"
    config_cls = MP2ShallowConfig
    deep = False


class MP2DeepMethod(_TwoStageMP2):
    """Two-stage deep MP2: 8 x L router logits, then divide-and-conquer CMA-ES over z_l per layer."""

    name = "mp2-deep"
    config_cls = MP2DeepConfig
    deep = True


class MP2RouterMethod(_MP2Base):
    """Router-only MP2: stage I alone; deep (a router per prompted layer) when the checkpoint is deep, unless
    ``deep`` says otherwise."""

    name = "mp2-router"
    config_cls = MP2RouterConfig

    def _is_deep(self, ckpt_cfg: CheckpointConfig) -> bool:
        if self.config.deep is None:
            return len(ckpt_cfg.layers) > 1
        return bool(self.config.deep)

    def stage_plan(self) -> list[tuple[str, int, int]]:
        return [("router", self.config.budget, self.config.n_init)]

    def build_stage(self, index: int, context: Mapping[str, np.ndarray]) -> Stage:
        return self._router_stage(self.config.budget, self.config.eval_every)


