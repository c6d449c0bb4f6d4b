"""Gradient multi-task pre-training of modular prompts (the MP2 checkpoint), router analysis, gradient baselines.

This package uses autograd through the frozen backbone; the black-box side (``optimizers``, ``servers``) never
imports it.
"""

from __future__ import annotations

from bbt_mp2.pretrain.analysis import activation_table, analyze_routers, cluster_routers, plot_dendrogram
from bbt_mp2.pretrain.config import ENGLISH_UNSEEN, ENGLISH_UPSTREAM, ENGLISH_WEIGHTS, PretrainConfig, english_recipe
from bbt_mp2.pretrain.data import TaskBatchSampler, TaskData, load_task_data
from bbt_mp2.pretrain.downstream import DOWNSTREAM_METHODS, DownstreamConfig, run_gradient_downstream
from bbt_mp2.pretrain.evaluation import DatasetScores, class_distribution, prediction_controls, score_dataset
from bbt_mp2.pretrain.model import PretrainModel, prompted_hidden, span_loss
from bbt_mp2.pretrain.trainer import evaluate_dev, pretrain

__all__ = [
    "PretrainConfig",
    "english_recipe",
    "ENGLISH_UPSTREAM",
    "ENGLISH_UNSEEN",
    "ENGLISH_WEIGHTS",
    "pretrain",
    "evaluate_dev",
    "PretrainModel",
    "prompted_hidden",
    "span_loss",
    "TaskData",
    "TaskBatchSampler",
    "load_task_data",
    "DatasetScores",
    "score_dataset",
    "class_distribution",
    "prediction_controls",
    "DownstreamConfig",
    "DOWNSTREAM_METHODS",
    "run_gradient_downstream",
    "analyze_routers",
    "cluster_routers",
    "plot_dendrogram",
    "activation_table",
]
