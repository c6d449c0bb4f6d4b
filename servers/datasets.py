"""Datasets of the service: encoded once, stored on disk content-addressed, owned per tenant in the storage layer.

An encoded dataset lives under ``state_dir/datasets/<id>.npz`` (arrays) + ``<id>.json`` (texts, offsets, answers),
written atomically; its id is the content hash of what the forward pass reads (``bbt_mp2.local_backend.
dataset_id_of``), so identical content has one id and one file. The storage layer records which tenant owns which
id, and the dataset's source (task spec + examples + encoding settings): a replica whose disk lacks the file
re-encodes it from there and checks that the id matches. The content is hashed once per registration or load
(``LocalBackend.register_encoded``), never per evaluate call.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from bbt_mp2.atomic_io import atomic_write
from bbt_mp2.cloze import ClozeDataset
from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import BackendError, ShapeError, UnknownNameError
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.tasks.types import Example, TaskSpec
from servers.storage import Storage
from servers.wire import example_from_dict, example_to_dict, task_from_dict, task_to_dict

__all__ = ["DatasetStore"]

logger = logging.getLogger(__name__)


def save_encoded(dataset: EncodedDataset, directory: Path, dataset_id: str) -> None:
    """Write ``dataset`` as ``<id>.npz`` + ``<id>.json`` under ``directory`` (atomic, no pickle)."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {f.name: getattr(dataset, f.name) for f in fields(dataset) if isinstance(getattr(dataset, f.name),
                                                                                        np.ndarray)}
    rest = {f.name: getattr(dataset, f.name) for f in fields(dataset) if f.name not in arrays}
    atomic_write(directory / f"{dataset_id}.npz", lambda f: np.savez(f, **arrays))
    atomic_write(directory / f"{dataset_id}.json", lambda f: f.write(json.dumps(rest).encode("utf-8")))


def has_encoded(directory: Path, dataset_id: str) -> bool:
    """Whether :func:`save_encoded` files of ``dataset_id`` exist under ``directory`` (their content is checked
    against the id when they are loaded into the backend)."""
    return (directory / f"{dataset_id}.npz").is_file() and (directory / f"{dataset_id}.json").is_file()


def load_encoded(directory: Path, dataset_id: str) -> EncodedDataset | None:
    """The dataset saved by :func:`save_encoded`, or None when its files are missing. Not hashed here:
    ``LocalBackend.register_encoded(..., expected_id=dataset_id)`` hashes it once and refuses another content."""
    npz, meta = directory / f"{dataset_id}.npz", directory / f"{dataset_id}.json"
    if not has_encoded(directory, dataset_id):
        return None
    with np.load(npz, allow_pickle=False) as arrays:
        values: dict[str, Any] = {k: arrays[k] for k in arrays.files}
    values.update(json.loads(meta.read_text()))
    cls = ClozeDataset if "verbalizer_ids" in values else EncodedDataset  # head=mlm: the cloze format
    if cls is ClozeDataset:
        values["verbalizer"] = tuple(values.get("verbalizer", ()))
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


class DatasetStore:
    """Register, look up and load datasets for tenants (model work is the caller's: call from the model thread).

    Args:
        backend: the in-process backend that encodes and scores.
        storage: the storage layer (ownership + sources).
        directory: where encoded datasets are stored (``state_dir/datasets``).
    """

    def __init__(self, backend: LocalBackend, storage: Storage, directory: Path) -> None:
        self.backend, self.storage, self.directory = backend, storage, Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def register(self, tenant: str, task: TaskSpec, examples: list[Example], *, n_tokens: int,
                 max_length: int | None, head: str = "mrc") -> dict[str, Any]:
        """Encode, store on disk, load into the backend and record ownership; returns the dataset's metadata.

        ``max_length`` None = :func:`bbt_mp2.encoding.default_max_length` of the task type, capped by the backbone.
        ``head="mlm"``: the cloze format scored by the backbone's MLM head (``LocalBackend.encode``).
        """
        from bbt_mp2.encoding import default_max_length

        if max_length is None:
            max_length = default_max_length(task.type, getattr(self.backend.backbone, "max_positions", None))
        data = self.backend.encode(task, examples, n_tokens=n_tokens, max_length=max_length, head=head)
        dataset_id = self.backend.register_encoded(data, task)  # checked and hashed once; the id is the hash
        if not has_encoded(self.directory, dataset_id):
            save_encoded(data, self.directory, dataset_id)
        meta = {"task": task.name, "n_examples": len(data), "n_tokens": n_tokens, "max_length": max_length,
                "length": int(data.input_ids.shape[1]),
                "n_options": data.n_options, "n_truncated": int(data.n_truncated)}
        source = {"task": task_to_dict(task), "examples": [example_to_dict(e) for e in examples],
                  "n_tokens": n_tokens, "max_length": max_length, "head": head}
        self.storage.add_dataset(tenant, dataset_id, meta, source)
        return dict(meta, id=dataset_id)

    def ensure_loaded(self, tenant: str, dataset_id: str) -> dict[str, Any]:
        """Metadata of a dataset ``tenant`` owns, loaded into the backend (from disk, or re-encoded).

        Raises:
            UnknownNameError: the tenant owns no such dataset (another tenant's id is unknown too).
            BackendError: a re-encoded dataset does not reproduce its id (other tokenizer or templates).
        """
        meta = self.storage.dataset_meta(tenant, dataset_id)
        if meta is None:
            raise UnknownNameError(f"dataset {dataset_id!r} not found; register it with POST /v1/datasets")
        if self.backend.has_dataset(dataset_id):
            return meta
        data = load_encoded(self.directory, dataset_id)
        source = self.storage.dataset_source(tenant, dataset_id) or {}
        task = task_from_dict(source["task"]) if "task" in source else None
        if data is not None:
            try:
                self.backend.register_encoded(data, task, expected_id=dataset_id)  # hashed once, checked
                return meta
            except (BackendError, ShapeError):
                logger.warning("dataset file %s.npz does not match its id; encoding it again", dataset_id)
        examples = [example_from_dict(e) for e in source["examples"]]
        data = self.backend.encode(task, examples, n_tokens=source["n_tokens"], max_length=source["max_length"],
                                   head=source.get("head", "mrc"))
        try:
            self.backend.register_encoded(data, task, expected_id=dataset_id)
        except BackendError:
            raise BackendError(f"dataset {dataset_id} re-encoded on this replica gives another id; every replica "
                               "must serve the same backbone and package version") from None
        save_encoded(data, self.directory, dataset_id)
        return meta
