"""Task side of bbt-mp2: the task registry, readers, deterministic splits, the few-shot protocol and metrics.

Quick tour::

    from bbt_mp2.tasks import get_task, load_split, fewshot, SEEDS
    spec = get_task("sst2")                     # TaskSpec: type, label words, metric, template, k_shot
    test = load_split("sst2", "test")           # list[Example]
    fs = fewshot("sst2", seed=SEEDS[0])         # FewShotSplit(train, dev, test)
"""

from bbt_mp2.tasks.fewshot import SEEDS, FewShotSplit, fewshot, published_files
from bbt_mp2.tasks.metrics import accuracy, binary_f1, compute_metric, roc_auc, span_em, span_f1
from bbt_mp2.tasks.paths import DATA_ENV, data_root
from bbt_mp2.tasks.readers import Reader, read_table
from bbt_mp2.tasks.registry import get_task, register_task, task_names
from bbt_mp2.tasks.splits import SPLITS, clear_cache, load_split, normalize_text, text_key
from bbt_mp2.tasks.subsets import label_subset, subset_task
from bbt_mp2.tasks.types import OPTION_TYPES, SPAN_TYPES, Example, Metric, Span, TaskSpec, TaskType
from bbt_mp2.tasks.user import load_user_task

__all__ = [
    "DATA_ENV",
    "OPTION_TYPES",
    "SEEDS",
    "SPAN_TYPES",
    "SPLITS",
    "Example",
    "FewShotSplit",
    "Metric",
    "Reader",
    "Span",
    "TaskSpec",
    "TaskType",
    "accuracy",
    "binary_f1",
    "clear_cache",
    "compute_metric",
    "data_root",
    "fewshot",
    "get_task",
    "load_split",
    "label_subset",
    "load_user_task",
    "normalize_text",
    "published_files",
    "read_table",
    "register_task",
    "roc_auc",
    "span_em",
    "span_f1",
    "subset_task",
    "task_names",
    "text_key",
]
