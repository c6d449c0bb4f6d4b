"""``bbt-mp2 data list`` / ``data show`` through the real entry point."""

from __future__ import annotations

import re

import pytest

from bbt_mp2.cli import main
from bbt_mp2.tasks import get_task, load_split, task_names


@pytest.mark.slow  # reads every real data file
def test_data_list_shows_every_task_with_sizes(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["task", "lang", "type", "#labels", "metric", "train", "dev", "test"]
    rows = {line.split()[0]: line.split() for line in lines[1:] if line.strip() and not line.endswith("tasks")}
    assert set(rows) == set(task_names())
    assert f"{len(task_names())} tasks" in out
    sst2 = rows["sst2"]
    assert sst2[1:5] == ["en", "single", "2", get_task("sst2").metric.value]
    assert sst2[7] == str(len(load_split("sst2", "test")))
    assert rows["cmrc2018"][3] == "span" and rows["chid"][3] == "options"


def test_data_list_filters_by_language_without_sizes(capsys):
    assert main(["data", "list", "--lang", "zh", "--no-sizes"]) == 0
    out = capsys.readouterr().out
    assert "eprstmt" in out and "sst2" not in out and f"{len(task_names('zh'))} tasks" in out


def test_data_show_sst2_prints_text_tokens_and_answer(capsys):
    assert main(["data", "show", "sst2", "--seed", "13", "-n", "2", "--n-tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- example") == 2
    assert out.count("MRC text: Sentiment analysis: what is the sentiment of") == 2
    assert "[CLS] [P1] [P2] [P3] [P4] sentiment analysis" in out and "[P5]" not in out
    answers = re.findall(r"answer span: tokens (\d+)\.\.(\d+) = (\S+) -> '(\w+)'", out)
    assert len(answers) == 2
    for start, end, token, decoded in answers:
        assert start == end and token == decoded and decoded in ("negative", "positive")
    assert "MiniLM" in out


def test_data_show_chinese_task_says_which_tokenizer(capsys):
    assert main(["data", "show", "eprstmt", "--seed", "13", "-n", "1", "--n-tokens", "2"]) == 0
    out = capsys.readouterr().out
    assert "情感分析" in out and "[P1] [P2]" in out
    assert "CHARACTER-LEVEL" in out or "offline cache" in out
    assert re.search(r"-> '(负面|正面)'", out)


def test_data_show_unknown_task_is_a_clear_error(capsys):
    assert main(["data", "show", "no-such-task"]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'no-such-task'" in err and "sst2" in err


# ---------------------------------------------------------------- data check / data show with a spec file
def test_data_check_prints_sizes_and_class_balance(user_spec, capsys):
    assert main(["data", "check", str(user_spec)]) == 0
    out = capsys.readouterr().out
    assert "task moviereviews (en, single, metric acc)" in out
    sizes = dict(re.findall(r"^(train|dev|test): (\d+) examples", out, flags=re.M))
    assert int(sizes["test"]) == 40 and int(sizes["train"]) + int(sizes["dev"]) <= 80
    assert re.search(r"^test: 40 examples: terrible \d+ \(\d+%\), great \d+ \(\d+%\)$", out, flags=re.M)
    assert "few-shot (seed 13, k 4): train 8 examples: terrible 4 (50%), great 4 (50%)" in out
    assert out.rstrip().endswith("ok")


def test_data_check_without_test_file_says_dev_only(user_spec, capsys):
    user_spec.write_text(user_spec.read_text().replace(", test: test.csv", ""))
    assert main(["data", "check", str(user_spec)]) == 0
    assert "test: none (the spec names no test file: tuning reports dev only)" in capsys.readouterr().out


def test_data_check_names_file_line_and_problem(user_spec, capsys):
    folder = user_spec.parent
    (folder / "test.csv").write_text("review,sentiment\nfine film,pos\nawful,meh\n")
    assert main(["data", "check", str(user_spec)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"reviews\.yaml: .*test\.csv:3: unknown label 'meh' for task 'moviereviews'", err), err
    (folder / "test.csv").write_text("text,sentiment\nfine film,pos\n")
    assert main(["data", "check", str(user_spec)]) == 2
    assert re.search(r"test\.csv:2: missing column 'review'", capsys.readouterr().err)
    (folder / "test.csv").write_text("")
    assert main(["data", "check", str(user_spec)]) == 2
    assert re.search(r"test\.csv' holds no records \(empty file\)", capsys.readouterr().err)
    assert main(["data", "check", str(folder / "missing.yaml")]) == 2
    assert "missing.yaml' does not exist" in capsys.readouterr().err


def test_data_show_takes_a_spec_file(user_spec, capsys):
    assert main(["data", "show", str(user_spec), "-n", "1", "--n-tokens", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("task moviereviews (en, single)") and out.count("--- example") == 1
    assert re.search(r"-> '(terrible|great)'", out)
