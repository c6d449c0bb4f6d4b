"""A user's whole path without Python, end to end (slow): own data -> check -> tune -> predict -> runs.

The test writes a task spec and CSV files from real SST-2 text into a temporary folder, then runs the commands a
user runs, in order, with the shipped ``english-deep`` checkpoint (no ``--checkpoint``; a missing shipped
checkpoint fails the test). The predictions must equal ``Backend.predict`` of the run's selected candidate.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from bbt_mp2.cli import main
from bbt_mp2.tasks import load_split


@pytest.mark.slow
def test_user_task_from_spec_to_predictions(user_spec, tmp_path, capsys):
    from bbt_mp2.checkpoint import shipped_checkpoints

    assert "english-deep" in shipped_checkpoints(), "the shipped checkpoint english-deep is missing"
    # 1. check the spec and its files
    assert main(["data", "check", str(user_spec)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ok")
    # 2. tune MP2 deep (router stage, then CMA-ES) on it, default checkpoint
    run = tmp_path / "runs" / "reviews-mp2"
    assert main(["tune", "--task", str(user_spec), "--method", "mp2-deep", "--budget", "30", "--seed", "13",
                 "--out", str(run), "--no-progress", "--set", "budget_router=10", "--set", "n_init=10",
                 "--set", "popsize=10", "--set", "eval_every=10", "--set", "eval_every_router=10"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("mp2-deep on moviereviews (seed 13): 30/30 calls")
    result = json.loads((run / "result.json").read_text())
    # 3. predict new lines (one text per line, no labels) into a file
    new = [ex.fields["text"] for ex in load_split("sst2", "test")[100:112]]
    (tmp_path / "new.txt").write_text("\n".join(new) + "\n")
    preds_file = tmp_path / "preds.jsonl"
    assert main(["predict", "--run", str(run), "--input", str(tmp_path / "new.txt"), "--output",
                 str(preds_file)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 12 predictions to {preds_file}"
    rows = [json.loads(line) for line in preds_file.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"new.txt#{i}" for i in range(1, 13)]
    assert all(r["label_word"] == ["terrible", "great"][r["label"]] and "gold" not in r for r in rows)
    # ... equal to Backend.predict of the selected candidate
    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.backend import PromptParam
    from bbt_mp2.local_backend import LocalBackend
    from bbt_mp2.methods import RunDir
    from bbt_mp2.tasks import Example, get_task

    tuned = json.loads((run / "tuned.json").read_text())
    assert tuned["checkpoint"]["id"] == "english-deep" and tuned["task"]["name"] == "moviereviews"
    selection = RunDir(run).load_state()["selection"]
    backend = LocalBackend.from_checkpoint(load_backbone("minilm"), "english-deep")
    ds = backend.register(get_task("moviereviews"), [Example(f"n{i}", {"text": t}) for i, t in enumerate(new)],
                          n_tokens=tuned["n_tokens"], max_length=tuned["max_length"])
    want = backend.predict(ds, PromptParam.from_dict(selection["param"]), selection["candidate"])
    assert [r["label"] for r in rows] == want.predicted.tolist()
    np.testing.assert_allclose([[r["score_terrible"], r["score_great"]] for r in rows], want.scores, atol=1e-5)
    # 4. with gold labels the metric is printed: on the task's own test file it is the run's test accuracy
    assert main(["predict", "--run", str(run), "--input", str(user_spec.parent / "test.csv")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"acc {result['tuned']['test']['metric']:.4f} on 40 inputs with gold labels"
    assert len(out) == 1 + 40 + 1 and out[0].split()[:3] == ["id", "label", "label_word"]
    # 5. the runs at a glance
    assert main(["runs", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert re.match(rf"^{re.escape(str(run))}\s+moviereviews\s+mp2-deep\s+13\s+30/30\s+.*finished$", table[1])
    assert table[-1] == "1 runs: 1 finished, 0 interrupted, 0 failed"
