"""Reference zero-shot predictions of a shipped checkpoint: the float16 copy must predict as its float32 source.

At export (``bbt-mp2 pretrain --export RUN --name english-deep``) the float32 source checkpoint labels the test
set of an unseen task zero-shot: its modules routed by the router of a task it was pre-trained on (default SST-2
routed by ``mr``, as ``benchmarks/pretrain_recipe.py`` reports zero-shot transfer). The predicted classes are stored
beside the shipped copy in ``reference_predictions.json``; :func:`check_reference` recomputes them with the float16
copy and returns the fraction that agree (the test suite asserts >= 0.995).

Zero-shot here goes through the one scoring path: ``LocalBackend.predict`` with the checkpoint's learned
projection, the candidate being ``z_l = sum_k w~_{l,k} z_{l,k}`` for the router row of the seen task
(:func:`bbt_mp2.methods.route`). A zero-prompt head (``CheckpointConfig.head_only``) is scored with the zero
prompt, its own start: the candidate is ``z = 0``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from bbt_mp2.errors import CheckpointError

__all__ = ["REFERENCE_FILE", "zero_shot_predictions", "write_reference", "check_reference"]

logger = logging.getLogger(__name__)

REFERENCE_FILE = "reference_predictions.json"


def zero_shot_predictions(
    checkpoint: str | os.PathLike[str], *, task: str = "sst2", router: str = "mr", split: str = "test",
    max_length: int | None = None, backbone: Any = None, data_root: str | None = None,
) -> np.ndarray:
    """Zero-shot predicted classes of ``checkpoint`` on ``task``/``split``, prompts routed by ``router``'s row.

    Args:
        checkpoint: shipped name or checkpoint directory.
        task: the (unseen) task to label. router: a task the checkpoint was pre-trained on (a router row).
        split: which split of ``task``. max_length: default the checkpoint's pre-training max length (else 96).
        backbone: a loaded backbone (default: load the checkpoint's by name).

    Returns:
        ``N`` int64 predicted option indices, in the split's order.

    Raises:
        CheckpointError: ``router`` is not one of the checkpoint's tasks (they are listed).
    """
    from bbt_mp2.backend import ProjectionSpec, PromptParam
    from bbt_mp2.checkpoint import load_checkpoint
    from bbt_mp2.local_backend import LocalBackend, checkpoint_id_of
    from bbt_mp2.methods import route
    from bbt_mp2.tasks import get_task, load_split

    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt.config
    row = None if cfg.head_only else ckpt.task_index(router)
    if backbone is None:
        from bbt_mp2.backbones import load_backbone

        backbone = load_backbone(cfg.backbone)
    if max_length is None:
        max_length = int((cfg.meta.get("pretrain_config") or {}).get("max_length", 96))
    backend = LocalBackend.from_checkpoint(backbone, checkpoint)
    cid = checkpoint_id_of(checkpoint)
    if row is None:
        candidate = np.zeros((len(cfg.layers), cfg.d))
    else:
        weights = route(ckpt.router[row].double().numpy(), cfg.routing)  # L' x K
        candidate = np.einsum("lk,lkd->ld", weights, ckpt.z.double().numpy())
    spec = get_task(task)
    ds = backend.register(spec, load_split(task, split, data_root), n_tokens=cfg.n_tokens, max_length=max_length)
    param = PromptParam(layers=tuple(cfg.layers), d=cfg.d, n_tokens=cfg.n_tokens, head=cid,
                        projection=ProjectionSpec(kind="learned", checkpoint=cid))
    return np.asarray(backend.predict(ds, param, candidate).predicted, dtype=np.int64)


def write_reference(source: str | os.PathLike[str], shipped: str | os.PathLike[str], *, task: str = "sst2",
                    router: str = "mr", data_root: str | None = None) -> dict[str, Any]:
    """Label ``task`` zero-shot with the float32 ``source`` and store it in ``shipped/reference_predictions.json``.

    Returns:
        The stored record, plus ``agreement``: the fraction of the float16 copy's predictions that equal it.
    """
    from bbt_mp2.atomic_io import atomic_write_bytes
    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.checkpoint import TENSORS_FILE, file_sha256, load_checkpoint

    backbone = load_backbone(load_checkpoint(source).config.backbone)
    reference = zero_shot_predictions(source, task=task, router=router, backbone=backbone, data_root=data_root)
    copy = zero_shot_predictions(shipped, task=task, router=router, backbone=backbone, data_root=data_root)
    record = {"task": task, "split": "test", "router": router, "predicted": reference.tolist(),
              "float16_sha256": file_sha256(Path(shipped) / TENSORS_FILE)}
    atomic_write_bytes(Path(shipped) / REFERENCE_FILE, (json.dumps(record) + "\n").encode())
    return dict(record, agreement=float(np.mean(reference == copy)))


def check_reference(shipped: str | os.PathLike[str], *, data_root: str | None = None) -> float:
    """Fraction of the stored float32 zero-shot predictions that the shipped float16 copy reproduces.

    Raises:
        CheckpointError: no reference file (export the checkpoint again), or a reference made for other tensors.
    """
    from bbt_mp2.checkpoint import TENSORS_FILE, file_sha256, resolve_checkpoint

    directory = resolve_checkpoint(shipped)
    path = directory / REFERENCE_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the shipped checkpoint has no float32 reference predictions; "
                              f"export it with `bbt-mp2 pretrain --export RUN_DIR --name {directory.name}`")
    record = json.loads(path.read_text())
    if record["float16_sha256"] != file_sha256(directory / TENSORS_FILE):
        raise CheckpointError(f"{path} was made for other tensors than {directory / TENSORS_FILE}; export again")
    copy = zero_shot_predictions(shipped, task=record["task"], router=record["router"], data_root=data_root)
    reference = np.asarray(record["predicted"], dtype=np.int64)
    if copy.shape != reference.shape:
        raise CheckpointError(f"{path}: {len(reference)} reference predictions, but {record['task']} "
                              f"{record['split']} has {len(copy)} examples here")
    return float(np.mean(copy == reference))
