"""The population evaluator (the hot path): ``Evaluator.evaluate(dataset, prompts P x L' x n x h, layers)``."""

from __future__ import annotations

from bbt_mp2.evaluator.cache import ActivationCache, prompt_prefix_hash
from bbt_mp2.evaluator.core import DEFAULT_TOKEN_BUDGET, Evaluator, WorkCounter
from bbt_mp2.evaluator.plan import Chunk, PreparedData, dataset_fingerprint, plan_chunks, prepare
from bbt_mp2.evaluator.validation import CheckedDataset, CheckedPrompts, ValidatedPopulation, checked_dataset

__all__ = [
    "Evaluator",
    "DEFAULT_TOKEN_BUDGET",
    "WorkCounter",
    "ActivationCache",
    "prompt_prefix_hash",
    "Chunk",
    "PreparedData",
    "dataset_fingerprint",
    "plan_chunks",
    "prepare",
    "CheckedDataset",
    "CheckedPrompts",
    "ValidatedPopulation",
    "checked_dataset",
]
