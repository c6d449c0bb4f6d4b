"""Tests for bbt_mp2/cli/predict.py: reading input files, errors before the model loads, no partial output.

Predicting through the CLI on a real tuned run is in test_user_path.py (slow); the predictions' equality with
``Backend.predict`` is in tests/bbt_mp2/test_tuned.py.
"""

from __future__ import annotations

import json
import re

import pytest

import bbt_mp2.backbones
from bbt_mp2.cli import main
from bbt_mp2.cli.predict import read_inputs
from bbt_mp2.errors import DataError
from bbt_mp2.tasks import get_task, load_user_task


@pytest.fixture
def no_model(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the backbone must not be loaded when the input is refused")

    monkeypatch.setattr(bbt_mp2.backbones, "load_backbone", refuse)


def test_read_inputs_with_the_spec_columns_and_optional_gold(user_spec, tmp_path):
    spec = load_user_task(user_spec)
    (tmp_path / "new.csv").write_text("review,sentiment\na fine film,pos\na dull film,neg\n")
    examples = read_inputs(spec, tmp_path / "new.csv")
    assert [e.fields["text"] for e in examples] == ["a fine film", "a dull film"]
    assert [e.label for e in examples] == [1, 0]  # through the spec's label_map
    (tmp_path / "new.jsonl").write_text(json.dumps({"review": "unlabelled"}) + "\n")
    (ex,) = read_inputs(spec, tmp_path / "new.jsonl")
    assert ex.label is None and ex.uid.endswith("new.jsonl#1")
    (tmp_path / "new.txt").write_text("one text\n\nanother text\n")
    assert [e.fields["text"] for e in read_inputs(spec, tmp_path / "new.txt")] == ["one text", "another text"]


def test_read_inputs_of_a_builtin_pair_task_uses_role_names(tmp_path):
    spec = get_task("rte")
    (tmp_path / "pairs.tsv").write_text("text_a\ttext_b\nA man sleeps.\tA man is awake.\n")
    (ex,) = read_inputs(spec, tmp_path / "pairs.tsv")
    assert ex.fields == {"text_a": "A man sleeps.", "text_b": "A man is awake."} and ex.label is None
    (tmp_path / "pairs.txt").write_text("only one text\n")
    with pytest.raises(DataError, match=r"pairs\.txt: a file of one text per line fits single-text tasks only"):
        read_inputs(spec, tmp_path / "pairs.txt")


@pytest.mark.parametrize("content, message", [
    ("", r"new\.csv' holds no records \(empty file\)"),
    ("text,sentiment\nfine,pos\n", r"new\.csv:2: missing column 'review'"),
    ("review,sentiment\nfine,pos\nbad,meh\n", r"new\.csv:3: unknown label 'meh' for task 'moviereviews'"),
])
def test_bad_input_files_name_file_line_and_problem(user_spec, tmp_path, content, message):
    spec = load_user_task(user_spec)
    (tmp_path / "new.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        read_inputs(spec, tmp_path / "new.csv")


def test_bad_run_directory_or_paths_fail_before_the_model_loads(tmp_path, no_model, capsys):
    (tmp_path / "in.txt").write_text("a film\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    out = tmp_path / "preds.jsonl"
    cases = [
        (["--run", str(run), "--input", str(tmp_path / "in.txt"), "--output", str(out)],
         r"run directory .*run is incomplete: missing result\.json, tuned\.json, best_params\.npy"),
        (["--run", str(tmp_path / "none"), "--input", str(tmp_path / "in.txt")], r"none' does not exist"),
        (["--run", str(run), "--input", str(tmp_path / "missing.txt")], r"input file .*missing\.txt' does not exist"),
        (["--run", str(run), "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "p.xlsx")],
         r"--output .*p\.xlsx: unknown format"),
    ]
    for argv, message in cases:
        assert main(["predict", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("bbt-mp2 predict: error:") and re.search(message, err), err
    (run / "failure.json").write_text(json.dumps({"error": "RuntimeError", "message": "x"}))
    assert main(["predict", "--run", str(run), "--input", str(tmp_path / "in.txt")]) == 2
    assert "incomplete (the run failed: see failure.json)" in capsys.readouterr().err
    assert not out.exists()
