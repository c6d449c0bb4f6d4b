"""The 22 built-in Chinese tasks (files under ``<data>/zh/<task>/``; see the data README).

Label words and query templates follow MP2's reference code (Hzfinfdu/MPMP, deep variant): sentiment 负面/正面,
matching 矛盾/相似, NLI 矛盾/中立/相似, coreference and keyword matching 不同/相同, ratings 非常差…非常好, TNews
MP2's 15 topic words. THUCNews here is a different 10-class subset than MP2's, so its words are that subset's
classes in Chinese. iFLYTEK and CSLDCP use their own category names (a few renamed, see ``labels_zh.py``).

Split roles:

* FewCLUE (eprstmt bustm ocnli tnews iflytek csldcp csl chid cluewsc): train = ``train_few_all.json``,
  dev = ``dev_few_all.json``, test = ``test_public.json``; published few-shot = ``train_<i>``/``dev_<i>``, protocol
  seed -> i by position in SEEDS (13->0, 21->1, 42->2, 87->3, 100->4).
* Tasks with a pool file (chnsenticorp lcqmc bq_corpus afqmc cmnli thucnews cmrc2018 drcd c3 ccpm cote_bd
  cote_mfw): train/dev carved from the pool (dev 10 %; span and C3 tasks by passage), test = the supplied
  evaluation file. Pool texts that also occur in the test file are removed (e.g. 39 ChnSentiCorp lines).
* amazon: train / dev = the union of UniPrompt's ``16-<seed>`` train / dev files (no other training data);
  published few-shot = ``fewshot/16-<seed>`` (same seed); test = ``test.sub2000_seed42.csv``. Few-shot rows whose
  review also occurs in the test file are dropped before drawing.
"""

from __future__ import annotations

from bbt_mp2.tasks.builtin import FEWCLUE_SEEDS, define
from bbt_mp2.tasks.labels_zh import (
    CSLDCP_NAMES,
    CSLDCP_RENAMES,
    IFLYTEK_NAMES,
    IFLYTEK_RENAMES,
    TNEWS_WORDS,
    words_and_map,
)
from bbt_mp2.tasks.readers import read_table
from bbt_mp2.tasks.readers_zh import read_c3, read_class_indexed, read_cluewsc, read_squad
from bbt_mp2.tasks.types import TaskType

__all__: list[str] = []

_SENT = ("负面", "正面")
_MATCH = ("矛盾", "相似")
_NLI = ("矛盾", "中立", "相似")
_SAME = ("不同", "相同")
_FEWCLUE_SPLITS = {"train": ["train_few_all.json"], "dev": ["dev_few_all.json"], "test": ["test_public.json"]}
_FEWCLUE_PUBLISHED = {"train": "train_{key}.json", "dev": "dev_{key}.json", "seeds": FEWCLUE_SEEDS}


def _fewclue(name, task_type, words, template, description, columns, label, label_map, reader=read_table, **kw):
    define(name, "zh", task_type, words, template, reader, f"{description} (FewCLUE)", splits=_FEWCLUE_SPLITS,
           published=_FEWCLUE_PUBLISHED, label_map=label_map,
           formats=[{"kind": "jsonl", "columns": columns, "label": label}], **kw)


_fewclue("eprstmt", TaskType.SINGLE, _SENT, "sentiment", "e-commerce review sentiment", {"text": "sentence"},
         "label", {"Negative": "负面", "Positive": "正面"})
_fewclue("bustm", TaskType.PAIR, _MATCH, "meaning", "dialogue short-text matching",
         {"text_a": "sentence1", "text_b": "sentence2"}, "label", {"0": "矛盾", "1": "相似"})
_fewclue("ocnli", TaskType.NLI, _NLI, "relation", "natural language inference",
         {"text_a": "sentence1", "text_b": "sentence2"}, "label",
         {"contradiction": "矛盾", "neutral": "中立", "entailment": "相似"})
_fewclue("tnews", TaskType.SINGLE, tuple(TNEWS_WORDS.values()), "topic", "news title topic",
         {"text": "sentence", "keywords": "keywords"}, "label_desc", TNEWS_WORDS)
_IFLYTEK_WORDS, _IFLYTEK_MAP = words_and_map(IFLYTEK_NAMES, IFLYTEK_RENAMES)
_fewclue("iflytek", TaskType.SINGLE, _IFLYTEK_WORDS, "topic", "app description category (119 classes)",
         {"text": "sentence"}, "label_des", _IFLYTEK_MAP)
_CSLDCP_WORDS, _CSLDCP_MAP = words_and_map(CSLDCP_NAMES, CSLDCP_RENAMES)
_fewclue("csldcp", TaskType.SINGLE, _CSLDCP_WORDS, "topic", "paper abstract discipline (67 classes)",
         {"text": "content"}, "label", _CSLDCP_MAP)
_fewclue("csl", TaskType.PAIR, _SAME, "keyword-match", "abstract vs. keywords: are all keywords genuine",
         {"text_a": "abst", "text_b": "keyword"}, "label", {"0": "不同", "1": "相同"})
_fewclue("cluewsc", TaskType.PAIR, _SAME, "coreference", "pronoun coreference (WSC)", {}, "label",
         {"false": "不同", "true": "相同"}, reader=read_cluewsc)
define("chid", "zh", TaskType.MULTIPLE_CHOICE, (), "idiom-cloze", read_table, "idiom cloze, 7 candidates (FewCLUE)",
       splits=_FEWCLUE_SPLITS, published=_FEWCLUE_PUBLISHED,
       formats=[{"kind": "jsonl", "columns": {"context": "content", "options": "candidates"}, "label": "answer"}])


