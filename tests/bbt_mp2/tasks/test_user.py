"""User-defined tasks: spec file + data file -> a registered task that loads, splits and samples."""

import json
from collections import Counter

import pytest

from bbt_mp2.errors import ConfigError, DataError
from bbt_mp2.tasks import TaskType, fewshot, get_task, load_split, load_user_task, text_key
from bbt_mp2.tasks.user import has_test_split, is_spec_file, resolve_task


def _reviews(n):
    return [{"review": f"review number {i} " + ("great" if i % 2 else "awful"), "stars": 5 if i % 2 else 1}
            for i in range(n)]


def test_jsonl_yaml_round_trip(tmp_path, write, jsonl):
    rows = _reviews(60)
    write("train.jsonl", jsonl(rows[:40]))
    write("test.jsonl", jsonl(rows[40:]))
    spec_path = write("reviews.yaml", """
name: Reviews
lang: en
type: single
label_words: [bad, good]
label_map: {"1": bad, "5": good}
columns: {text: review, label: stars}
files: {train: train.jsonl, test: test.jsonl}
template: sentiment
k_shot: 4
""")
    spec = load_user_task(spec_path)
    assert spec.name == "reviews" and get_task("reviews") is spec
    assert spec.type == TaskType.SINGLE and spec.k_shot == 4 and spec.template == "sentiment"
    test = load_split("reviews", "test", tmp_path)
    assert [e.fields["text"] for e in test] == [r["review"] for r in rows[40:]]
    assert [spec.label_words[e.label] for e in test] == ["good" if r["stars"] == 5 else "bad" for r in rows[40:]]
    train, dev = load_split("reviews", "train", tmp_path), load_split("reviews", "dev", tmp_path)
    assert len(train) + len(dev) == 40 and not {text_key(e) for e in train} & {text_key(e) for e in dev}
    fs = fewshot("reviews", 13, tmp_path)
    assert Counter(e.label for e in fs.train) == {0: 4, 1: 4} and len(fs.dev) == 8


def test_csv_pair_task_with_json_spec_carves_dev_and_no_test(tmp_path, write):
    lines = ["q1,q2,same"] + [f"question {i},other question {i},{i % 2}" for i in range(50)]
    write("pairs.csv", "\n".join(lines) + "\n")
    spec_path = write("pairs.json", json.dumps({
        "name": "pairs", "lang": "zh", "type": "pair", "label_words": ["矛盾", "相似"],
        "label_map": {"0": "矛盾", "1": "相似"}, "columns": {"text_a": "q1", "text_b": "q2", "label": "same"},
        "files": {"train": "pairs.csv"}}))
    spec = load_user_task(spec_path)
    assert spec.k_shot == 16 and spec.template == ""
    parts = {s: load_split("pairs", s, tmp_path) for s in ("train", "dev", "test")}
    assert parts["test"] == [] and not has_test_split(spec)  # no test file: no test numbers are invented
    assert sum(len(p) for p in parts.values()) == 50 and len(parts["dev"]) > 0
    uids = [e.uid for p in parts.values() for e in p]
    assert len(set(uids)) == 50
    assert all(e.fields["text_a"].startswith("question") for e in parts["train"])
    fs = fewshot("pairs", 13, tmp_path, k=4)
    assert fs.test == [] and len(fs.train) == 8 and len(fs.dev) == 8


def test_tsv_without_header_multiple_choice_and_span(tmp_path, write, jsonl):
    write("mc.jsonl", jsonl([{"story": f"story {i}", "q": "which?", "opts": ["red", "blue", "green"],
                              "gold": ["red", "blue", "green"][i % 3]} for i in range(80)]))
    write("mc.yaml", "name: mc\nlang: en\ntype: multiple_choice\ncolumns: {context: story, question: q, "
                     "options: opts, label: gold}\nfiles: {train: mc.jsonl}\n")
    load_user_task(tmp_path / "mc.yaml")
    ex = load_split("mc", "train", tmp_path)[0]
    assert ex.options == ("red", "blue", "green") and ex.options[ex.label] in ("red", "blue", "green")
    write("span.tsv", "".join(f"the capital is city{i} today\twhat is the capital?\tcity{i}\n" for i in range(80)))
    write("span.json", json.dumps({"name": "spanx", "lang": "en", "type": "span", "format": "tsv", "header": False,
                                   "columns": {"context": 0, "question": 1, "answer": 2},
                                   "files": {"train": "span.tsv"}}))
    spec = load_user_task(tmp_path / "span.json")
    assert spec.metric.value == "span_f1" and spec.k_shot == 32
    for ex in load_split("spanx", "train", tmp_path):
        (span,) = ex.answers
        assert ex.fields["context"][span.start:span.start + len(span.text)] == span.text
    assert len(fewshot("spanx", 21, tmp_path, k=5).train) == 5


