"""Divide-and-conquer over coordinate blocks (BBTv2; MP2 deep stage II).

The D coordinates are split into consecutive blocks (one per prompted layer). Each block has its own inner
optimizer (CMA-ES by default). Rounds visit the blocks in order, one generation each: `ask()` returns
full-dimension candidates in which only the visited block varies and every other block sits at its incumbent,
the best-ever point of that block's own optimizer (as in BBTv2's `es.result.xbest`, whose loss may have been
measured while other blocks held older incumbents).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from optimizers.base import Optimizer
from optimizers.cma import CMA, CMAConfig
from optimizers.configs import OptimizerConfig
from optimizers.errors import ConfigError, ResumeError
from optimizers.registry import register_optimizer

__all__ = ["DivideAndConquer", "DivideAndConquerCMA", "DivideAndConquerConfig", "InnerFactory"]

logger = logging.getLogger(__name__)

InnerFactory = Callable[[int, int, int, np.ndarray], Optimizer]
"""(block index, block dim, block seed, block x0 as a `block dim` ndarray) -> a fresh inner optimizer."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DivideAndConquerConfig(OptimizerConfig):
    """Blocks and per-block CMA-ES settings (defaults = `reference`: MPMP Deep/deepbbt.py stage II).

    Attributes:
        seed: parent seed; block b's optimizer gets child seed b of `np.random.SeedSequence(seed)`.
        block_sizes: sizes of the consecutive blocks, summing to D; None = `n_blocks` equal blocks.
        n_blocks: number of equal blocks when `block_sizes` is None (D must be divisible by it).
        sigma0: CMA initial step size of blocks 1..B-1.
        sigma0_first: CMA initial step size of block 0 (the embedding layer); None = `sigma0`.
        popsize: CMA candidates per ask.
        bounds: box [-bounds, bounds] per coordinate; None = unbounded.
        x0: D floats, the start (and first incumbent) of every block; None = zeros.
    """

    block_sizes: tuple[int, ...] | None = None  # consecutive block sizes summing to D
    n_blocks: int = 1  # equal blocks when block_sizes is None
    sigma0: float = 0.1  # CMA step size of blocks 1..B-1
    sigma0_first: float | None = 0.5  # CMA step size of block 0; None = sigma0
    popsize: int = 20  # lambda of every block's CMA
    bounds: float | None = 5.0  # box [-bounds, bounds]^D; None = unbounded
    x0: tuple[float, ...] | None = None  # start / first incumbent; None = zeros

    def validate(self) -> None:
        super().validate()
        if self.block_sizes is not None:
            sizes = self.block_sizes
            if isinstance(sizes, (str, bytes)) or not all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in sizes
            ) or not sizes:
                self._fail("block_sizes", "a non-empty sequence of positive integers or None",
                           "Pass e.g. block_sizes=[300, 300].")
            object.__setattr__(self, "block_sizes", tuple(int(s) for s in sizes))
        self._check_int("n_blocks", minimum=1)
        self._check_float("sigma0")
        self._check_float("sigma0_first", optional=True)
        self._check_int("popsize", minimum=2)
        self._check_float("bounds", optional=True)
        self._check_vector("x0")
        if self.bounds is not None and self.x0 is not None and max(abs(v) for v in self.x0) > self.bounds:
            self._fail("x0", f"inside the box [-{self.bounds}, {self.bounds}]", "Clip x0 or widen `bounds`.")

    def sizes_for(self, dim: int) -> tuple[int, ...]:
        """The block sizes for dimension `dim`.

        Raises:
            ConfigError: if they do not add up to `dim`.
        """
        if self.block_sizes is not None:
            if sum(self.block_sizes) != dim:
                raise ConfigError(f"block_sizes {list(self.block_sizes)} sum to {sum(self.block_sizes)}; "
                                  f"expected dim={dim}. Make the blocks cover every coordinate once")
            return self.block_sizes
        if dim % self.n_blocks:
            raise ConfigError(f"dim={dim} is not divisible by n_blocks={self.n_blocks}; pass block_sizes instead")
        return (dim // self.n_blocks,) * self.n_blocks


@register_optimizer("dc-cma")
class DivideAndConquer(Optimizer):
    """Block-wise alternating optimisation; itself an :class:`Optimizer` over all D coordinates.

    Args:
        config: a :class:`DivideAndConquerConfig`.
        dim: D.
        inner_factory: builds the optimizer of one block (see :data:`InnerFactory`); None = CMA-ES from the
            config (`sigma0_first` for block 0, `sigma0` for the others, `popsize`, `bounds`).

    Example:
        >>> opt = DivideAndConquer(DivideAndConquerConfig(seed=0, block_sizes=(4, 4)), dim=8)
        >>> opt.current_block
        0
        >>> X = opt.ask()        # 20 x 8; columns 4..7 sit at the incumbent (zeros)
    """

    config_cls = DivideAndConquerConfig
    config: DivideAndConquerConfig

    def __init__(self, config: DivideAndConquerConfig, *, dim: int, inner_factory: InnerFactory | None = None) -> None:
        super().__init__(config, dim=dim)
        sizes = config.sizes_for(self.dim)
        if config.x0 is not None and len(config.x0) != self.dim:
            raise ConfigError(f"DivideAndConquerConfig.x0 has {len(config.x0)} entries; expected dim={self.dim}")
        edges = np.cumsum((0,) + sizes)
        self._slices = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        self._incumbent = np.zeros(self.dim) if config.x0 is None else np.asarray(config.x0, dtype=np.float64)
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(config.seed).spawn(len(sizes))]
        factory = inner_factory or self._default_inner
        self._inner = [factory(b, sizes[b], seeds[b], self._incumbent[sl].copy()) for b, sl in enumerate(self._slices)]
        for b, opt in enumerate(self._inner):
            if not isinstance(opt, Optimizer) or opt.dim != sizes[b]:
                raise ConfigError(f"inner_factory returned {type(opt).__name__} for block {b}; expected an "
                                  f"Optimizer with dim={sizes[b]}")
        self._block = 0
        self._round = 0

    def _default_inner(self, block: int, dim: int, seed: int, x0: np.ndarray) -> Optimizer:
        c = self.config
        sigma0 = c.sigma0_first if block == 0 and c.sigma0_first is not None else c.sigma0
        cfg = CMAConfig(seed=seed, sigma0=sigma0, popsize=c.popsize, bounds=c.bounds, x0=tuple(x0.tolist()))
        return CMA(cfg, dim=dim)

    # ------------------------------------------------------------------------------------------ properties
    @property
    def current_block(self) -> int:
        """Index of the block the next (or pending) `ask()` varies."""
        return self._block

    @property
    def n_rounds(self) -> int:
        """Completed rounds (visits of every block)."""
        return self._round

    @property
    def block_slices(self) -> list[slice]:
        """Coordinate slice of each block, in order."""
        return list(self._slices)

    @property
    def block_optimizers(self) -> list[Optimizer]:
        """The inner optimizer of each block (read them; driving them directly breaks the composite)."""
        return list(self._inner)

    @property
    def incumbent(self) -> np.ndarray:
        """`D` float64: every block at the best-ever point of its own optimizer (x0 before its first visit)."""
        return self._incumbent.copy()

    # --------------------------------------------------------------------------------------------- protocol
    def _ask(self) -> np.ndarray:
        for _ in range(len(self._inner)):  # skip blocks whose optimizer has stopped, unless all have
            if not self._inner[self._block].stop():
                break
            self._advance()
        sl = self._slices[self._block]
        Z = self._inner[self._block].ask()
        X = np.tile(self._incumbent, (Z.shape[0], 1))
        X[:, sl] = Z
        return X

    def _tell(self, X: np.ndarray, losses: np.ndarray) -> None:
        inner = self._inner[self._block]
        sl = self._slices[self._block]
        inner.tell(X[:, sl], losses)
        self._incumbent[sl] = inner.best[0]
        logger.debug("block %d round %d: best block loss %.6g", self._block, self._round, inner.best[1])
        self._advance()

    def _advance(self) -> None:
        self._block += 1
        if self._block == len(self._inner):
            self._block = 0
            self._round += 1

    def _stop(self) -> dict[str, Any]:
        reasons = [opt.stop() for opt in self._inner]
        if all(reasons):
            return {"all_blocks_stopped": {str(b): r for b, r in enumerate(reasons)}}
        return {}

    def _state_dict(self) -> dict[str, Any]:
        return {
            "block": self._block,
            "round": self._round,
            "incumbent": self._incumbent.tolist(),
            "blocks": [opt.state_dict() for opt in self._inner],
        }

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["blocks"]) != len(self._inner):
            raise ResumeError(f"state has {len(state['blocks'])} blocks; this optimizer has {len(self._inner)}")
        for opt, inner_state in zip(self._inner, state["blocks"]):
            opt.load_state_dict(inner_state)
        self._block = int(state["block"])
        self._round = int(state["round"])
        self._incumbent = np.asarray(state["incumbent"], dtype=np.float64)
        if self._pending is not None and not self._inner[self._block].pending:
            raise ResumeError(f"state has a pending population but block {self._block}'s optimizer has none")


DivideAndConquerCMA = DivideAndConquer
"""Alias used in the module map and the style guide."""