def _pooled(name, task_type, words, template, description, pool, test, fmt, label_map=None, reader=read_table,
            **kw):
    extra = {"label_map": label_map} if label_map else {}
    define(name, "zh", task_type, words, template, reader, description, splits={"pool": pool, "test": test, **kw},
           formats=[fmt] if fmt else [], **extra)


_TSV = {"kind": "tsv", "quoting": False}
_pooled("chnsenticorp", TaskType.SINGLE, _SENT, "sentiment", "ChnSentiCorp review sentiment", ["dev.tsv"],
        ["test.tsv"], dict(_TSV, columns={"text": "text_a"}, label="label"), {"0": "负面", "1": "正面"})
_pooled("lcqmc", TaskType.PAIR, _MATCH, "relation", "LCQMC question matching", ["lcqmc_dev.tsv"],
        ["lcqmc_test.sub2000_seed42.tsv"], dict(_TSV, columns={"text_a": "text_a", "text_b": "text_b"},
                                                label="label"), {"0": "矛盾", "1": "相似"})
_pooled("bq_corpus", TaskType.PAIR, _MATCH, "meaning", "BQ bank question matching", ["dev.csv"],
        ["test.sub2000_seed42.csv"], {"kind": "csv", "columns": {"text_a": "sentence1", "text_b": "sentence2"},
                                      "label": "label"}, {"0": "矛盾", "1": "相似"})
_pooled("afqmc", TaskType.PAIR, _MATCH, "meaning", "AFQMC financial question matching (CLUE dev, carved)",
        ["dev.rest_seed42.json"], ["dev.sub2000_seed42.json"],
        {"kind": "jsonl", "columns": {"text_a": "sentence1", "text_b": "sentence2"}, "label": "label"},
        {"0": "矛盾", "1": "相似"})
_pooled("cmnli", TaskType.NLI, _NLI, "relation", "CMNLI natural language inference (CURC halves of CLUE dev)",
        ["dev.json"], ["test.sub2000_seed42.json"],
        {"kind": "json", "columns": {"text_a": "text_a", "text_b": "text_b"}, "label": "label"},
        {"矛盾": "矛盾", "中立": "中立", "蕴含": "相似"})
_THUC = {"finance": "财经", "realty": "房产", "stocks": "股票", "education": "教育", "science": "科技",
         "society": "社会", "politics": "时政", "sports": "体育", "game": "游戏", "entertainment": "娱乐"}
define("thucnews", "zh", TaskType.SINGLE, tuple(_THUC.values()), "topic", read_class_indexed,
       "THUCNews title topic (10-class subset; not MP2's label set)",
       splits={"pool": ["dev.txt"], "test": ["test.sub2000_seed42.txt"]}, label_names=_THUC,
       formats=[dict(_TSV, header=False, columns={"text": 0}, label=1, class_file="class.txt")])
define("amazon", "zh", TaskType.SINGLE, ("非常差", "较差", "一般", "较好", "非常好"), "rating", read_table,
       "Amazon (MARC zh) review star rating",
       splits={"train": [f"fewshot/16-{s}/train.csv" for s in (13, 21, 42, 87, 100)],
               "dev": [f"fewshot/16-{s}/dev.csv" for s in (13, 21, 42, 87, 100)], "test": ["test.sub2000_seed42.csv"]},
       published={"train": "fewshot/16-{key}/train.csv", "dev": "fewshot/16-{key}/dev.csv",
                  "seeds": {str(s): str(s) for s in (13, 21, 42, 87, 100)}},
       label_map={"1": "非常差", "2": "较差", "3": "一般", "4": "较好", "5": "非常好"},
       formats=[{"kind": "csv", "header": False, "columns": {"text": 1}, "label": 2}])

_pooled("cmrc2018", TaskType.SPAN, (), "extractive", "CMRC 2018 extractive reading comprehension",
        ["cmrc2018_trial.json"], ["cmrc2018_dev.sub2000_seed42.json"], None, reader=read_squad, group="context")
_pooled("drcd", TaskType.SPAN, (), "extractive", "DRCD extractive reading comprehension (traditional Chinese)",
        ["DRCD_dev.json"], ["DRCD_test.sub2000_seed42.json"], None, reader=read_squad, group="context")
_pooled("c3", TaskType.MULTIPLE_CHOICE, (), "reading-choice", "C3 multiple-choice reading comprehension",
        ["c3-d-dev.json", "c3-m-dev.json"], ["c3-d-test.sub1000_seed42.json", "c3-m-test.sub1000_seed42.json"],
        None, reader=read_c3, group="context")
_pooled("ccpm", TaskType.MULTIPLE_CHOICE, (), "poetry", "CCPM classical poetry matching (4 options)",
        ["train.jsonl"], ["valid.sub2000_seed42.jsonl"],
        {"kind": "jsonl", "columns": {"context": "translation", "options": "choices"}, "label": "answer"})
_COTE = {"kind": "jsonl", "columns": {"context": "s", "answer": "ot"}}
_pooled("cote_bd", TaskType.KEYWORD, (), "keyword-extraction", "COTE-BD opinion target extraction (Baidu)",
        ["train.txt"], ["test.sub2000_seed42.txt"], _COTE, group="context")
_pooled("cote_mfw", TaskType.KEYWORD, (), "keyword-extraction", "COTE-MFW opinion target extraction (Mafengwo)",
        ["test.rest_seed42.txt"], ["test.sub2000_seed42.txt"], _COTE, group="context")
