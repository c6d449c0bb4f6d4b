"""Validate once, at the boundary (issue 9): a dataset is checked and hashed once, at registration; a population is
checked once per call, where it enters (``LocalBackend.evaluate`` / ``predict`` in-process; the server's request
checks for HTTP, see ``tests/servers/routes/test_evaluate.py``); the evaluator trusts the checked objects.

The checks are counted by wrapping the check functions wherever a module bound them.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
import torch

from bbt_mp2.backend import ProjectionSpec, PromptParam
from bbt_mp2.errors import BackendError, ShapeError
from bbt_mp2.evaluator import Evaluator, plan, validation
from bbt_mp2.heads import MRCHead

N_TOK = 4
CHECKS = {  # name -> (owner, attribute): every function that checks a population or a dataset, or hashes one
    "fingerprint": (plan, "dataset_fingerprint"),
    "check_dataset": (validation, "check_dataset"),
    "check_labels": (validation, "check_labels"),
    "check_prompts": (validation, "check_prompts"),
    "check_population": (validation, "check_population"),
}


def count_calls(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Wrap every check of :data:`CHECKS` (in every module that imported it) and ``Evaluator.check_layers`` so
    that each call is counted; returns the live counter (keys: the names of CHECKS and ``check_layers``)."""
    counts: Counter = Counter()

    def counting(name: str, fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            counts[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    for name, (owner, attr) in CHECKS.items():
        original = getattr(owner, attr)
        wrapped = counting(name, original)
        for module in list(sys.modules.values()):
            if getattr(module, "__dict__", {}).get(attr) is original:
                monkeypatch.setattr(module, attr, wrapped)
    monkeypatch.setattr(Evaluator, "check_layers", counting("check_layers", Evaluator.check_layers))
    return counts


def test_registration_checks_and_hashes_once_and_evaluate_never_again(backend, sst2, monkeypatch, one_thread):  # noqa: ANN001
    task, split = sst2
    counts = count_calls(monkeypatch)
    did = backend.register(task, split.train, n_tokens=N_TOK, max_length=48)
    assert counts == {"fingerprint": 1, "check_dataset": 1}
    param = PromptParam(layers=(0, 2), d=8, n_tokens=N_TOK, projection=ProjectionSpec(seed=1))
    pop = np.random.default_rng(0).normal(size=(3, 2, 8))
    for call in range(1, 4):
        backend.evaluate(did, param, pop)
        # one population check and one layer check per call; the dataset is neither re-checked nor re-hashed, and
        # its labels are checked once for this loss
        assert counts == {"fingerprint": 1, "check_dataset": 1, "check_population": call, "check_layers": call,
                          "check_labels": 1}, call
    backend.predict(did, param, pop[0])
    assert counts["check_population"] == 4 and counts["check_prompts"] == 0 and counts["fingerprint"] == 1
    assert counts["check_dataset"] == 1


def test_raw_prompts_are_checked_once_by_the_backend(backend, sst2, monkeypatch, one_thread):  # noqa: ANN001
    task, split = sst2
    did = backend.register(task, split.dev, n_tokens=N_TOK, max_length=48)
    counts = count_calls(monkeypatch)
    raw = PromptParam(layers=(1,), n_tokens=N_TOK, projection=None)
    backend.evaluate(did, raw, np.zeros((2, 1, N_TOK, 32), dtype=np.float32))
    assert counts["check_prompts"] == 1 and counts["check_layers"] == 1 and counts["check_population"] == 0
    assert counts["fingerprint"] == 0 and counts["check_dataset"] == 0


def test_the_evaluator_alone_still_checks_plain_data(tiny, sst2, backend, monkeypatch, one_thread):  # noqa: ANN001
    task, split = sst2
    data = backend.encode(task, split.dev, n_tokens=N_TOK, max_length=48)
    counts = count_calls(monkeypatch)
    ev = Evaluator(tiny, MRCHead(32, seed=2), token_budget=512)
    ev.evaluate(data, torch.zeros(1, 1, N_TOK, 32), (0,))
    assert counts == {"check_layers": 1, "check_prompts": 1, "check_dataset": 1, "fingerprint": 1,
                      "check_labels": 1}
    checked = validation.checked_dataset(data, tiny)
    ev.evaluate(checked, torch.zeros(1, 1, N_TOK, 32), (0,))
    ev.evaluate(checked, torch.zeros(1, 1, N_TOK, 32), (0,))
    assert counts["fingerprint"] == 2 and counts["check_dataset"] == 2 and counts["check_prompts"] == 3


def test_bad_populations_get_the_same_clear_errors_before_any_forward(backend, sst2, monkeypatch, one_thread):  # noqa: ANN001
    task, split = sst2
    did = backend.register(task, split.dev, n_tokens=N_TOK, max_length=48)
    param = PromptParam(layers=(0, 1), d=8, n_tokens=N_TOK)
    work = backend.evaluator.work
    with pytest.raises(ShapeError, match=r"expected \(P >= 1, len\(layers\)=2, d=8\)"):
        backend.evaluate(did, param, np.zeros((0, 2, 8)))
    with pytest.raises(ShapeError, match=r"NaN or inf \(candidates \[1\]\)"):
        backend.evaluate(did, param, np.stack([np.zeros((2, 8)), np.full((2, 8), np.inf)]))
    with pytest.raises(ShapeError, match="beyond float32"):
        backend.evaluate(did, param, np.full((1, 2, 8), 1e39))
    with pytest.raises(ShapeError, match="must hold real numbers"):
        backend.evaluate(did, param, np.array([[["a"] * 8] * 2]))
    monkeypatch.setattr(backend, "_projection", lambda *a: torch.full((8, N_TOK * 32), 10.0))
    with pytest.raises(ShapeError, match=r"projected from candidates \[0\] overflow float32"):
        backend.evaluate(did, param, np.full((1, 2, 8), 1e37))
    assert work.tokens == 0 and backend.n_calls == 0


def test_a_reloaded_dataset_must_give_its_id(backend, sst2):  # noqa: ANN001
    task, split = sst2
    data = backend.encode(task, split.dev, n_tokens=N_TOK, max_length=48)
    did = backend.register_encoded(data, task, expected_id=None)
    assert backend.register_encoded(data, task, expected_id=did) == did
    with pytest.raises(BackendError, match=f"gives id {did}, not the expected ds-0"):
        backend.register_encoded(data, task, expected_id="ds-0")
