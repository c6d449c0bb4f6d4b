"""Bad input: every error names the file, the line and the problem."""

import dataclasses

import pytest

from bbt_mp2.errors import DataError
from bbt_mp2.tasks import get_task, load_split, read_table, register_task
from bbt_mp2.tasks.records import read_delimited, read_jsonl, read_lines, read_records


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"missing data file '.*nope\.jsonl'.*BBT_MP2_DATA"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_malformed_json_line(write):
    path = write("bad.jsonl", '{"text": "ok", "label": "a"}\n{"text": "broken\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: malformed JSON line"):
        read_jsonl(path)
    path = write("list.jsonl", '["not", "an", "object"]\n')
    with pytest.raises(DataError, match=r"list\.jsonl:1: malformed line: expected a JSON object, got list"):
        read_jsonl(path)


def test_malformed_csv_line_reports_its_line_number(write):
    path = write("bad.csv", "text,label\nfine,1\n\nthree,cells,here\n")
    with pytest.raises(DataError, match=r"bad\.csv:4: malformed line: expected 2 ','-separated columns "
                                        r"\(text, label\), got 3"):
        read_delimited(path, delimiter=",", header=True)
    path = write("bad.tsv", "a\tb\tc\nx\ty\n")
    with pytest.raises(DataError, match=r"bad\.tsv:2: malformed line: expected 3 '\\t'-separated columns, got 2"):
        read_records(path, "tsv", header=False)


def test_empty_file(write):
    path = write("empty.txt", "\n  \n")
    with pytest.raises(DataError, match=r"empty\.txt' holds no records \(empty file\)"):
        read_lines(path)


def test_prefixed_line_without_text(write):
    path = write("sst.txt", "1 a fine line\n3\n")
    with pytest.raises(DataError, match=r"sst\.txt:2: malformed line: expected '<label> <text>'"):
        read_records(path, "prefixed")


def _copy_of(task, name, **extra):
    spec = get_task(task)
    return dataclasses.replace(spec, name=name, extra={**spec.extra, **extra})


def test_builtin_reader_names_file_and_line_of_an_unknown_label(tmp_path, write):
    write("en/sst2x/dev.tsv", "sentence\tlabel\ngood film\t1\nbad film\t7\n")
    spec = _copy_of("sst2", "sst2x", dir=str(tmp_path / "en/sst2x"),
                    splits={"train": ["dev.tsv"], "test": ["dev.tsv"]})
    register_task(spec, read_table, overwrite=True)
    with pytest.raises(DataError, match=r"dev\.tsv:3: unknown label '7' for task 'sst2x'; known labels: \['0', '1'\]"):
        load_split("sst2x", "test", tmp_path)


def test_missing_file_of_a_task_names_task_and_path(tmp_path):
    spec = _copy_of("mr", "mrx", dir=str(tmp_path / "en/mrx"))
    register_task(spec, read_table, overwrite=True)
    with pytest.raises(DataError, match=r"task 'mrx': missing data file '.*rt-polarity\.neg'"):
        load_split("mrx", "train", tmp_path)


def test_empty_split(tmp_path, write, jsonl):
    # every pool line also occurs in the test file, so nothing is left for train
    write("en/emptyx/pool.jsonl", jsonl([{"text": "same", "label": "negative"}]))
    write("en/emptyx/test.jsonl", jsonl([{"text": "Same!", "label": "negative"}]))
    spec = _copy_of("mr", "emptyx", dir=str(tmp_path / "en/emptyx"),
                    splits={"pool": ["pool.jsonl"], "test": ["test.jsonl"]}, exclude=[],
                    formats=[{"kind": "jsonl", "columns": {"text": "text"}, "label": "label"}])
    register_task(spec, read_table, overwrite=True)
    assert len(load_split("emptyx", "test", tmp_path)) == 1
    with pytest.raises(DataError, match=r"task 'emptyx': the 'train' split is empty"):
        load_split("emptyx", "train", tmp_path)


def test_partial_data_folder_only_warns_about_cross_task_exclusions(tmp_path, write, caplog):
    write("en/mry/rt-polarity.pos", "".join(f"a good film number {i}\n" for i in range(40)))
    write("en/mry/rt-polarity.neg", "".join(f"a bad film number {i}\n" for i in range(40)))
    register_task(_copy_of("mr", "mry", dir=str(tmp_path / "en/mry")), read_table, overwrite=True)
    with caplog.at_level("WARNING"):
        train = load_split("mry", "train", tmp_path)
    assert 40 < len(train) < 80
    assert "could not remove the texts of sst2:test" in caplog.text
