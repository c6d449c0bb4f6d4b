import hashlib
import re

import pytest

from bbt_mp2.errors import ConfigError
from bbt_mp2.tasks import SPLITS, Example, TaskType, clear_cache, get_task, load_split, task_names, text_key

TASKS = task_names()


def _norm(text: str) -> str:  # independent of the code under test: lower-case, keep letters/digits/CJK only
    return re.sub(r"[\W_]+", "", text.casefold())


@pytest.mark.parametrize("name", TASKS)
def test_every_split_loads_well_formed(name):
    spec = get_task(name)
    for split in SPLITS:
        examples = load_split(name, split)
        assert examples, f"{name}/{split} is empty"
        assert len({e.uid for e in examples}) == len(examples)
        assert all(e.uid.startswith(f"{name}/") for e in examples)
        for ex in examples:
            if spec.type in (TaskType.SINGLE, TaskType.PAIR, TaskType.NLI):
                assert 0 <= ex.label < spec.n_classes
                roles = ("text",) if spec.type == TaskType.SINGLE else ("text_a", "text_b")
                assert all(ex.fields[r].strip() for r in roles)
            elif spec.type == TaskType.MULTIPLE_CHOICE:
                assert len(ex.options) >= 2 and 0 <= ex.label < len(ex.options)
                assert ex.fields["context"]
            else:
                context = ex.fields["context"]
                assert ex.answers is not None
                for span in ex.answers:  # empty tuple = no answer
                    assert span.text and context[span.start:span.start + len(span.text)] == span.text


@pytest.mark.parametrize("name", TASKS)
def test_splits_are_disjoint_by_uid_and_text(name):
    spec = get_task(name)
    parts = {s: load_split(name, s) for s in SPLITS}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not {e.uid for e in parts[a]} & {e.uid for e in parts[b]}
        assert not {text_key(e) for e in parts[a]} & {text_key(e) for e in parts[b]}, (name, a, b)
    group = spec.extra["splits"].get("group")
    if group:  # passages never shared between splits
        contexts = {s: {_norm(e.fields[group]) for e in parts[s]} for s in SPLITS}
        assert not contexts["train"] & contexts["dev"] and not contexts["train"] & contexts["test"]


@pytest.mark.parametrize("name", ["mr", "cr", "subj", "mpqa"])
def test_carve_rule_is_the_documented_hash(name):
    # bucket u = first 8 bytes of sha256("<task>\0text=<normalised text>") / 2**64: test < .2 <= dev < .3 <= train
    def bucket(ex):
        digest = hashlib.sha256(f"{name}\x00text={_norm(ex.fields['text'])}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    assert all(bucket(e) < 0.2 for e in load_split(name, "test"))
    assert all(0.2 <= bucket(e) < 0.3 for e in load_split(name, "dev"))
    assert all(bucket(e) >= 0.3 for e in load_split(name, "train"))


def test_sst2_test_sentences_never_reach_other_pretraining_splits():
    sst2_test = {_norm(e.fields["text"]) for e in load_split("sst2", "test")}
    for other in ("sst5", "mr", "subj"):
        for split in ("train", "dev"):
            assert not sst2_test & {_norm(e.fields["text"]) for e in load_split(other, split)}, (other, split)
    # sst5 uses only its train file for train/dev; the SST dev file is never read
    for split in SPLITS:
        assert not [e for e in load_split("sst5", split) if "stsa.fine.dev" in e.uid]
    assert all("stsa.fine.train" in e.uid for s in ("train", "dev") for e in load_split("sst5", s))


def test_mr_overlaps_sst2_so_the_exclusion_matters(root):
    raw = (root / "en/mr/rt-polarity.pos").read_text(encoding="utf-8").splitlines()
    raw += (root / "en/mr/rt-polarity.neg").read_text(encoding="utf-8").splitlines()
    sst2_test = {_norm(e.fields["text"]) for e in load_split("sst2", "test")}
    assert len(sst2_test & {_norm(t) for t in raw}) > 100  # MR and SST share Rotten Tomatoes snippets


def test_mpqa_deduplicated_and_conflicts_dropped(root):
    labels: dict[str, set[str]] = {}
    for fname in ("mpqa.pos", "mpqa.neg"):
        for line in (root / "en/mpqa" / fname).read_text().splitlines():
            if line.strip():
                labels.setdefault(_norm(line), set()).add(fname)
    conflicting = {k for k, v in labels.items() if len(v) > 1}
    assert conflicting  # the source has phrases in both files
    seen = [_norm(e.fields["text"]) for s in SPLITS for e in load_split("mpqa", s)]
    assert len(seen) == len(set(seen))
    assert not conflicting & set(seen)
    assert len(seen) == len(labels) - len(conflicting)


def test_pool_texts_in_the_test_file_are_removed():
    test = {text_key(e) for e in load_split("chnsenticorp", "test")}
    assert len(load_split("chnsenticorp", "train")) + len(load_split("chnsenticorp", "dev")) < 1200
    assert not test & {text_key(e) for e in load_split("chnsenticorp", "train")}


def test_unknown_split_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown split 'validation' for task 'sst2'; expected one of train"):
        load_split("sst2", "validation")


# one task per split mechanism: published unions, full carve, carve + exclusions, pool + test file, passage groups,
# FewCLUE files, class-name files; runs last in this file because it empties the caches
DETERMINISM_TASKS = ["sst2", "amazon", "mr", "mpqa", "sst5", "chnsenticorp", "cmrc2018", "c3", "cluewsc", "trec",
                     "thucnews", "dbpedia", "rte"]


def test_splits_are_deterministic():
    before = {(n, s): [e.uid for e in load_split(n, s)] for n in DETERMINISM_TASKS for s in SPLITS}
    clear_cache()  # recompute from the files
    after = {(n, s): [e.uid for e in load_split(n, s)] for n in DETERMINISM_TASKS for s in SPLITS}
    assert before == after


def test_caches_are_bounded_and_drop_the_least_recently_used(monkeypatch):
    from bbt_mp2.tasks import splits

    cache = splits._BoundedCache(2)
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1  # a read refreshes "a"
    cache["c"] = 3
    assert list(cache) == ["a", "c"] and cache.get("b") is None
    keys = splits._BoundedCache(3)
    monkeypatch.setattr(splits, "_KEY_CACHE", keys)
    examples = [Example(uid=f"x/{i}", fields={"text": f"Text {i}!"}, label=0) for i in range(10)]
    assert [splits.text_key(e) for e in examples] == [f"text=text{i}" for i in range(10)]
    assert len(keys) == 3  # a long-lived process keeps at most the bound, not every example it ever keyed
    for cache in (splits._CACHE, splits._FILE_CACHE, splits._CARVE_CACHE, splits._KEYSET_CACHE):
        assert isinstance(cache, splits._BoundedCache) and cache.maxsize <= 3 * splits.CACHE_TASKS