def test_spec_naming_a_missing_column(tmp_path, write, jsonl):
    write("data.jsonl", jsonl([{"text": "fine", "stars": 1}, {"text": "also fine", "stars": 5}]))
    spec_path = write("bad.yaml", "name: badcol\nlang: en\ntype: single\nlabel_words: [bad, good]\n"
                                  "label_map: {'1': bad, '5': good}\ncolumns: {text: review, label: stars}\n"
                                  "files: {train: data.jsonl, dev: data.jsonl, test: data.jsonl}\n")
    load_user_task(spec_path)
    with pytest.raises(DataError, match=r"task spec .*bad\.yaml: .*data\.jsonl:1: missing column 'review'; "
                                        r"the record has \['stars', 'text'\]"):
        load_split("badcol", "test", tmp_path)


def test_unknown_label_names_spec_file_and_line(tmp_path, write, jsonl):
    write("data.jsonl", jsonl([{"t": "a", "y": "pos"}, {"t": "b", "y": "neg"}, {"t": "c", "y": "meh"}]))
    spec_path = write("lab.json", json.dumps({"name": "lab", "lang": "en", "type": "single",
                                              "label_words": ["pos", "neg"], "columns": {"text": "t", "label": "y"},
                                              "files": {"train": "data.jsonl", "test": "data.jsonl"}}))
    load_user_task(spec_path)
    with pytest.raises(DataError, match=r"lab\.json: .*data\.jsonl:3: unknown label 'meh' for task 'lab'"):
        load_split("lab", "test", tmp_path)


def test_malformed_specs(tmp_path, write):
    with pytest.raises(DataError, match="task spec file .*missing.yaml' does not exist"):
        load_user_task(tmp_path / "missing.yaml")
    bad_key = write("k.json", json.dumps({"name": "k", "lang": "en", "type": "single", "columns": {},
                                          "files": {"train": "x.jsonl"}, "colums": {}}))
    with pytest.raises(ConfigError, match=r"k\.json: unknown keys \['colums'\]"):
        load_user_task(bad_key)
    bad_type = write("t.json", json.dumps({"name": "t", "lang": "en", "type": "regression", "columns": {},
                                           "files": {"train": "x.jsonl"}}))
    with pytest.raises(ConfigError, match=r"t\.json: 'regression' is not a valid TaskType"):
        load_user_task(bad_type)
    no_files = write("f.yaml", "name: f\nlang: en\ntype: single\ncolumns: {text: a}\n")
    with pytest.raises(ConfigError, match=r"f\.yaml: missing keys \['files \(or hf\)'\]"):
        load_user_task(no_files)
    broken = write("b.yaml", "name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"b\.yaml: malformed YAML"):
        load_user_task(broken)


def test_resolve_task_takes_a_name_or_a_spec_file(tmp_path, write, jsonl):
    write("train.jsonl", jsonl(_reviews(20)))
    spec_path = write("mine.yaml", "name: mine\nlang: en\ntype: single\nlabel_words: [bad, good]\n"
                                   "label_map: {'1': bad, '5': good}\ncolumns: {text: review, label: stars}\n"
                                   "files: {train: train.jsonl}\n")
    assert resolve_task("sst2").name == "sst2"
    assert resolve_task(spec_path).name == "mine" and resolve_task(str(spec_path)) is get_task("mine")
    assert is_spec_file("x/y.json") and is_spec_file("a.YAML") and not is_spec_file("sst2")
    with pytest.raises(DataError, match="task spec file .*nope.yaml' does not exist"):
        resolve_task(tmp_path / "nope.yaml")
