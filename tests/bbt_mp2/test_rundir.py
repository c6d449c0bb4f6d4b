"""Tests of bbt_mp2/rundir.py: the one run directory (tuning and pre-training), JSON state, versions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bbt_mp2.errors import ResumeError
from bbt_mp2.rundir import RunDir, check_versions, decode_state, encode_state, package_versions


def test_state_round_trips_exactly_through_plain_json(tmp_path):
    rng = np.random.default_rng(0)
    state = {"calls": 40, "best": float("inf"), "worst": float("-inf"), "x": rng.standard_normal((3, 5)),
             "f32": rng.standard_normal(4).astype(np.float32), "n": np.int64(7), "nested": {"a": [1.5, None, "s"]},
             "optimizer": {"losses": [[0.1, 0.2]], "rng_state": {"state": 2**100}}}
    run = RunDir(tmp_path / "run")
    run.save_state(state)
    text = run.file(RunDir.STATE).read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))  # strict JSON
    back = run.load_state()
    assert back["x"].dtype == np.float64 and np.array_equal(back["x"], state["x"])  # bit-exact
    assert back["f32"].dtype == np.float32 and np.array_equal(back["f32"], state["f32"])
    assert back["best"] == float("inf") and back["worst"] == float("-inf") and back["n"] == 7
    assert back["nested"] == state["nested"] and back["optimizer"] == state["optimizer"]
    assert decode_state(encode_state(state))["calls"] == 40
    with pytest.raises(TypeError, match="not plain data"):
        encode_state({"f": object()})


def test_an_old_pickled_state_is_refused_not_loaded(tmp_path):
    run = RunDir(tmp_path)
    (tmp_path / "state.pkl").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ResumeError, match="pickled state.pkl from an older version"):
        run.load_state()


def test_history_append_and_truncate_by_count_or_predicate(tmp_path):
    run = RunDir(tmp_path / "r")
    for step in range(5):
        run.append_history({"step": step})
    run.truncate_history(3)
    assert [r["step"] for r in run.read_history()] == [0, 1, 2]
    run.truncate_history(lambda r: r["step"] != 1)
    assert [r["step"] for r in run.read_history()] == [0, 2]
    silent = RunDir(tmp_path / "other", write=False)  # a non-main DDP rank writes nothing
    silent.append_history({"step": 0})
    silent.write_json("result.json", {"a": 1})
    assert not (tmp_path / "other").exists()


def test_versions_are_checked_on_the_saved_packages_only():
    now = package_versions()
    assert now["numpy"] == np.__version__ and "bbt-mp2" in now
    check_versions({"numpy": np.__version__, "bbt_mp2": now["bbt-mp2"]}, "state")  # old key spelling accepted
    check_versions({"torch": now["torch"].split("+")[0]}, "state")  # local build tags ignored
    with pytest.raises(ResumeError, match=r"state.pt was written with other package versions \(numpy: saved 0.1"):
        check_versions({"numpy": "0.1"}, "state.pt")
