"""MP2 black-box tuning: stage I BO-UCB over router logits, stage II CMA-ES over the combined z per layer.

The checkpoint is named by id: its config comes from ``Backend.info().checkpoints[id]`` and its module vectors z
from ``Backend.checkpoint_modules(id)`` (plain data, so the same method runs against a remote server); both are
checked against ``Backend.info()`` before any work. A router ``r`` (``L' x K``) gives each prompted layer the
combined intrinsic vector ``z_l = sum_k w~_{l,k} z_{l,k}`` (``w~`` = sigmoid or binary routing, normalised to
sum 1); the backend projects it through the checkpoint's learned ``A_l`` (``ProjectionSpec(kind="learned")``).
Because ``A_l`` is shared by the K modules of a layer, stage II tunes ``z_l`` in R^d directly, started from the
dev-selected router's combination.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from bbt_mp2.backend import Backend, ModelInfo, ProjectionSpec, PromptParam
from bbt_mp2.checkpoint import CheckpointConfig
from bbt_mp2.errors import CheckpointError, ConfigError
from bbt_mp2.methods.base import Stage, TuningMethod
from bbt_mp2.methods.compat import MAKE_CHECKPOINT_HINT, check_checkpoint, served_checkpoint_config
from bbt_mp2.methods.mp2.config import MP2DeepConfig, MP2RouterConfig, MP2ShallowConfig
from bbt_mp2.methods.search import bo_ucb_search, cma_search, dc_cma_search
from bbt_mp2.routing import route  # the one routing rule (re-exported: bbt_mp2.methods.route)

__all__ = ["route", "MP2ShallowMethod", "MP2DeepMethod", "MP2RouterMethod"]

logger = logging.getLogger(__name__)


class _MP2Base(TuningMethod):
    """Shared checkpoint handling of the MP2 methods."""

    deep: ClassVar[bool] = False

    def _is_deep(self, ckpt_cfg: CheckpointConfig) -> bool:
        return self.deep

    def check(self, info: ModelInfo) -> None:
        self.info = info
        cid = self.config.checkpoint
        if not cid:
            raise ConfigError(
                f"{self.name} needs an MP2 checkpoint (checkpoint=<id>, CLI --checkpoint NAME|DIR); "
                f"{MAKE_CHECKPOINT_HINT}"
            )
        ckpt_cfg: CheckpointConfig = served_checkpoint_config(info, cid)
        check_checkpoint(ckpt_cfg, info, path=cid)
        if 0 not in ckpt_cfg.layers:
            raise CheckpointError(f"checkpoint {cid} does not prompt layer 0 (layers {list(ckpt_cfg.layers)})")
        deep = self._is_deep(ckpt_cfg)
        if deep and len(ckpt_cfg.layers) < 2:
            raise CheckpointError(
                f"{self.name} tunes every prompted layer but checkpoint {cid} is shallow (layers "
                f"{list(ckpt_cfg.layers)}); use mp2-shallow or a deep checkpoint (`bbt-mp2 pretrain` with deep=True)"
            )
        self.ckpt_config = ckpt_cfg
        self.layers = tuple(ckpt_cfg.layers) if deep else (0,)
        logger.info("%s: checkpoint %s, layers %s, K=%d, d=%d, n=%d", self.name, cid, self.layers,
                    ckpt_cfg.n_modules, ckpt_cfg.d, ckpt_cfg.n_tokens)

    def attach(self, backend: Backend) -> None:
        """Fetch the checkpoint's module vectors z (``L' x K x d``) from ``backend`` (after :meth:`check`).

        Raises:
            CheckpointError: the served z does not have the shape its config announces.
        """
        c = self.ckpt_config
        z = np.asarray(backend.checkpoint_modules(str(self.config.checkpoint)), dtype=np.float64)
        if z.shape != (len(c.layers), c.n_modules, c.d):
            raise CheckpointError(f"checkpoint {self.config.checkpoint} served z of shape {z.shape}; its config says "
                                  f"{(len(c.layers), c.n_modules, c.d)}")
        self.z = z[[c.layers.index(layer) for layer in self.layers]]  # L' x K x d

    @property
    def n_tokens(self) -> int:
        return self.ckpt_config.n_tokens

    @property
    def n_modules(self) -> int:
        return self.ckpt_config.n_modules

    def _param(self) -> PromptParam:
        cid = str(self.config.checkpoint)
        spec = ProjectionSpec(kind="learned", checkpoint=cid)
        return PromptParam(layers=self.layers, d=self.ckpt_config.d, n_tokens=self.n_tokens, projection=spec,
                           head=cid, scoring=self.config.scoring)

    def combine(self, routers: np.ndarray) -> np.ndarray:
        """``P x L' x K`` router logits -> ``P x L' x d`` combined intrinsic vectors."""
        return np.einsum("plk,lkd->pld", route(routers, self.config.routing), self.z)

    def start(self, train_id: str) -> tuple[PromptParam, np.ndarray, dict[str, np.ndarray]]:
        self.train_id = train_id
        router = np.zeros((len(self.layers), self.n_modules))
        return self._param(), self.combine(router[None])[0], {"router": router}

    def _router_stage(self, budget: int, eval_every: int, optimizer: str | None = None) -> Stage:
        c, shape = self.config, (len(self.layers), self.n_modules)
        dim = shape[0] * shape[1]

        def build(seed: int):
            return bo_ucb_search(dim=dim, seed=seed, bound=c.router_bound, n_init=c.n_init, kappa=c.kappa,
                                 optimizer=optimizer, budget=budget)

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
                return cma_search(dim=d, seed=seed, x0=x0, sigma=c.sigma, popsize=c.popsize, bound=c.bound,
                                  optimizer=c.optimizer, budget=c.budget - c.budget_router)
            return dc_cma_search(blocks=[d] * n_layers, seed=seed, x0=x0, sigma_first=c.sigma,
                                 sigma_rest=c.sigma_rest, popsize=c.popsize, bound=c.bound, optimizer=c.optimizer,
                                 budget=c.budget - c.budget_router)

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
        return self._router_stage(self.config.budget, self.config.eval_every, self.config.optimizer)


