"""What every tuning method shares: the config base class, the :class:`Stage` of a run, the method interface.

A method (BBT, BBTv2, MP2) is a sequence of stages. A stage owns one optimizer over a ``D``-dim search space and
knows how to turn an optimizer population (``P x D``) into the population a Backend scores
(``P x len(layers) x d``). The run loop (:mod:`bbt_mp2.methods.runner`) drives the stages; methods never call the
backend themselves and never touch torch modules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bbt_mp2.backend import HEAD_KINDS, LOSSES, PROMPT_MODES, SCORINGS, ModelInfo, PromptParam
from bbt_mp2.config import Config
from bbt_mp2.errors import ConfigError
from bbt_mp2.methods.selection import check_selection

__all__ = ["MethodConfig", "CMAStageConfig", "ProjectedPromptConfig", "Stage", "TuningMethod", "parse_value",
           "derive_seeds"]

SEED_NAMES = ("projection", "stage0", "stage1", "stage2")


def derive_seeds(seed: int) -> dict[str, int]:
    """Child seeds of a run seed (``np.random.SeedSequence(seed).spawn``), one per stochastic component.

    Returns:
        ``{"projection": ..., "stage0": ..., "stage1": ..., "stage2": ...}``, 31-bit ints.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    children = np.random.SeedSequence(int(seed)).spawn(len(SEED_NAMES))
    return {name: int(c.generate_state(1)[0] & 0x7FFFFFFF) for name, c in zip(SEED_NAMES, children)}


@dataclass(frozen=True, kw_only=True)
class MethodConfig(Config):
    """Base of every method config (the project's one config base, :class:`bbt_mp2.config.Config`): frozen,
    defaulted (= the ``reference`` preset), JSON round trip, unknown keys rejected by name.

    Attributes:
        budget: API calls on the training set (one candidate = one call), all stages together.
        eval_every: dev evaluation of the incumbent every this many calls (of the tuning stage).
        loss: fitness the backend returns (``auto`` = option CE for option tasks, span CE for span tasks).
        checkpoint: id of the served MP2 checkpoint (MP2: its modules, A and head; BBT/BBTv2: its MRC head;
            None = the backend's default head); checked against the backbone.
        optimizer: registry name or import path (``optimizers.make_optimizer``) of the optimizer of the method's
            tuning stage (its last: BBT's CMA-ES, the per-layer CMA-ES of BBTv2 and deep MP2 (kept divide and
            conquer), MP2's stage II, router-only MP2's BO); it gets the stage's start point, step size, population
            size and box where its config has them. None = the method's own optimizer.
        selection: the dev-selection rule (:mod:`bbt_mp2.methods.selection`): ``metric`` (dev metric, ties broken
            by the lower dev loss; default), ``loss`` (dev loss) or ``current`` (the reference code's periodic
            current candidate, strict dev-metric improvement).
        scoring: how the MRC head scores an option from its start and end logits: ``sum`` (default) or
            ``product`` (the MP2 reference code's raw product); no effect with ``head=mlm``.
        head: ``mrc`` (the MRC format scored by the span head of an MP2 checkpoint) or ``mlm`` (classic BBT: the
            cloze format scored by the backbone's own MLM head over one label word per class; BBT and BBTv2 only,
            on a backbone that ships an MLM head).
    """

    method: ClassVar[str] = ""  # registry name, set by each subclass

    budget: int = 8000  # API calls on the training set
    eval_every: int = 100  # dev evaluation every this many calls
    loss: str = "auto"  # fitness: auto | option_ce | span_ce | ...
    checkpoint: str | None = None  # served MP2 checkpoint id
    optimizer: str | None = None  # tuning-stage optimizer by name (e.g. "random", "ng:NGOpt"); None = the method's
    selection: str = "metric"  # dev selection rule: metric (ties -> lower dev loss) | loss | current (reference)
    scoring: str = "sum"  # MRC option score: sum | product (MP2 reference) of its start and end logits
    head: str = "mrc"  # mrc (MRC format, span head) | mlm (cloze format, the backbone's MLM head; bbt/bbtv2)

    @classmethod
    def _label(cls) -> str:
        return f"{cls.__name__} (method {cls.method!r})"

    def validate(self) -> None:
        super().validate()
        self._check_int("budget", minimum=1)
        self._check_int("eval_every", minimum=1)
        if self.loss not in LOSSES:
            raise ConfigError(f"{self.method}: loss {self.loss!r} is unknown; choose one of {LOSSES}")
        check_selection(self.selection, self.method)  # bbt_mp2.methods.selection
        self._check_str("checkpoint", optional=True)
        self._check_str("optimizer", optional=True)
        self._check_choice("scoring", SCORINGS)
        self._check_choice("head", HEAD_KINDS)


@dataclass(frozen=True, kw_only=True)
class CMAStageConfig(MethodConfig):
    """Fields of a CMA-ES tuning stage (BBT, BBTv2, MP2 stage II).

    Attributes:
        popsize: CMA-ES population size (calls per generation).
        sigma: CMA-ES step size sigma0 (of layer 0 where layers have their own).
        bound: box ``[-bound, bound]`` of every coordinate; None = unbounded.
    """

    popsize: int = 20  # lambda: calls per generation
    sigma: float = 1.0  # CMA-ES step size
    bound: float | None = None  # box [-bound, bound]^D; None = unbounded

    def validate(self) -> None:
        super().validate()
        self._check_int("popsize", minimum=1)
        self._check_float("sigma")
        self._check_float("bound", optional=True)


