"""Tests for bbt_mp2/tasks/subsets.py: seeded label subsets registered as tasks of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbt_mp2.errors import ConfigError
from bbt_mp2.tasks import fewshot, get_task, load_split, load_user_task
from bbt_mp2.tasks.subsets import label_subset, subset_name, subset_task

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")


@pytest.fixture
def six_labels(tmp_path: Path) -> str:
    for split, n in (("train", 120), ("test", 60)):
        rows = [{"text": f"{split} text {i}", "label": WORDS[i % 6]} for i in range(n)]
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"name": "sixway", "lang": "en", "type": "single", "label_words": list(WORDS), "k_shot": 3,
            "columns": {"text": "text", "label": "label"}, "files": {"train": "train.jsonl", "test": "test.jsonl"}}
    (tmp_path / "sixway.json").write_text(json.dumps(spec))
    return load_user_task(tmp_path / "sixway.json").name


def test_subset_is_seeded_sorted_and_recorded(six_labels):
    a = label_subset(six_labels, 3, seed=13)
    assert a == label_subset(six_labels, 3, seed=13) and list(a) == sorted(set(a)) and len(a) == 3
    assert len({label_subset(six_labels, 3, seed=s) for s in range(10)}) > 1  # the seed matters
    spec = subset_task(six_labels, 3, seed=13)
    assert spec.name == subset_name(six_labels, 3, 13) == "sixway.labels3.s13"
    assert spec.label_words == tuple(WORDS[i] for i in a)
    assert spec.extra["label_subset"] == {"task": "sixway", "n_labels": 3, "seed": 13, "labels": list(a),
                                          "words": list(spec.label_words)}
    assert get_task(spec.name) is spec and subset_task(six_labels, 3, seed=13) is spec


def test_subset_keeps_only_its_labels_renumbered(six_labels):
    spec = subset_task(six_labels, 2, seed=5)
    keep = label_subset(six_labels, 2, seed=5)
    test = load_split(spec.name, "test")
    assert len(test) == 2 * 10 and {ex.label for ex in test} == {0, 1}
    for ex in test:  # the text says which original label it had (i % 6)
        assert WORDS[int(ex.fields["text"].split()[-1]) % 6] == spec.label_words[ex.label] == WORDS[keep[ex.label]]
    split = fewshot(spec.name, 13)
    assert len(split.train) == len(split.dev) == 2 * 3 and {ex.label for ex in split.train} == {0, 1}


@pytest.mark.parametrize("n, match", [(1, r"\[2, 6\]"), (7, r"\[2, 6\]"), (True, "integer")])
def test_bad_subset_sizes_are_refused(six_labels, n, match):
    with pytest.raises(ConfigError, match=match):
        label_subset(six_labels, n, seed=1)


def test_subsets_of_span_tasks_are_refused():
    with pytest.raises(ConfigError, match="classification"):
        label_subset("cmrc2018", 2, seed=1)
