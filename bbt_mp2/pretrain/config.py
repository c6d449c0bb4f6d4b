"""Configuration of gradient multi-task pre-training: :class:`PretrainConfig`.

The defaults are the English recipe of the design (MiniLM, ten upstream tasks, deep prompts, n = 20, T <= 96).
Deep prompts use the reference code's two learning rates (routers 5e-4, prompts / A / head 1e-4); shallow prompts
use a single 1e-3; both are overridable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bbt_mp2.config import Config
from bbt_mp2.errors import ConfigError

__all__ = ["PretrainConfig", "ENGLISH_UPSTREAM", "ENGLISH_UNSEEN", "ENGLISH_WEIGHTS", "english_recipe"]

# Upstream tasks of the English recipe (design: "The English recipe this machine can run").
ENGLISH_UPSTREAM = ("mr", "cr", "subj", "mpqa", "trec", "sst5", "ag_news", "dbpedia", "snli", "mrpc")
# Tasks kept unseen by pre-training (zero-shot / downstream targets).
ENGLISH_UNSEEN = ("sst2", "yelp_polarity", "rte")
# Sentiment tasks weighted up (the design: without sentiment-like upstream tasks nothing transfers to SST-2).
ENGLISH_WEIGHTS = (("mr", 2.0), ("cr", 2.0), ("sst5", 2.0), ("mpqa", 1.5))

SCHEDULES = ("constant", "linear", "cosine")
ROUTINGS = ("sigmoid", "binary")


@dataclass(frozen=True, kw_only=True)
class PretrainConfig(Config):
    """Everything that decides a pre-training run (saved as ``config.json`` in the run directory).

    Attributes:
        seed: seed of every random draw of the run (task order, batches, routing noise, initialisation).
        tasks: registered task names; their order is the router-row order of the checkpoint.
        deep: True = prompt every layer (deep MP2), False = layer 0 only (shallow MP2).
        steps: total optimisation steps (one task and one batch per step).
        batch_size: global batch size (split evenly over DDP ranks).
        n_tokens: n, prompt length (placeholder positions 1..n).
        max_length: T, maximum encoded length including [CLS], placeholders and [SEP].
        n_modules: K, modules per prompted layer.
        d: intrinsic dimension of each module.
        lr_router: AdamW learning rate of the router logits; None = 5e-4 deep, 1e-3 shallow.
        lr_prompt: AdamW learning rate of z, A and the head weight; None = 1e-4 deep, 1e-3 shallow.
        weight_decay: decoupled AdamW weight decay (torch default 0.01, as the reference code).
        schedule: learning-rate schedule over ``steps``: constant, linear decay or cosine decay.
        warmup_steps: linear warm-up steps before the schedule.
        grad_clip: max global gradient norm; None = no clipping (reference code).
        tau: temperature of the relaxed-Bernoulli router sample during training.
        prompt_dropout: probability that a step trains on the zero prompt (the backbone unprompted, the head
            alone learning) instead of the routed prompt, so that methods starting from a zero prompt (BBT,
            BBTv2) get a usable head. It needs a head learning rate high enough to matter: the demo recipe (0.5
            at 3e-2) works, the English recipe's 0.2 at 1e-3 left the unprompted head at chance. 0 = the
            reference code. 1 = head only: every step runs the zero prompt, so only the MRC head learns and the
            modules stay at their initialisation; dev is scored with the zero prompt too. Such a checkpoint is a
            baseline head for BBT/BBTv2 (their untuned start is the zero prompt); MP2 methods refuse it.
        eval_routing: inference routing of the saved checkpoint and of dev evaluation: sigmoid or binary.
        task_weights: (task, weight) pairs; tasks not listed weigh 1. A step draws task t with probability
            weight_t / sum(weights).
        eval_every: dev evaluation (and best-checkpoint selection) every this many steps; 0 = only at the end.
        save_every: resumable training state every this many steps.
        dev_size: at most this many dev examples per task (seeded subsample); 0 = all.
        train_size: at most this many training examples per task (seeded subsample); 0 = all.
        eval_batch_size: batch size of dev evaluation.
        log_every: JSONL training-loss record every this many steps (mean over those steps).
        backbone: backbone name for ``bbt_mp2.backbones.load_backbone`` ("minilm" = the offline MiniLM).
        data_root: folder of the task data; None = ``bbt_mp2.tasks.data_root()`` default.
    """

    seed: int
    tasks: tuple[str, ...] = ENGLISH_UPSTREAM
    deep: bool = True
    steps: int = 4000
    batch_size: int = 32
    n_tokens: int = 20
    max_length: int = 96
    n_modules: int = 8
    d: int = 300
    lr_router: float | None = None
    lr_prompt: float | None = None
    weight_decay: float = 0.01
    schedule: str = "constant"
    warmup_steps: int = 0
    grad_clip: float | None = None
    tau: float = 1.0
    prompt_dropout: float = 0.0
    eval_routing: str = "sigmoid"
    task_weights: tuple[tuple[str, float], ...] = ()
    eval_every: int = 250
    save_every: int = 50
    dev_size: int = 300
    train_size: int = 0
    eval_batch_size: int = 64
    log_every: int = 10
    backbone: str = "minilm"
    data_root: str | None = None

    def validate(self) -> None:
        super().validate()
        if isinstance(self.tasks, str) or not self.tasks:
            raise ConfigError(f"PretrainConfig.tasks must be a non-empty sequence of task names, got {self.tasks!r}")
        object.__setattr__(self, "tasks", tuple(self.tasks))
        if len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"PretrainConfig.tasks lists a task twice: {self.tasks}")
        weights = self.task_weights.items() if isinstance(self.task_weights, Mapping) else self.task_weights
        weights = tuple(sorted((str(t), float(w)) for t, w in weights))  # canonical order: equal configs compare equal
        object.__setattr__(self, "task_weights", weights)
        for task, w in weights:
            if task not in self.tasks:
                raise ConfigError(f"task_weights names {task!r}, which is not in tasks {self.tasks}; drop it or add it")
            if not w > 0:
                raise ConfigError(f"task weight of {task!r} must be > 0, got {w}")
        positive = {"steps": self.steps, "batch_size": self.batch_size, "n_tokens": self.n_tokens,
                    "n_modules": self.n_modules, "d": self.d, "save_every": self.save_every,
                    "eval_batch_size": self.eval_batch_size, "log_every": self.log_every}
        for name, value in positive.items():
            if int(value) != value or value <= 0:
                raise ConfigError(f"PretrainConfig.{name} must be a positive integer, got {value!r}")
        for name in ("eval_every", "dev_size", "train_size", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"PretrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.max_length < self.n_tokens + 8:
            raise ConfigError(f"max_length={self.max_length} leaves no room for text after n_tokens={self.n_tokens} "
                              "placeholders; raise max_length or lower n_tokens")
        for name in ("lr_router", "lr_prompt", "grad_clip"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"PretrainConfig.{name} must be > 0 or None, got {value}")
        if self.weight_decay < 0 or not self.tau > 0:
            raise ConfigError(f"weight_decay must be >= 0 and tau > 0, got {self.weight_decay}, {self.tau}")
        if not 0.0 <= self.prompt_dropout <= 1.0:
            raise ConfigError(f"prompt_dropout must be in [0, 1], got {self.prompt_dropout}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule {self.schedule!r} is unknown; choose one of {SCHEDULES}")
        if self.eval_routing not in ROUTINGS:
            raise ConfigError(f"eval_routing {self.eval_routing!r} is unknown; choose one of {ROUTINGS}")

    @property
    def router_lr(self) -> float:
        """Resolved learning rate of the routers."""
        return self.lr_router if self.lr_router is not None else (5e-4 if self.deep else 1e-3)

    @property
    def prompt_lr(self) -> float:
        """Resolved learning rate of z, A and the head weight."""
        return self.lr_prompt if self.lr_prompt is not None else (1e-4 if self.deep else 1e-3)

    def sampling_probs(self) -> list[float]:
        """Probability of drawing each task of :attr:`tasks` at a step (sums to 1)."""
        w = dict(self.task_weights)
        raw = [w.get(t, 1.0) for t in self.tasks]
        total = sum(raw)
        return [x / total for x in raw]

    @property
    def head_only(self) -> bool:
        """True when every step trains on the zero prompt (``prompt_dropout == 1``): a zero-prompt head."""
        return self.prompt_dropout >= 1.0

    def layers(self, n_layers: int) -> tuple[int, ...]:
        """Prompted layers for a backbone of ``n_layers`` layers: all (deep) or (0,) (shallow)."""
        return tuple(range(n_layers)) if self.deep else (0,)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; ``task_weights`` as a ``{task: weight}`` mapping (the ``config.json`` format)."""
        out = super().to_dict()
        out["task_weights"] = {t: w for t, w in self.task_weights}
        return out


def english_recipe(seed: int = 0, *, deep: bool = True, steps: int = 4000, **overrides: Any) -> PretrainConfig:
    """The English recipe of the design: MiniLM, :data:`ENGLISH_UPSTREAM`, sentiment weighted up, n 20, T 96.

    Learning rates are 10x the reference code's (routers 5e-3, z / A / head 1e-3, both depths): the reference rates
    were made for 1M steps; at 1e-4 the prompt ``z A`` (z ~ 1e-3, A ~ 1e-2 at init) stays ~1e-4 of the hidden
    states for the few thousand steps this machine can run, so only the head would learn. Prompt dropout 0.2 (not
    in the reference code) was meant to keep the head usable unprompted for BBT/BBTv2; measured on the H200 run,
    it did not (zero prompt + trained head: chance on sentiment).
    """
    base: dict[str, Any] = dict(seed=seed, tasks=ENGLISH_UPSTREAM, deep=deep, steps=steps, n_tokens=20,
                                max_length=96, task_weights=ENGLISH_WEIGHTS, backbone="minilm", lr_router=5e-3,
                                lr_prompt=1e-3, prompt_dropout=0.2)
    base.update(overrides)
    return PretrainConfig(**base)
