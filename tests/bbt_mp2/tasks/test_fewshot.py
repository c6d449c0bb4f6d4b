import csv
import json
import random
from collections import Counter

import numpy as np
import pytest

from bbt_mp2.errors import ConfigError, DataError
from bbt_mp2.tasks import SEEDS, TaskType, fewshot, get_task, load_split, task_names, text_key

TASKS = task_names()


def _is_cls(spec):
    return spec.type in (TaskType.SINGLE, TaskType.PAIR, TaskType.NLI)


@pytest.mark.parametrize("name", TASKS)
def test_fewshot_sizes_balance_and_disjointness(name):
    spec = get_task(name)
    k = spec.k_shot
    pool_counts = Counter(e.label for e in load_split(name, "train"))
    for seed in SEEDS:
        fs = fewshot(name, seed)
        assert fs.k == k and fs.seed == seed
        assert fs.test == load_split(name, "test")
        if _is_cls(spec):
            train, dev = Counter(e.label for e in fs.train), Counter(e.label for e in fs.dev)
            for c in range(spec.n_classes):
                if fs.source.startswith("published") or pool_counts[c] >= 2 * k:
                    assert train[c] == k and dev[c] == k, (name, seed, c)
                else:  # documented exception (iFLYTEK): a class with < 2k pool examples gives what it has
                    assert train[c] == min(k, pool_counts[c]) and dev[c] == min(k, pool_counts[c] - train[c])
        else:
            assert len(fs.train) == k and len(fs.dev) == k
        keys = {s: {text_key(e) for e in getattr(fs, s)} for s in ("train", "dev", "test")}
        assert len(keys["train"]) == len(fs.train) and len(keys["dev"]) == len(fs.dev)
        assert not keys["train"] & keys["dev"] and not keys["train"] & keys["test"] and not keys["dev"] & keys["test"]
        assert not {e.uid for e in fs.train} & {e.uid for e in fs.dev}
        again = fewshot(name, seed)
        assert [e.uid for e in again.train] == [e.uid for e in fs.train]
        assert [e.uid for e in again.dev] == [e.uid for e in fs.dev]


def test_only_iflytek_is_unbalanced():
    unbalanced = []
    for name in TASKS:
        spec = get_task(name)
        if _is_cls(spec) and len(set(Counter(e.label for e in fewshot(name, 13).train).values())) > 1:
            unbalanced.append(name)
    assert unbalanced == ["iflytek"]


def _tsv_texts(path, col=0):
    with open(path, newline="", encoding="utf-8") as fh:
        return {row[col].strip() for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)}


def test_bbt_published_folders_follow_the_seed_mapping(root):
    # same seed where the folder exists (13, 42); 21, 87, 100 take the remaining folders 8, 50, 60 in order
    for seed, folder in {13: "13", 21: "8", 42: "42", 87: "50", 100: "60"}.items():
        fs = fewshot("sst2", seed)
        assert fs.source == f"published:fewshot/{folder}/train.tsv"
        assert {e.fields["text"] for e in fs.train} == _tsv_texts(root / f"en/sst2/fewshot/{folder}/train.tsv")
        assert {e.fields["text"] for e in fs.dev} == _tsv_texts(root / f"en/sst2/fewshot/{folder}/dev.tsv")


def test_fewclue_published_split_by_position_and_subsampled(root):
    fs = fewshot("tnews", 42)  # published 16 per class, k = 8: a seeded subsample of train_2 / dev_2
    assert fs.source == "published:train_2.json"
    file_texts = {json.loads(line)["sentence"].strip()
                  for line in (root / "zh/tnews/train_2.json").read_text(encoding="utf-8").splitlines()}
    assert {e.fields["text"] for e in fs.train} <= file_texts
    verbatim = fewshot("eprstmt", 13, source="published")  # FewCLUE file as published (not balanced)
    assert len(verbatim.train) == 32 and verbatim.source == "published:train_0.json"
    assert fewshot("eprstmt", 13).source == "pool"  # auto: the unbalanced file is not used


def test_amazon_published_rows_that_leak_into_test_are_dropped():
    test_texts = {e.fields["text"] for e in load_split("amazon", "test")}
    fs = fewshot("amazon", 87)
    assert fs.source == "published:fewshot/16-87/train.csv"
    assert not test_texts & {e.fields["text"] for e in fs.train + fs.dev}


def test_sources_and_k_override():
    fs = fewshot("sst2", 13, source="pool", k=4)
    pool = {e.uid for e in load_split("sst2", "train")}
    assert fs.source == "pool" and len(fs.train) == 8 and {e.uid for e in fs.train} <= pool
    small = fewshot("ag_news", 13, k=3)
    assert small.source.startswith("published") and len(small.train) == 12
    assert fewshot("ag_news", 13, k=20).source == "pool"  # more than published: drawn from the pool
    assert [e.uid for e in fewshot("dbpedia", 13).train] != [e.uid for e in fewshot("dbpedia", 21).train]
    with pytest.raises(ConfigError, match="no published few-shot split for seed 13"):
        fewshot("dbpedia", 13, source="published")
    with pytest.raises(ConfigError, match="few-shot source 'web'"):
        fewshot("sst2", 13, source="web")
    with pytest.raises(ConfigError, match="k=0; expected a positive integer"):
        fewshot("sst2", 13, k=0)
    with pytest.raises(DataError, match="published split cannot give k=40"):
        fewshot("sst2", 13, k=40, source="published")


def test_no_global_random_state_is_touched():
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    fewshot("mr", 100)
    fewshot("cmrc2018", 21)
    assert (np.random.get_state()[1] == np_state).all() and random.getstate() == py_state


def test_span_fewshot_passages_not_shared_between_train_and_dev():
    fs = fewshot("c3", 42)
    assert not {e.fields["context"] for e in fs.train} & {e.fields["context"] for e in fs.dev}
