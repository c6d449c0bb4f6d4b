"""``scoring`` through the run loop: the setting rides every request's ``PromptParam`` and is recorded in
result.json (fake backend of this folder's conftest)."""

from __future__ import annotations

import json

import pytest

from bbt_mp2.methods import build_config
from bbt_mp2.methods.runner import RunConfig, run_method


@pytest.mark.parametrize("method", ["bbt", "bbtv2"])
def test_scoring_reaches_the_request_and_result_json(method, fake_backend, split, fake_task, tmp_path):
    seen = []
    backend = fake_backend()
    evaluate = backend.evaluate

    def spy(dataset_id, param, population, **kw):
        seen.append(param.scoring)
        return evaluate(dataset_id, param, population, **kw)

    backend.evaluate = spy
    config = RunConfig(task=fake_task.name, method=method, seed=3,
                       method_config=build_config(method, overrides={"scoring": "product", "budget": 8,
                                                                     "popsize": 4, "d": 4, "n_tokens": 2}))
    result = run_method(config, backend, split, str(tmp_path / "r"), task_spec=fake_task)
    assert seen and set(seen) == {"product"}
    assert result.scoring == "product"
    assert json.loads((tmp_path / "r" / "result.json").read_text())["scoring"] == "product"
