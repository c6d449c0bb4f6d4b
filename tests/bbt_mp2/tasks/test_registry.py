import csv
import json

import pytest

from bbt_mp2 import mrc
from bbt_mp2.errors import ConfigError, UnknownNameError
from bbt_mp2.tasks import Metric, TaskSpec, TaskType, get_task, load_split, read_table, register_task, task_names

ZH = ["eprstmt", "bustm", "ocnli", "tnews", "iflytek", "csldcp", "csl", "chid", "cluewsc", "chnsenticorp", "lcqmc",
      "bq_corpus", "afqmc", "cmnli", "thucnews", "cmrc2018", "drcd", "c3", "ccpm", "cote_bd", "cote_mfw", "amazon"]
EN = ["sst2", "yelp_polarity", "ag_news", "dbpedia", "mrpc", "rte", "snli", "mr", "cr", "subj", "mpqa", "trec", "sst5"]
ALL = ZH + EN


def _builtin(names):  # other tests register user tasks (absolute temp folders) and label subsets of built-ins
    return sorted(n for n in names
                  if not get_task(n).extra["dir"].startswith("/") and "label_subset" not in get_task(n).extra)


def test_every_readme_task_is_registered():
    assert _builtin(task_names()) == sorted(ALL)
    assert _builtin(task_names("zh")) == sorted(ZH) and _builtin(task_names("en")) == sorted(EN)


@pytest.mark.parametrize("name", ALL)
def test_spec_is_consistent(name):
    spec = get_task(name)
    assert spec.name == name and spec.lang in ("en", "zh") and spec.description
    words = spec.label_words
    if spec.type in (TaskType.SINGLE, TaskType.PAIR, TaskType.NLI):
        assert len(words) >= 2 and len(set(words)) == len(words)
        assert not [(a, b) for a in words for b in words if a != b and a in b]
        expected_k = {2: 16, 3: 11, 4: 8, 5: 7}.get(len(words), 8)
    else:
        assert words == ()
        expected_k = 32
    assert spec.k_shot == expected_k
    want_metric = {"mrpc": Metric.F1}.get(name, Metric.SPAN_F1 if spec.type in (TaskType.SPAN, TaskType.KEYWORD)
                                          else Metric.ACC)
    assert spec.metric == want_metric
    json.dumps(spec.extra)  # JSON-serialisable, as the TaskSpec contract says
    # the MRC side knows the template, and it fits the task type (no error raised)
    assert mrc.template_for(spec).name == spec.template


def test_lookup_errors_list_known_names():
    assert get_task("SST2").name == "sst2"
    with pytest.raises(UnknownNameError, match=r"unknown task 'nope'; known tasks: .*afqmc.*yelp_polarity"):
        get_task("nope")


def test_register_rejects_duplicates_and_ambiguous_words():
    spec = get_task("sst2")
    with pytest.raises(ConfigError, match="already registered"):
        register_task(spec, read_table)
    bad = TaskSpec("tmp-bad", "en", TaskType.SINGLE, ("good", "very good"), extra={"splits": {"pool": []}})
    with pytest.raises(ConfigError, match="'good' occurs inside 'very good'"):
        register_task(bad, read_table)
    with pytest.raises(ConfigError, match="lang='fr'"):
        register_task(TaskSpec("tmp-fr", "fr", TaskType.SINGLE, ("a", "b"), extra={"splits": {"pool": []}}),
                      read_table)


def test_dbpedia_labels_follow_class_names_not_numbers(root):
    names = {}
    for line in (root / "en/dbpedia/meta.txt").read_text().splitlines():
        if ":" in line and line.split(":")[0].strip().isdigit():
            names[line.split(":")[0].strip()] = line.split(":", 1)[1].strip()
    words = {"Artist": "artist", "Company": "company", "OfficeHolder": "politician", "Plant": "plant",
             "Building": "building", "Village": "village", "EducationalInstitution": "school", "Animal": "animal",
             "Album": "album", "WrittenWork": "book", "NaturalPlace": "nature", "MeanOfTransportation":
             "transportation", "Athlete": "athlete", "Film": "film"}
    spec = get_task("dbpedia")
    # label ids follow the original DBpedia-14 order (Company first), not the file's numbering (Artist first)
    assert spec.label_words[:3] == ("company", "school", "artist")
    with open(root / "en/dbpedia/test.sub2000_seed42.csv", newline="") as fh:
        rows = list(csv.reader(fh))[:50]
    for ex, (num, text) in zip(load_split("dbpedia", "test"), rows):
        assert ex.fields["text"] == text.strip()
        assert spec.label_words[ex.label] == words[names[num]]


def test_chinese_labels_map_by_name(root):
    tnews = get_task("tnews")
    row = json.loads((root / "zh/tnews/test_public.json").read_text().splitlines()[0])
    ex = load_split("tnews", "test")[0]
    expected = {"news_car": "汽车", "news_world": "世界", "news_finance": "金融", "news_game": "游戏"}
    if row["label_desc"] in expected:
        assert tnews.label_words[ex.label] == expected[row["label_desc"]]
    names = {r["label_desc"] for r in map(json.loads, (root / "zh/tnews/test_public.json").read_text().splitlines())}
    assert len(names) == len(tnews.label_words) == 15
    amazon = get_task("amazon")
    stars = [line.rsplit(",", 1)[1].strip() for line in
             (root / "zh/amazon/test.sub2000_seed42.csv").read_text(encoding="utf-8").splitlines()[:20]]
    words = {"1": "非常差", "2": "较差", "3": "一般", "4": "较好", "5": "非常好"}
    assert [amazon.label_words[e.label] for e in load_split("amazon", "test")[:20]] == [words[s] for s in stars]
