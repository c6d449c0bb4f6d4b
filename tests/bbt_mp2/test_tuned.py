"""Tests for bbt_mp2/tuned.py: what a run records for its tuned prompt, load_tuned, predict, failures.

The tiny random backbone of ``bbt_mp2.testing`` and a random checkpoint made here stand in for MiniLM and the
shipped checkpoint; a user task (spec + JSONL written here) is tuned with MP2 deep for two small generations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bbt_mp2 import load_tuned
from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint
from bbt_mp2.errors import CheckpointError, DataError
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.methods import RunDir, tune
from bbt_mp2.tasks import get_task, load_user_task
from bbt_mp2.testing import build_tiny_backbone
from bbt_mp2.tuned import FAILURE_FILE, TUNED_FILE, examples_from_inputs

WORDS = ["good", "bad", "fine", "poor", "nice", "awful", "great", "dull"]


@pytest.fixture(scope="module")
def backbone():
    return build_tiny_backbone()


def _checkpoint(path, backbone, seed=0):
    g = torch.Generator().manual_seed(seed)
    L, h, n, k, d = backbone.n_layers, backbone.hidden, 4, 2, 6
    cfg = CheckpointConfig(backbone=backbone.name, embedding_hash=backbone.embedding_hash(), n_tokens=n, n_modules=k,
                           d=d, hidden=h, layers=tuple(range(L)), task_names=("up",))
    ckpt = MP2Checkpoint(cfg, router=torch.zeros(1, L, k), z=torch.randn(L, k, d, generator=g),
                         A=torch.randn(L, d, n * h, generator=g) * 0.1,
                         head_weight=torch.randn(2, h, generator=g) * 0.3, head_bias=torch.zeros(2))
    return save_checkpoint(ckpt, path)


@pytest.fixture
def user_task(tmp_path):
    rows = [{"txt": f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} film {i}", "y": ["neg", "pos"][i % 2]} for i in range(60)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:44]))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[44:]))
    (tmp_path / "tiny.yaml").write_text(
        "name: tinyreviews\nlang: en\ntype: single\nlabel_words: [terrible, great]\n"
        "label_map: {neg: terrible, pos: great}\ncolumns: {text: txt, label: y}\n"
        "files: {train: train.jsonl, test: test.jsonl}\nk_shot: 4\n")
    return tmp_path / "tiny.yaml"


@pytest.fixture
def tuned_run(tmp_path, backbone, user_task):
    ckpt = _checkpoint(tmp_path / "ck", backbone)
    backend = LocalBackend.from_checkpoint(backbone, ckpt)
    out = tmp_path / "run"
    res = tune(user_task, "mp2-deep", 13, 8, backend=backend, checkpoint=ckpt, out_dir=out, max_length=96,
               overrides={"budget_router": 4, "n_init": 4, "popsize": 4, "eval_every": 4, "eval_every_router": 4})
    return {"out": out, "ckpt": ckpt, "backend": backend, "result": res}


def test_run_records_everything_prediction_needs(tuned_run, backbone):
    record = json.loads((tuned_run["out"] / TUNED_FILE).read_text())
    assert record["task"]["name"] == "tinyreviews" and record["task"]["label_words"] == ["terrible", "great"]
    assert record["backbone"] == {"name": backbone.name, "embedding_hash": backbone.embedding_hash()}
    assert record["checkpoint"]["id"] == str(tuned_run["ckpt"].resolve())
    assert len(record["checkpoint"]["sha256"]) == 64
    assert record["param"]["projection"]["kind"] == "learned" and record["n_tokens"] == 4
    assert record["max_length"] == 96 and record["candidate_shape"] == [backbone.n_layers, 6]
    assert not (tuned_run["out"] / FAILURE_FILE).exists()


def test_predictions_equal_backend_predict_of_the_selected_candidate(tuned_run, backbone):
    tuned = load_tuned(tuned_run["out"], backbone=backbone)
    texts = ["good nice film", "awful dull film", "fine poor film"]
    preds = tuned.predict(texts)
    # the same candidate through a fresh backend, straight from the run's loop state
    selection = RunDir(tuned_run["out"]).load_state()["selection"]
    backend = LocalBackend.from_checkpoint(backbone, tuned_run["ckpt"])
    from bbt_mp2.backend import PromptParam

    spec = get_task("tinyreviews")
    ds = backend.register(spec, examples_from_inputs(spec, texts), n_tokens=4, max_length=96)
    want = backend.predict(ds, PromptParam.from_dict(selection["param"]), selection["candidate"])
    np.testing.assert_array_equal(preds.labels, want.predicted)
    np.testing.assert_allclose(preds.scores, want.scores, rtol=1e-6)
    assert preds.label_words == [spec.label_words[i] for i in want.predicted] and preds.metric is None
    rows = preds.rows()
    assert set(rows[0]["scores"]) == {"terrible", "great"} and "gold" not in rows[0]


def test_metric_with_gold_labels_matches_the_runs_test_accuracy(tuned_run, backbone):
    from bbt_mp2.tasks import load_split

    tuned = load_tuned(tuned_run["out"], backbone=backbone)
    preds = tuned.predict(load_split("tinyreviews", "test"))
    assert preds.metric == pytest.approx(tuned_run["result"].test_after)


def test_changed_checkpoint_and_wrong_backbone_are_refused(tuned_run, backbone, tmp_path):
    with pytest.raises(CheckpointError, match="embedding hash"):
        load_tuned(tuned_run["out"], backbone=build_tiny_backbone(seed=1))
    _checkpoint(tuned_run["ckpt"], backbone, seed=5)  # rewritten in place: another checkpoint under the same path
    with pytest.raises(CheckpointError, match="has changed since the run was tuned"):
        load_tuned(tuned_run["out"], backbone=backbone)


def test_incomplete_run_directory_is_refused(tuned_run, backbone, tmp_path):
    (tuned_run["out"] / "result.json").unlink()
    with pytest.raises(DataError, match=r"run directory .*run is incomplete: missing result.json"):
        load_tuned(tuned_run["out"], backbone=backbone)
    with pytest.raises(DataError, match="does not exist"):
        load_tuned(tmp_path / "nope", backbone=backbone)


def test_a_failing_run_records_its_failure_and_a_finished_resume_clears_it(tmp_path, backbone, user_task,
                                                                          monkeypatch):
    ckpt = _checkpoint(tmp_path / "ck", backbone)
    backend = LocalBackend.from_checkpoint(backbone, ckpt)
    real = backend.evaluate
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("device lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(backend, "evaluate", flaky)
    kwargs = dict(backend=backend, checkpoint=ckpt, out_dir=tmp_path / "run", max_length=96,
                  overrides={"popsize": 4, "eval_every": 4, "d": 6})
    with pytest.raises(RuntimeError, match="device lost"):
        tune(user_task, "bbt", 13, 12, **kwargs)
    failure = json.loads((tmp_path / "run" / FAILURE_FILE).read_text())
    assert failure["error"] == "RuntimeError" and failure["message"] == "device lost"
    tune(user_task, "bbt", 13, 12, resume=True, **kwargs)
    assert not (tmp_path / "run" / FAILURE_FILE).exists() and (tmp_path / "run" / TUNED_FILE).is_file()


def test_inputs_that_do_not_fit_the_task(user_task):
    spec = load_user_task(user_task)
    with pytest.raises(DataError, match="list of inputs is empty"):
        examples_from_inputs(spec, [])
    with pytest.raises(DataError, match=r"input 2 \(tuple\) does not fit task 'tinyreviews'"):
        examples_from_inputs(spec, ["fine", ("a", "b")])
