"""The Backend protocol: what a tuning method may ask of a frozen model.

A Backend is either in-process (:class:`bbt_mp2.local_backend.LocalBackend`, over the evaluator) or remote
(``servers.client.RemoteBackend``, over HTTP). Both take the same arguments and give the same numbers. Methods
talk only to this protocol, never to torch modules.

One API call = one candidate scored on one registered dataset (the training set); a population of P candidates is
P calls made in one ``evaluate`` request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bbt_mp2.errors import ConfigError
from bbt_mp2.tasks.types import Example, TaskSpec

__all__ = [
    "PROJECTION_KINDS",
    "LOSSES",
    "SCORINGS",
    "PROMPT_MODES",
    "HEAD_KINDS",
    "ProjectionSpec",
    "PromptParam",
    "ModelInfo",
    "CHECKPOINT_INFO_KEYS",
    "EvalResult",
    "Prediction",
    "Backend",
]

PROJECTION_KINDS = ("normal", "uniform", "learned")
# "auto": option_ce for option tasks, span_ce for span tasks.
LOSSES = ("auto", "option_ce", "option_margin", "span_ce", "neg_metric")
# how an MRC option's start and end logits combine (bbt_mp2.heads.option_scores): sum, or the MP2 reference's product
SCORINGS = ("sum", "product")
# how the layer-0 prompt enters: added to the n placeholder embeddings, or concatenated in front of the input
# embeddings as BBT's reference `cat` mode (bbt_mp2.evaluator)
PROMPT_MODES = ("add", "cat")
# which head scores a registered dataset: MRC format + span head, or the cloze format + the backbone's MLM head
HEAD_KINDS = ("mrc", "mlm")


@dataclass(frozen=True)
class ProjectionSpec:
    """How a low-dimensional vector z (``d``) becomes a layer prompt (``n_tokens x hidden``): ``p = A_l z``.

    Attributes:
        kind: ``normal`` (BBT/BBTv2: N(0, s^2), s = alpha * std_l / (sqrt(d) * sigma), std_l the std of the word
            embeddings for layer 0 or of the hidden states entering layer l on the registered training data,
            clipped to mean +- 3 std five times), ``uniform`` (U(-1/sqrt(d), 1/sqrt(d)), ICML-era BBT) or
            ``learned`` (A_l from an MP2 checkpoint).
        seed: seed of the projection generator (A is drawn on CPU from its own generator, one child seed per
            layer, so it is identical on every device).
        alpha: scale factor alpha of the normal projection.
        sigma: the CMA-ES sigma0 that the normal projection divides by.
        stats_dataset: id of the registered dataset whose hidden-state std scales layers > 0 (normal only);
            ``None`` = use the dataset being evaluated.
        checkpoint: id of a checkpoint the backend serves (``Backend.info().checkpoints``) whose learned ``A``
            serves ``learned``; never a file path (a local path is only how ``LocalBackend`` names an id).
    """

    kind: str = "normal"
    seed: int = 0
    alpha: float = 1.0
    sigma: float = 1.0
    stats_dataset: str | None = None
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PROJECTION_KINDS:
            raise ConfigError(f"projection kind {self.kind!r} is unknown; choose one of {PROJECTION_KINDS}")
        if self.kind == "learned" and not self.checkpoint:
            raise ConfigError("projection kind 'learned' needs checkpoint=<id of a served MP2 checkpoint>")
        if self.alpha <= 0 or self.sigma <= 0:
            raise ConfigError(f"projection alpha and sigma must be > 0, got alpha={self.alpha}, sigma={self.sigma}")


@dataclass(frozen=True)
class PromptParam:
    """The parameterisation of a population: which layers are prompted, through which projection.

    A population for this parameterisation is a float array ``P x len(layers) x d``: row ``[p, j]`` is the
    intrinsic vector of candidate ``p`` for layer ``layers[j]``. With ``projection=None`` the population is raw
    prompts, ``P x len(layers) x n_tokens x hidden`` (research mode).

    Attributes:
        layers: injection points (0 = embedding output; ``l`` = input of layer l), strictly increasing.
        d: intrinsic dimension (ignored for raw prompts).
        n_tokens: prompt length n (placeholder positions 1..n); must match the registered dataset.
        projection: the :class:`ProjectionSpec`, or ``None`` for raw prompts.
        head: id of the served checkpoint whose MRC span head scores the population; ``None`` = the backend's
            default checkpoint (``ModelInfo.default_checkpoint``); must be ``None`` on a dataset registered with
            ``head="mlm"`` (the backbone's MLM head scores it).
        prompt_mode: ``add`` (the layer-0 prompt is added to the embeddings of the n placeholders) or ``cat`` (the
            n prompt vectors are concatenated in front of the input embeddings, BBT's reference ``cat``).
        scoring: how an MRC option's start and end logits combine: ``sum`` or ``product`` (the MP2 reference).
    """

    layers: tuple[int, ...] = (0,)
    d: int = 500
    n_tokens: int = 50
    projection: ProjectionSpec | None = field(default_factory=ProjectionSpec)
    head: str | None = None
    prompt_mode: str = "add"
    scoring: str = "sum"

    def __post_init__(self) -> None:
        if not self.layers:
            raise ConfigError("PromptParam.layers is empty; give at least one injection point, e.g. (0,)")
        if any(b <= a for a, b in zip(self.layers, self.layers[1:])) or self.layers[0] < 0:
            raise ConfigError(f"PromptParam.layers must be strictly increasing and >= 0, got {self.layers}")
        if self.d <= 0 or self.n_tokens <= 0:
            raise ConfigError(f"PromptParam.d and n_tokens must be > 0, got d={self.d}, n_tokens={self.n_tokens}")
        if self.prompt_mode not in PROMPT_MODES:
            raise ConfigError(f"PromptParam.prompt_mode {self.prompt_mode!r} is unknown; choose one of {PROMPT_MODES}")
        if self.scoring not in SCORINGS:
            raise ConfigError(f"PromptParam.scoring {self.scoring!r} is unknown; choose one of {SCORINGS}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptParam:
        data = dict(data)
        proj = data.pop("projection", None)
        unknown = set(data) - {"layers", "d", "n_tokens", "head", "prompt_mode", "scoring"}
        if unknown:
            raise ConfigError(f"PromptParam got unknown keys {sorted(unknown)}")
        if proj is not None:
            bad = set(proj) - set(ProjectionSpec.__dataclass_fields__)
            if bad:
                raise ConfigError(f"ProjectionSpec got unknown keys {sorted(bad)}")
        head = data.get("head")
        return cls(
            layers=tuple(int(x) for x in data.get("layers", (0,))),
            d=int(data.get("d", 500)),
            n_tokens=int(data.get("n_tokens", 50)),
            projection=None if proj is None else ProjectionSpec(**proj),
            head=None if head is None else str(head),
            prompt_mode=str(data.get("prompt_mode", "add")),
            scoring=str(data.get("scoring", "sum")),
        )


# keys of one entry of ``ModelInfo.checkpoints`` (plain config of a served checkpoint)
CHECKPOINT_INFO_KEYS = ("backbone", "embedding_hash", "n_tokens", "n_modules", "d", "hidden", "layers", "task_names",
                        "routing", "sha256")


@dataclass(frozen=True)
class ModelInfo:
    """What a backend serves: the backbone and the MP2 checkpoints (plain data, JSON-serialisable).

    Attributes:
        name: backbone name.
        n_layers: L, transformer layers (injection points 0..L-1).
        hidden: h, hidden size.
        embedding_hash: ``Backbone.embedding_hash()`` of the served backbone.
        token_type_id: token type id of every position (0 BERT family, 1 CPT).
        dtype: compute dtype of the backbone (``float32``, ``bfloat16``).
        checkpoints: checkpoint id -> plain config (:data:`CHECKPOINT_INFO_KEYS`: n_tokens, n_modules K, d,
            hidden, layers, task_names, routing, backbone, embedding_hash, and ``sha256`` of its tensors file).
        default_checkpoint: id of the checkpoint whose head scores a ``PromptParam`` with ``head=None``
            (``None`` when the backend was built from a bare head).
        max_positions: the backbone's position-table size (caps ``max_length``; ``None`` = unknown).
        revision: the hub revision the backbone was loaded at (``None`` = a folder or the hub default).
    """

    name: str
    n_layers: int
    hidden: int
    embedding_hash: str
    token_type_id: int = 0
    dtype: str = "float32"
    checkpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_checkpoint: str | None = None
    max_positions: int | None = None
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (lists for tuples)."""
        return json_ready(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"ModelInfo got unknown keys {sorted(unknown)}")
        return cls(**data)


def json_ready(value: Any) -> Any:
    """Tuples -> lists, recursively (what a JSON round trip gives), so local and remote infos compare equal."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


@dataclass
class EvalResult:
    """Scores of a population on one dataset.

    Attributes:
        loss: ``P`` float64, the fitness to minimise.
        metric: ``P`` float64, the task metric (accuracy, F1, span F1) in [0, 1].
    """

    loss: np.ndarray
    metric: np.ndarray


@dataclass
class Prediction:
    """Predictions of ONE candidate on a dataset (for controls and test reports).

    Attributes:
        metric: the task metric in [0, 1].
        loss: the loss the candidate gets under the requested loss.
        predicted: ``N`` int64 predicted option index (option tasks) or -1 (span tasks).
        labels: ``N`` int64 gold option index (-1 for span tasks).
        scores: ``N x C`` float64 per-option scores (``N x 0`` for span tasks).
        texts: predicted answer strings (span tasks; empty list for option tasks).
    """

    metric: float
    loss: float
    predicted: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    texts: list[str] = field(default_factory=list)


@runtime_checkable
class Backend(Protocol):
    """A frozen model that scores prompts. ``LocalBackend`` and ``RemoteBackend`` implement it."""

    def info(self) -> ModelInfo:
        """Describe the served backbone and the checkpoints it serves by id."""
        ...

    def checkpoint_modules(self, checkpoint_id: str) -> np.ndarray:
        """Module vectors z of a served checkpoint: ``L' x K x d`` float32, rows in the order of its ``layers``.

        Raises:
            UnknownNameError: ``checkpoint_id`` is not served (the message lists the served ids).
        """
        ...

    def register(
        self, task: TaskSpec, examples: Sequence[Example], *, n_tokens: int, max_length: int | None = None,
        head: str = "mrc",
    ) -> str:
        """Tokenise and store a dataset; returns its id (stable for identical content). ``max_length`` None =
        ``bbt_mp2.encoding.default_max_length`` of the task type capped by the backbone's positions. ``head``
        (:data:`HEAD_KINDS`): ``mrc`` = the MRC format, scored by an MRC span head; ``mlm`` = the classic BBT
        cloze format (:mod:`bbt_mp2.cloze`), scored by the backbone's MLM head (a backbone without one is refused).
        """
        ...

    def evaluate(
        self, dataset_id: str, param: PromptParam, population: np.ndarray, *, loss: str = "auto"
    ) -> EvalResult:
        """Score ``P`` candidates (``P x len(layers) x d``) on a registered dataset; ``P`` API calls."""
        ...

    def predict(
        self, dataset_id: str, param: PromptParam, candidate: np.ndarray, *, loss: str = "auto"
    ) -> Prediction:
        """Predictions of one candidate (``len(layers) x d``) on a registered dataset."""
        ...