@dataclass(frozen=True, kw_only=True)
class ProjectedPromptConfig(CMAStageConfig):
    """Fields of the random-projection methods (BBT, BBTv2): ``p = A z`` with ``A`` drawn, fixed.

    Attributes:
        d: intrinsic dimension of z (per layer).
        n_tokens: prompt length n (placeholder positions 1..n).
        alpha: scale factor of the normal projection(s).
        prompt_mode: ``add`` (the layer-0 prompt is added to the n placeholder embeddings) or ``cat`` (the n prompt
            vectors are concatenated in front of the input embeddings, BBT's reference ``cat``; they start at 0).
    """

    d: int = 500  # intrinsic dimension
    n_tokens: int = 50  # prompt length n
    alpha: float = 1.0  # scale of the normal projection
    prompt_mode: str = "add"  # add | cat (BBT reference): how the layer-0 prompt enters

    def validate(self) -> None:
        super().validate()
        self._check_int("d", minimum=1)
        self._check_int("n_tokens", minimum=1)
        self._check_float("alpha")
        self._check_choice("prompt_mode", PROMPT_MODES)
        if self.head == "mlm" and self.checkpoint:
            raise ConfigError(f"{self.method}: head=mlm scores with the backbone's own MLM head, so checkpoint="
                              f"{self.checkpoint!r} (an MRC head) would be unused; drop checkpoint or use head=mrc")


def parse_value(config_cls: type[MethodConfig], key: str, text: str) -> Any:
    """Parse ``text`` as the value of field ``key`` of ``config_cls`` (``--set key=value``); see
    :meth:`bbt_mp2.config.Config.parse_value`.

    Raises:
        ConfigError: unknown key (valid keys listed) or a value that does not parse as the field type.
    """
    return config_cls.parse_value(key, text)


@dataclass
class Stage:
    """One optimisation stage of a method.

    Attributes:
        name: stage name (``"prompt"`` or ``"router"``), recorded in history lines.
        budget: API calls on the training set this stage may spend.
        eval_every: dev evaluation of the incumbent every this many stage calls.
        param: the :class:`PromptParam` of every population this stage sends.
        dim: ``D``, the optimizer's search dimension.
        generation: calls of one generation (the smallest budget that makes sense).
        build_optimizer: ``seed -> Optimizer`` over ``D`` dims (not called when the user gives an optimizer).
        decode: ``P x D`` optimizer vectors -> ``P x len(param.layers) x param.d`` backend population.
        extras: ``D`` vector -> named arrays saved beside the best parameters (e.g. ``{"router": ...}``).
    """

    name: str
    budget: int
    eval_every: int
    param: PromptParam
    dim: int
    generation: int
    build_optimizer: Callable[[int], Any]
    decode: Callable[[np.ndarray], np.ndarray]
    extras: Callable[[np.ndarray], dict[str, np.ndarray]] = lambda x: {}


class TuningMethod(ABC):
    """A black-box tuning method: validates against the backend, then yields its stages.

    Lifecycle (driven by the run loop): ``check(info)`` before any work; ``n_tokens`` for dataset registration;
    ``start(train_id)`` -> the untuned starting point; ``stage_budgets()``; for each stage index ``i``:
    ``stage_context(i, selected_extras)`` (plain arrays, persisted for resume) and ``build_stage(i, context)``.
    """

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[MethodConfig]] = MethodConfig

    def __init__(self, config: MethodConfig, *, seed: int) -> None:
        if not isinstance(config, self.config_cls):
            raise ConfigError(
                f"method {self.name!r} needs a {self.config_cls.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.seed = int(seed)
        self.seeds = derive_seeds(seed)
        self.info: ModelInfo | None = None
        self.train_id: str | None = None

    @property
    def head(self) -> str:
        """Which head scores the datasets (``mrc`` or ``mlm``): the registration format (``Backend.register``)."""
        return str(getattr(self.config, "head", "mrc"))

    @abstractmethod
    def check(self, info: ModelInfo) -> None:
        """Validate the config against the served backbone (and any checkpoint) before any work."""

    def attach(self, backend: Any) -> None:
        """Fetch what the method needs from the backend after :meth:`check` (MP2: the checkpoint's modules z).

        Only plain data crosses (``Backend.checkpoint_modules``); the default fetches nothing.
        """
        return None

    @property
    @abstractmethod
    def n_tokens(self) -> int:
        """Prompt length n the datasets must be registered with."""

    @abstractmethod
    def stage_plan(self) -> list[tuple[str, int, int]]:
        """``(stage name, budget, calls of one generation)`` per stage, known before any work."""

    @abstractmethod
    def start(self, train_id: str) -> tuple[PromptParam, np.ndarray, dict[str, np.ndarray]]:
        """The untuned starting point: ``(param, candidate len(layers) x d, extras)``."""

    def stage_context(self, index: int, selected_extras: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """What stage ``index`` starts from, given the extras of the dev-selected parameters so far."""
        return {}

    @abstractmethod
    def build_stage(self, index: int, context: Mapping[str, np.ndarray]) -> Stage:
        """Stage ``index`` (0-based) built from its context."""
