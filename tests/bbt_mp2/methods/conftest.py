"""Fixtures for the method tests: a fake Backend over a cheap numpy model, few-shot data, MP2 checkpoints."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from bbt_mp2.backend import EvalResult, ModelInfo, Prediction, PromptParam
from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, load_checkpoint, save_checkpoint
from bbt_mp2.errors import ShapeError
from bbt_mp2.tasks.types import Example, Metric, TaskSpec, TaskType

N_FEATURES = 12
# checkpoints written by write_checkpoint in this test session: id (absolute path) -> directory; the fake backend
# serves them all, as a server serves the checkpoints it was started with
SERVED: dict[str, Path] = {}


def _features(uid: str, n_classes: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(uid.encode()).digest()[:4], "little")
    return np.random.default_rng(seed).normal(size=(n_classes, N_FEATURES))


def _target() -> np.ndarray:
    return np.random.default_rng(12345).normal(size=N_FEATURES)


class FakeBackend:
    """Implements the Backend protocol over a linear model: logits_i = X_i @ (R @ sum_l A_l z_l)."""

    def __init__(self, *, n_layers: int = 3, hidden: int = 4, fail_after: int | None = None,
                 embedding_hash: str = "fakehash0000") -> None:
        self.n_layers, self.hidden = n_layers, hidden
        self.fail_after = fail_after
        self.embedding_hash = embedding_hash
        self.datasets: dict[str, dict] = {}
        self.n_calls = 0
        self.requests = 0
        self.registered = 0

    def info(self) -> ModelInfo:
        served = {}
        for cid, path in SERVED.items():
            cfg = load_checkpoint(path).config.to_dict()
            served[cid] = {k: cfg[k] for k in ("backbone", "embedding_hash", "n_tokens", "n_modules", "d", "hidden",
                                                "layers", "task_names", "routing")}
            served[cid]["sha256"] = hashlib.sha256((path / "tensors.safetensors").read_bytes()).hexdigest()
        return ModelInfo(name="fake", n_layers=self.n_layers, hidden=self.hidden, embedding_hash=self.embedding_hash,
                         checkpoints=served)

    def checkpoint_modules(self, checkpoint_id: str) -> np.ndarray:
        return load_checkpoint(SERVED[checkpoint_id]).z.numpy()

    def register(self, task: TaskSpec, examples, *, n_tokens: int, max_length: int = 128) -> str:
        self.registered += 1
        X = np.stack([_features(ex.uid, task.n_classes) for ex in examples])
        y = np.array([ex.label for ex in examples])
        key = hashlib.sha256((",".join(ex.uid for ex in examples) + f"|{n_tokens}").encode()).hexdigest()[:12]
        self.datasets[key] = {"X": X, "y": y, "n_tokens": n_tokens}
        return key

    def _projection(self, param: PromptParam, layer_pos: int) -> np.ndarray:
        spec, m = param.projection, param.n_tokens * self.hidden
        if spec.kind == "learned":
            ckpt = load_checkpoint(SERVED[spec.checkpoint])
            return ckpt.A[ckpt.layer_index(param.layers[layer_pos])].double().numpy()
        rng = np.random.default_rng([spec.seed, param.layers[layer_pos]])
        return rng.normal(size=(param.d, m)) / np.sqrt(param.d)

    def _logits(self, ds: dict, param: PromptParam, cand: np.ndarray) -> np.ndarray:
        m = param.n_tokens * self.hidden
        v = sum(cand[j] @ self._projection(param, j) for j in range(len(param.layers)))
        u = v @ (np.random.default_rng(m).normal(size=(m, N_FEATURES)) / np.sqrt(m))
        return ds["X"] @ (u - 0.5 * _target())  # N x C; the zero prompt is worse than chance

    @staticmethod
    def _scores(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean()), float((logits.argmax(1) == y).mean())

    def evaluate(self, dataset_id: str, param: PromptParam, population: np.ndarray, *, loss: str = "auto"):
        population = np.asarray(population)
        if population.shape[1:] != (len(param.layers), param.d):
            raise ShapeError(f"population {population.shape} vs layers {param.layers}, d {param.d}")
        if self.fail_after is not None and self.requests >= self.fail_after:
            raise RuntimeError("fake backend killed")
        self.requests += 1
        self.n_calls += len(population)
        ds = self.datasets[dataset_id]
        out = [self._scores(self._logits(ds, param, c), ds["y"]) for c in population]
        return EvalResult(loss=np.array([o[0] for o in out]), metric=np.array([o[1] for o in out]))

    def predict(self, dataset_id: str, param: PromptParam, candidate: np.ndarray, *, loss: str = "auto"):
        ds = self.datasets[dataset_id]
        logits = self._logits(ds, param, np.asarray(candidate))
        loss_value, metric = self._scores(logits, ds["y"])
        return Prediction(metric=metric, loss=loss_value, predicted=logits.argmax(1), labels=ds["y"],
                          scores=logits)


@dataclass
class FakeSplit:
    train: list
    dev: list
    test: list


FAKE_TASK = TaskSpec(name="fake", lang="en", type=TaskType.SINGLE, label_words=("no", "yes"), metric=Metric.ACC)


def make_split(n_train: int = 24, n_dev: int = 24, n_test: int = 48) -> FakeSplit:
    def make(split: str, n: int) -> list:
        out = []
        for i in range(n):
            uid = f"fake/{split}/{i}"
            label = int(np.argmax(_features(uid, 2) @ _target()))
            out.append(Example(uid=uid, fields={"text": f"example {i}"}, label=label))
        return out

    return FakeSplit(make("train", n_train), make("dev", n_dev), make("test", n_test))


def write_checkpoint(path: Path, *, layers=(0, 1, 2), n_tokens=2, hidden=4, d=6, n_modules=3,
                     embedding_hash="fakehash0000", seed=0) -> Path:
    g = torch.Generator().manual_seed(seed)
    L = len(layers)
    cfg = CheckpointConfig(backbone="fake", embedding_hash=embedding_hash, n_tokens=n_tokens, n_modules=n_modules,
                           d=d, hidden=hidden, layers=tuple(layers), task_names=("up1", "up2"))
    ckpt = MP2Checkpoint(cfg, router=torch.randn(2, L, n_modules, generator=g),
                         z=torch.randn(L, n_modules, d, generator=g),
                         A=torch.randn(L, d, n_tokens * hidden, generator=g),
                         head_weight=torch.randn(2, hidden, generator=g), head_bias=torch.zeros(2))
    out = save_checkpoint(ckpt, path)
    SERVED[str(Path(out).resolve())] = Path(out)
    return out


@pytest.fixture
def fake_backend():
    return FakeBackend


@pytest.fixture
def split():
    return make_split()


@pytest.fixture
def fake_task():
    return FAKE_TASK


@pytest.fixture
def make_checkpoint():
    return write_checkpoint


@pytest.fixture
def deep_ckpt(tmp_path):
    return write_checkpoint(tmp_path / "deep_ckpt")


@pytest.fixture
def shallow_ckpt(tmp_path):
    return write_checkpoint(tmp_path / "shallow_ckpt", layers=(0,))

