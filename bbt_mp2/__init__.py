"""bbt-mp2: gradient-free black-box tuning (BBT, BBTv2, MP2) of frozen language models served as a service."""

from __future__ import annotations

from bbt_mp2.backend import Backend, EvalResult, ModelInfo, Prediction, ProjectionSpec, PromptParam
from bbt_mp2.checkpoint_config import CheckpointConfig
from bbt_mp2.config import Config
from bbt_mp2.encoding import EncodedDataset, encode
from bbt_mp2.errors import (
    BackendError,
    BbtError,
    BudgetExceededError,
    CheckpointError,
    ConfigError,
    DataError,
    ResumeError,
    ShapeError,
    UnknownNameError,
)
from bbt_mp2.mrc import to_mrc
from bbt_mp2.tasks import Example, Span, TaskSpec, TaskType, fewshot, get_task, load_split, task_names

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "BbtError",
    "ConfigError",
    "ShapeError",
    "UnknownNameError",
    "DataError",
    "BudgetExceededError",
    "BackendError",
    "ResumeError",
    "CheckpointError",
    "Backend",
    "EvalResult",
    "ModelInfo",
    "Prediction",
    "ProjectionSpec",
    "PromptParam",
    "CheckpointConfig",
    "Config",
    "MP2Checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "EncodedDataset",
    "encode",
    "to_mrc",
    "Example",
    "Span",
    "TaskSpec",
    "TaskType",
    "fewshot",
    "get_task",
    "load_split",
    "task_names",
    "load_backbone",
    "Evaluator",
    "LocalBackend",
    "MRCHead",
    "ModularPrompt",
    "build_projection",
    "load_tuned",
]


def __getattr__(name: str):  # torch-heavy names load lazily, so `import bbt_mp2` loads no torch
    lazy = {
        "MP2Checkpoint": "bbt_mp2.checkpoint",
        "load_checkpoint": "bbt_mp2.checkpoint",
        "save_checkpoint": "bbt_mp2.checkpoint",
        "load_backbone": "bbt_mp2.backbones",
        "Evaluator": "bbt_mp2.evaluator",
        "LocalBackend": "bbt_mp2.local_backend",
        "MRCHead": "bbt_mp2.heads",
        "ModularPrompt": "bbt_mp2.prompts",
        "build_projection": "bbt_mp2.prompts",
        "load_tuned": "bbt_mp2.tuned",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'bbt_mp2' has no attribute {name!r}")
