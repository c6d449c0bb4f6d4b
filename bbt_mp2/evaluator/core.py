"""The population evaluator: (dataset, P candidates of per-layer prompts) -> loss and metric per candidate.

Mechanism (DESIGN "The mechanism"): the prompt of layer ``l`` (``n x h``) is added to the hidden states at
positions ``1..n`` just before stock layer ``l`` runs (``l = 0``: the embedding output). Speed (DESIGN "Speed is
a design property"):

- the population rides the batch dimension; rows are cut into micro-batches of at most ``token_budget`` tokens
  (rows x cropped length), each a block of candidates x similar-length examples cropped to its longest example;
- shared prefix: with ``l*`` the lowest layer where candidates differ, layers ``< l*`` run once for the dataset
  (batch ``N``) and only layers ``>= l*`` run for all ``P x N`` rows;
- an LRU cache keyed by (dataset, prompt mode, prompts below ``b``, ``b``) keeps the states entering ``l*`` across
  calls, and a later call resumes from the deepest cached boundary at or below its own ``l*``.

Prompt modes (``prompt_mode``): ``add`` adds the layer-0 prompt to the embedding output of the n placeholders;
``cat`` is BBT's reference ``cat``: the n prompt vectors themselves (no word, position or type embedding, no
LayerNorm) stand in front of the input embeddings, whose positions are those of the text without the prompt.
Attention is permutation-equivariant and the positions live in the embeddings, so ``cat`` keeps the placeholder
layout: the prompt slots ``1..n`` hold the prompt at layer 0 and the text gets the stock positions it has without
them; deeper prompts are added as in ``add``. Everything above (micro-batching, shared prefix, cache) applies.

Heads: option and span tasks in the MRC format are scored by the MRC span head (options by the ``sum`` or the
``product`` of their start and end logits); cloze-format datasets (:mod:`bbt_mp2.cloze`, ``head=mlm``) by the
backbone's MLM head over the verbalizer tokens at the mask position, loaded on first use
(:func:`bbt_mp2.heads.load_mlm_head`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from bbt_mp2 import losses
from bbt_mp2.backbones.base import Backbone
from bbt_mp2.backend import EvalResult, Prediction
from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.evaluator.cache import ActivationCache, prompt_prefix_hash
from bbt_mp2.evaluator.outputs import (
    RawOutputs,
    assemble,
    check_modes,
    head_outputs,
    is_labelled,
    population_loss,
    population_metric,
    prediction,
)
from bbt_mp2.evaluator.plan import (
    PreparedData,
    WorkCounter,
    cat_position_ids,
    plan_chunks,
    prepare,
    split_layer,
)
from bbt_mp2.evaluator.scoring import resolve_metric
from bbt_mp2.evaluator.validation import CheckedDataset, CheckedPrompts, check_prompts, checked_dataset
from bbt_mp2.tasks.types import Metric

__all__ = ["Evaluator", "DEFAULT_TOKEN_BUDGET", "WorkCounter"]

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_BUDGET = 4096  # rows x cropped length per micro-batch; see benchmarks/perf.py
_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
           "fp16": torch.float16, "float16": torch.float16}


def _to_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise ConfigError(f"dtype {dtype} is not supported; use torch.float32 or torch.bfloat16")
        return dtype
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype {dtype!r} is unknown; choose one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


class Evaluator:
    """Scores populations of deep prompts with a frozen backbone and an MRC head, under ``torch.inference_mode``.

    Args:
        backbone: the frozen :class:`~bbt_mp2.backbones.base.Backbone`. If its device/dtype differ from the
            requested ones a converted copy is used (pass a backbone already there to avoid the copy).
        head: an MRC head: ``head(h: B x T x h) -> (start, end)`` each ``B x T``, ``head.option_scores(start,
            end, option_spans B x C x 2, scoring=) -> B x C``, ``head.best_spans(start, end, context_spans B x 2,
            max_answer_tokens, no_answer_spans B x 2) -> B x 2`` (the no-answer phrase is a candidate span, so
            decoding can answer "no answer"). Runs in float32. ``None``: only cloze datasets can be scored.
        mlm_head: the MLM verbalizer head for cloze datasets (``head=mlm``); None = load the backbone's own on
            first use (:func:`bbt_mp2.heads.load_mlm_head`, which refuses a backbone without one).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        dtype: backbone compute dtype (``torch.float32``/``"fp32"`` or ``torch.bfloat16``/``"bf16"``); losses
            and metrics are always computed in float32.
        token_budget: most tokens (rows x cropped length) per micro-batch; bounds memory for any P and N.
        cache_size: most entries in the activation cache (0 disables reuse across calls).
        cache_bytes: most bytes the activation cache may hold.
        max_answer_tokens: longest decoded span (span tasks).
        shared_prefix: run layers below the first differing layer once per dataset (on by default).
    """

    def __init__(
        self,
        backbone: Backbone,
        head: nn.Module | None,
        *,
        mlm_head: nn.Module | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | str = torch.float32,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
        cache_size: int = 16,
        cache_bytes: int = 1 << 30,
        max_answer_tokens: int = 30,
        shared_prefix: bool = True,
    ) -> None:
        if token_budget < 1:
            raise ConfigError(f"token_budget must be >= 1 token, got {token_budget}")
        for attr in ("option_scores", "best_spans"):
            if head is not None and not callable(getattr(head, attr, None)):
                raise ConfigError(f"head {type(head).__name__} lacks {attr}(); the evaluator needs an MRC head")
        self.device = torch.device(device)
        self.dtype = _to_dtype(dtype)
        self.backbone = self._placed(backbone, self.dtype)
        self.head = None if head is None else self._placed(head, torch.float32)
        self._mlm_head = None if mlm_head is None else self._placed(mlm_head, torch.float32)
        self.token_budget = int(token_budget)
        self.max_answer_tokens = int(max_answer_tokens)
        self.shared_prefix = bool(shared_prefix)
        self.cache = ActivationCache(cache_size, cache_bytes)
        self.work = WorkCounter()
        self._prepared: dict[str, PreparedData] = {}

    def _placed(self, module: nn.Module, dtype: torch.dtype) -> nn.Module:
        p = next(module.parameters(), None)
        if p is not None and (p.device != self.device or p.dtype != dtype):
            logger.info("copying %s to %s/%s for the evaluator", type(module).__name__, self.device, dtype)
            module = copy.deepcopy(module).to(device=self.device, dtype=dtype)
        return module.eval()

    @property
    def mlm_head(self) -> nn.Module:
        """The MLM verbalizer head scoring cloze datasets (loaded from the backbone's weights on first use).

        Raises:
            ConfigError: the backbone has no MLM head (e.g. MiniLM); the message names it.
        """
        if self._mlm_head is None:
            from bbt_mp2.heads import load_mlm_head

            self._mlm_head = self._placed(load_mlm_head(self.backbone), torch.float32)
        return self._mlm_head

    # ------------------------------------------------------------------ public API
    @torch.inference_mode()
    def evaluate(
        self,
        dataset: EncodedDataset | CheckedDataset,
        prompts: Tensor | np.ndarray | CheckedPrompts,
        layers: Sequence[int],
        loss: str = "auto",
        *,
        metric: Metric | str | None = None,
        prompt_mode: str = "add",
        scoring: str = "sum",
    ) -> EvalResult:
        """Score a population of deep prompts on a dataset.

        Args:
            dataset: the encoded dataset (``N`` examples, ``n_tokens`` placeholders); a
                :class:`~bbt_mp2.evaluator.validation.CheckedDataset` is taken on trust (checked and hashed once).
            prompts: ``P x L' x n x h`` float prompts; ``prompts[p, j]`` is added before layer ``layers[j]``; a
                :class:`~bbt_mp2.evaluator.validation.CheckedPrompts` is taken on trust (its own ``layers`` apply).
            layers: the ``L'`` prompted layers, strictly increasing, each in ``[0, n_layers)``.
            loss: ``auto`` (option_ce for option tasks, span_ce for span tasks), ``option_ce``,
                ``option_margin``, ``span_ce`` or ``neg_metric``.
            metric: override of the task metric (default: the task spec's, see ``resolve_metric``).
            prompt_mode: ``add`` or ``cat`` (module docstring).
            scoring: ``sum`` or ``product`` of an MRC option's start and end logits.

        Returns:
            :class:`EvalResult` with ``loss`` and ``metric``, each ``P`` float64.

        Raises:
            ShapeError: wrong prompt shape, NaN/inf, empty population, n_tokens mismatch, empty dataset.
            ConfigError: unknown/out-of-range/unsorted layers, unknown loss or metric, unlabelled data.
        """
        checked, pop = self._checked(dataset, prompts, layers)  # validate once: checked objects pass as they are
        dataset, prompts_t, layers_t = checked.data, pop.prompts, pop.layers
        loss_name = losses.resolve_loss(loss, dataset.n_options)
        the_metric = resolve_metric(dataset, metric)
        checked.check_labels(loss_name, the_metric)
        check_modes(dataset, loss_name, prompt_mode, scoring)
        raw = self._forward(checked, prompts_t, layers_t, loss_name, prompt_mode, scoring)
        metric_v = population_metric(dataset, raw, the_metric)
        return EvalResult(loss=population_loss(dataset, raw, loss_name, metric_v), metric=metric_v)

    @torch.inference_mode()
    def predict(
        self,
        dataset: EncodedDataset | CheckedDataset,
        prompt: Tensor | np.ndarray | CheckedPrompts,
        layers: Sequence[int],
        loss: str = "auto",
        *,
        metric: Metric | str | None = None,
        prompt_mode: str = "add",
        scoring: str = "sum",
    ) -> Prediction:
        """Predictions of ONE candidate (``L' x n x h`` or ``1 x L' x n x h``) on a dataset.

        Unlabelled examples (label -1 / no answers) are predicted; loss and metric are then NaN.

        Returns:
            :class:`~bbt_mp2.backend.Prediction` (per-option scores ``N x C`` with ``-inf`` at padded options,
            predicted option per example, decoded answer texts for span tasks).
        """
        prompt_t = prompt.prompts if isinstance(prompt, CheckedPrompts) else torch.as_tensor(prompt)
        if prompt_t.ndim == 3:
            prompt_t = prompt_t.unsqueeze(0)
        if prompt_t.shape[0] != 1:
            raise ShapeError(f"predict takes one candidate (L' x n x h); got {prompt_t.shape[0]} candidates")
        checked, pop = self._checked(dataset, prompt if isinstance(prompt, CheckedPrompts) else prompt_t, layers)
        dataset, prompts_t, layers_t = checked.data, pop.prompts, pop.layers
        loss_name = losses.resolve_loss(loss, dataset.n_options)
        the_metric = resolve_metric(dataset, metric)
        labelled = is_labelled(dataset)
        check_modes(dataset, loss_name, prompt_mode, scoring)
        raw = self._forward(checked, prompts_t, layers_t, loss_name if labelled else "option_ce", prompt_mode,
                            scoring)
        return prediction(dataset, raw, loss_name, the_metric, labelled)

    @torch.inference_mode()
    def option_scores(
        self, dataset: EncodedDataset | CheckedDataset, prompts: Tensor | np.ndarray | CheckedPrompts,
        layers: Sequence[int], *,
        prompt_mode: str = "add", scoring: str = "sum",
    ) -> Tensor:
        """Per-option scores of a population on an option task (for AUC, class distributions, agreement).

        Args:
            dataset: an option-task dataset (``C > 0`` options).
            prompts: ``P x L' x n x h`` prompts for ``layers``.

        Returns:
            ``P x N x C`` float32 CPU tensor in dataset order; ``-inf`` at padded options.
        """
        checked, pop = self._checked(dataset, prompts, layers)
        dataset, prompts_t, layers_t = checked.data, pop.prompts, pop.layers
        if dataset.n_options == 0:
            raise ConfigError(f"dataset {dataset.task!r} is a span task; option_scores needs an option task")
        check_modes(dataset, "option_ce", prompt_mode, scoring)
        scores = self._forward(checked, prompts_t, layers_t, "option_ce", prompt_mode, scoring).scores
        assert scores is not None
        return scores.contiguous()

    @torch.inference_mode()
    def hidden_states(
        self, dataset: EncodedDataset, prompt: Tensor | np.ndarray | None = None, layers: Sequence[int] = (), *,
        prompt_mode: str = "add",
    ) -> Tensor:
        """Hidden states of one candidate entering every layer, and the final output.

        Args:
            dataset: ``N`` examples.
            prompt: ``L' x n x h`` prompts for ``layers`` (``None``: unprompted).
            layers: the prompted layers.

        Returns:
            ``(L + 1) x N x T' x h`` float32 on CPU, in dataset order; entry ``l < L`` enters layer ``l`` (before
            its prompt is added), entry ``L`` is the final output; ``T'`` = longest real length. Padded positions
            hold unspecified values.
        """
        layers_t = self.check_layers(layers) if len(layers) else ()
        checked = checked_dataset(dataset, self.backbone)
        dataset = checked.data
        if prompt is None or not layers_t:
            prompt_t = torch.zeros(1, 0, dataset.n_tokens, self.backbone.hidden)
        else:
            prompt_t = check_prompts(torch.as_tensor(prompt).unsqueeze(0), layers_t, dataset.n_tokens,
                                     self.backbone.hidden)
        data = self._prepare(checked)
        check_modes(dataset, "auto", prompt_mode, "sum")
        states = [self._prefix(data, prompt_t[0], layers_t, b, prompt_mode, use_cache=False).float().cpu()
                  for b in range(self.backbone.n_layers + 1)]
        inv = np.argsort(data.order)
        return torch.stack(states)[:, inv]

    def clear_cache(self) -> None:
        """Forget cached activations and prepared datasets."""
        self.cache.clear()
        self._prepared.clear()

    # ------------------------------------------------------------------ validation helpers
    def check_layers(self, layers: Sequence[int]) -> tuple[int, ...]:
        try:
            out = tuple(int(x) for x in layers)
        except (TypeError, ValueError):
            raise ConfigError(f"layers must be a sequence of ints, got {layers!r}") from None
        n_layers = self.backbone.n_layers
        if not out:
            raise ConfigError("layers is empty; give at least one injection point, e.g. (0,)")
        bad = [x for x in out if not 0 <= x < n_layers]
        if bad:
            raise ConfigError(
                f"layer index {bad[0]} is out of range: backbone {self.backbone.name!r} has injection points "
                f"0..{n_layers - 1} (got layers {out})"
            )
        if any(b <= a for a, b in zip(out, out[1:])):
            raise ConfigError(f"layers must be strictly increasing without repeats, got {out}")
        return out

    # ------------------------------------------------------------------ forward machinery
    def _checked(
        self, dataset: EncodedDataset | CheckedDataset, prompts: Tensor | np.ndarray | CheckedPrompts,
        layers: Sequence[int],
    ) -> tuple[CheckedDataset, CheckedPrompts]:
        """Validate once: a :class:`CheckedDataset` / :class:`CheckedPrompts` (checked where the data entered, e.g.
        by ``LocalBackend``) is taken as it is; plain data is checked here (layers, prompts, then the dataset)."""
        n_tokens = dataset.data.n_tokens if isinstance(dataset, CheckedDataset) else dataset.n_tokens
        if not isinstance(prompts, CheckedPrompts):
            layers_t = self.check_layers(layers)
            prompts = CheckedPrompts(check_prompts(prompts, layers_t, n_tokens, self.backbone.hidden), layers_t)
        return checked_dataset(dataset, self.backbone), prompts

    def _prepare(self, dataset: CheckedDataset) -> PreparedData:
        fp = dataset.fingerprint  # computed once, when the dataset was checked (registration)
        data = self._prepared.pop(fp, None) or prepare(dataset.data, self.device, fp)
        self._prepared[fp] = data
        while len(self._prepared) > 8:
            self._prepared.pop(next(iter(self._prepared)))
        return data

    def _forward(
        self, checked: CheckedDataset, prompts: Tensor, layers: tuple[int, ...], loss_name: str, mode: str = "add",
        scoring: str = "sum",
    ) -> RawOutputs:
        """Head outputs of every candidate x example, in dataset order, on CPU."""
        dataset, data = checked.data, self._prepare(checked)
        heads = (self.head, self.mlm_head if data.cloze else None)
        if not data.cloze and self.head is None:
            raise ConfigError(f"dataset {dataset.task!r} is in the MRC format but this evaluator has no MRC head; "
                              "serve an MP2 checkpoint's head, or register the dataset with head='mlm'")
        prompts = prompts.to(self.device)
        p_count, n_layers = prompts.shape[0], self.backbone.n_layers
        split = split_layer(prompts, layers, n_layers) if self.shared_prefix else 0
        opts = {"span_loss": loss_name == "span_ce", "scoring": scoring, "max_answer_tokens": self.max_answer_tokens}
        if split >= n_layers:  # every candidate identical: one pass, results broadcast to all P
            final = self._prefix(data, prompts[0], layers, n_layers, mode)
            raw = head_outputs(*heads, data, final, (0, len(data)), 1, **opts)
            raw = raw.map(lambda x: x.expand(p_count, *x.shape[1:]))
        else:
            base = self._prefix(data, prompts[0], layers, split, mode) if split > 0 else None
            raw = self._expand(data, base, prompts, layers, split, mode, lambda h, rows, c: head_outputs(
                *heads, data, h, rows, c, **opts))
        inv = torch.as_tensor(np.argsort(data.order), device=self.device)
        return raw.map(lambda x: x.index_select(1, inv).cpu())

    def _prefix(
        self, data: PreparedData, prompt: Tensor, layers: tuple[int, ...], boundary: int, mode: str = "add", *,
        use_cache: bool = True,
    ) -> Tensor:
        """States entering layer ``boundary`` (``N x T' x h``, sorted order) of one candidate's prompts."""
        start, state = 0, None
        points = sorted({x for x in layers if 0 < x <= boundary} | ({boundary} if boundary > 0 else set()))
        if use_cache:
            for b in reversed(points):
                state = self.cache.get((data.fingerprint, mode, prompt_prefix_hash(prompt, layers, b), b))
                if state is not None:
                    start = b
                    break
        if start == boundary and state is not None:
            return state
        out = torch.zeros(len(data), data.input_ids.shape[1], self.backbone.hidden, device=self.device,
                          dtype=self.dtype)
        for ch in plan_chunks(data.lengths, 1, self.token_budget):
            rows, t = slice(ch.start, ch.stop), ch.length
            mask = data.attention_mask[rows, :t]
            h = self._embed(data, rows, t, mode) if state is None else state[rows, :t].clone()
            ext = self.backbone.extended_mask(mask, self.dtype)
            out[rows, :t] = self._run(h, ext, prompt.unsqueeze(0), layers, start, boundary, 1, mode)
        if use_cache and 0 < boundary < self.backbone.n_layers:
            self.cache.put((data.fingerprint, mode, prompt_prefix_hash(prompt, layers, boundary), boundary), out)
        return out

    def _embed(self, data: PreparedData, rows: slice, t: int, mode: str = "add") -> Tensor:
        ids = data.input_ids[rows, :t]
        positions = cat_position_ids(self.backbone.position_ids(ids), data.n_tokens) if mode == "cat" else None
        return self.backbone.embed(ids, data.token_type_ids[rows, :t], positions).to(self.dtype)

    def _run(
        self, h: Tensor, ext: Tensor, prompts: Tensor, layers: tuple[int, ...], start: int, stop: int, c: int,
        mode: str = "add",
    ) -> Tensor:
        """Run stock layers ``start..stop-1`` on ``c*g x T x h`` rows (candidate-major), adding ``prompts``
        (``c x L' x n x h``) at positions ``1..n`` before each prompted layer (``cat``: at layer 0 the slots hold
        the prompt itself, zero when layer 0 is not prompted)."""
        n = prompts.shape[2]
        index = {layer: j for j, layer in enumerate(layers)}
        for layer in range(start, stop):
            j = index.get(layer)
            if layer == 0 and mode == "cat":
                h = h.clone()
                view = h.view(c, -1, *h.shape[1:])
                view[:, :, 1:1 + n] = prompts[:, j].to(h.dtype).unsqueeze(1) if j is not None else 0.0
            elif j is not None:
                h = h.clone()
                view = h.view(c, -1, *h.shape[1:])
                view[:, :, 1:1 + n] += prompts[:, j].to(h.dtype).unsqueeze(1)
            self.work.add(h.shape[0], h.shape[1])
            h = self.backbone.run_layer(layer, h, ext)
        return h

    def _expand(
        self, data: PreparedData, base: Tensor | None, prompts: Tensor, layers: tuple[int, ...], split: int,
        mode: str, head_fn: Callable[[Tensor, tuple[int, int], int], RawOutputs],
    ) -> RawOutputs:
        """Run layers ``split..L-1`` for every candidate x example row, micro-batched; collect head outputs."""
        p_count, n_layers = prompts.shape[0], self.backbone.n_layers
        parts: list[tuple[slice, slice, RawOutputs]] = []
        for ch in plan_chunks(data.lengths, p_count, self.token_budget):
            rows, t = slice(ch.start, ch.stop), ch.length
            g = ch.stop - ch.start
            mask = data.attention_mask[rows, :t]
            first = self._embed(data, rows, t, mode) if base is None else base[rows, :t]
            for c0 in range(0, p_count, ch.cands):
                c = min(ch.cands, p_count - c0)
                h = first.unsqueeze(0).expand(c, *first.shape).reshape(c * g, t, -1)
                ext = self.backbone.extended_mask(mask.repeat(c, 1), self.dtype)
                h = self._run(h, ext, prompts[c0:c0 + c], layers, split, n_layers, c, mode)
                parts.append((slice(c0, c0 + c), rows, head_fn(h, (ch.start, ch.stop), c)))
        return assemble(parts, p_count, len(data))
