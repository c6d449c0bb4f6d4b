"""The 13 built-in English tasks (files under ``<data>/en/<task>/``; see the data README).

Split roles, per task (train = pre-training set and few-shot pool; dev = held-out upstream dev; test = evaluation):

* sst2, yelp_polarity: train / dev = the union of the BBT authors' published few-shot train / dev files
  (no full training set is available); test = GLUE SST-2 dev (872) / TextFooler's Yelp test sample (1,000).
* ag_news: train/dev carved from ``test.rest_seed42.csv``; test = ``test.sub2000_seed42.csv``.
* dbpedia: train/dev carved from ``val.csv``; test = ``test.sub2000_seed42.csv``. No published few-shot split.
* mrpc: train = GLUE train, dev = the original MSRP test (1,725; disjoint from GLUE train/dev), test = GLUE dev
  (408, BBT's MRPC test set). Metric: binary F1, positive = paraphrase (index 1).
* rte: train/dev carved from SuperGLUE train; test = SuperGLUE val (277, BBT's RTE test set). The single FewGLUE
  32-example file is not used (not class-balanced: 13/19); few-shot sets are drawn from the pool.
* snli: train/dev carved from validation (9,842); test = ``test.sub2000_seed42.tsv``.
* mr, cr, subj, mpqa: no official split; train/dev/test all carved (test 20 %, dev 10 %) after de-duplication
  (mpqa: duplicates removed, phrases with both labels dropped).
* trec: train/dev carved from the official train (5,452); test = the official test (500).
* sst5: train/dev carved from the official SST train ONLY; test = the official SST test. ``stsa.fine.dev`` (the SST
  dev set = SST-2's test set) is never used, and every sentence of SST-2's test set is removed from sst5's train
  and dev, so pre-training on sst5 cannot leak SST-2's evaluation sentences when sst2 is the unseen task.
* mr and subj come from the same Rotten Tomatoes snippets as SST: SST-2's test sentences are removed from their
  train and dev splits too (matched on normalised text, which ignores tokenisation differences).

Published few-shot folders ``fewshot/{8,13,42,50,60}`` map from the protocol seeds via ``BBT_SEEDS``.
"""

from __future__ import annotations

from bbt_mp2.tasks.builtin import BBT_SEEDS, define
from bbt_mp2.tasks.readers import by_pattern, read_table
from bbt_mp2.tasks.readers_en import read_ag_news_csv, read_dbpedia
from bbt_mp2.tasks.types import Metric, TaskType

__all__: list[str] = []

_DIRS = ("8", "13", "42", "50", "60")
_SENT = ("negative", "positive")
_YN = ("no", "yes")


def _published(train: str = "train.tsv", dev: str = "dev.tsv") -> dict:
    return {"train": f"fewshot/{{key}}/{train}", "dev": f"fewshot/{{key}}/{dev}", "seeds": BBT_SEEDS}


def _fewshot_files(name: str) -> list[str]:
    return [f"fewshot/{d}/{name}" for d in _DIRS]


_FS_SINGLE = {"match": "fewshot/*", "kind": "tsv", "header": False, "quoting": False, "columns": {"text": 0},
              "label": 1}
_FS_PAIR = {"match": "fewshot/*", "kind": "tsv", "header": False, "quoting": False,
            "columns": {"text_a": 0, "text_b": 1}, "label": 2}

define("sst2", "en", TaskType.SINGLE, _SENT, "sentiment", read_table, "SST-2 movie review sentiment (GLUE)",
       splits={"train": _fewshot_files("train.tsv"), "dev": _fewshot_files("dev.tsv"), "test": ["dev.tsv"]},
       published=_published(),
       formats=[_FS_SINGLE, {"match": "dev.tsv", "kind": "tsv", "quoting": False, "columns": {"text": "sentence"},
                             "label": "label", "label_map": {"0": "negative", "1": "positive"}}])

define("yelp_polarity", "en", TaskType.SINGLE, _SENT, "sentiment", read_table, "Yelp review polarity",
       splits={"train": _fewshot_files("train.tsv"), "dev": _fewshot_files("dev.tsv"), "test": ["yelp.txt"]},
       published=_published(),
       formats=[dict(_FS_SINGLE, unescape_newlines=True),
                {"match": "yelp.txt", "kind": "prefixed", "columns": {"text": "text"}, "label": "label",
                 "label_map": {"0": "negative", "1": "positive"}, "unescape_newlines": True, "unquote": True}])

define("ag_news", "en", TaskType.SINGLE, ("world", "sports", "business", "technology"), "topic",
       by_pattern({"*.csv": read_ag_news_csv}), "AG News topic",
       splits={"pool": ["test.rest_seed42.csv"], "test": ["test.sub2000_seed42.csv"]}, published=_published(),
       formats=[_FS_SINGLE],
       label_names={"World": "world", "Sports": "sports", "Business": "business", "Science/Tech": "technology"})

_DBPEDIA = {  # DBpedia-14 class name -> label word; label index order = the original DBpedia-14 / HF order
    "Company": "company", "EducationalInstitution": "school", "Artist": "artist", "Athlete": "athlete",
    "OfficeHolder": "politician", "MeanOfTransportation": "transportation", "Building": "building",
    "NaturalPlace": "nature", "Village": "village", "Animal": "animal", "Plant": "plant", "Album": "album",
    "Film": "film", "WrittenWork": "book",
}
define("dbpedia", "en", TaskType.SINGLE, tuple(_DBPEDIA.values()), "classify", read_dbpedia,
       "DBpedia-14 ontology class (DHIM subset)",
       splits={"pool": ["val.csv"], "test": ["test.sub2000_seed42.csv"]}, label_names=_DBPEDIA)

_MRPC = {"kind": "tsv", "quoting": False, "columns": {"text_a": "#1 String", "text_b": "#2 String"},
         "label": "Quality", "label_map": {"0": "no", "1": "yes"}}
define("mrpc", "en", TaskType.PAIR, _YN, "meaning", read_table, "MRPC paraphrase", metric=Metric.F1,
       splits={"train": ["train.tsv"], "dev": ["msr_paraphrase_test.txt"], "test": ["dev.tsv"]},
       published=_published(),
       formats=[dict(_FS_PAIR, label_map={"NotEquivalent": "no", "Equivalent": "yes"}), _MRPC])

define("rte", "en", TaskType.NLI, ("entailment", "contradiction"), "relation", read_table,
       "RTE textual entailment (SuperGLUE); not_entailment -> 'contradiction' as MP2's 2-way matching tasks",
       splits={"pool": ["train.jsonl"], "test": ["val.jsonl"]}, unused_files=["fewglue/train.jsonl"],
       formats=[{"kind": "jsonl", "columns": {"text_a": "premise", "text_b": "hypothesis"}, "label": "label",
                 "label_map": {"entailment": "entailment", "not_entailment": "contradiction"}}])

define("snli", "en", TaskType.NLI, ("entailment", "neutral", "contradiction"), "relation", read_table,
       "SNLI natural language inference",
       splits={"pool": ["validation.tsv"], "test": ["test.sub2000_seed42.tsv"]}, published=_published(),
       formats=[dict(_FS_PAIR, label_map={"Entailment": "entailment", "Neutral": "neutral",
                                          "Contradiction": "contradiction"}),
                {"kind": "tsv", "columns": {"text_a": "premise", "text_b": "hypothesis"},  # CSV-style quoting
                 "label": "label", "label_map": {"0": "entailment", "1": "neutral", "2": "contradiction"}}])


def _two_files(name: str, words: tuple[str, str], template: str, files: tuple[str, str], description: str,
               **extra) -> None:
    formats = [{"match": f, "kind": "lines", "label_value": w} for f, w in zip(files, words)]
    define(name, "en", TaskType.SINGLE, words, template, read_table, description,
           splits={"pool": list(files), "test_frac": 0.2, "dev_frac": 0.1}, formats=formats, **extra)


_two_files("mr", _SENT, "sentiment", ("rt-polarity.neg", "rt-polarity.pos"), "MR movie review snippet sentiment",
           exclude=["sst2:test"])
_two_files("cr", _SENT, "sentiment", ("custrev.neg", "custrev.pos"), "CR product review sentiment")
_two_files("subj", ("objective", "subjective"), "subjectivity", ("subj.objective", "subj.subjective"),
           "SUBJ subjectivity (objective plot summaries vs. subjective review snippets)",
           exclude=["sst2:test"])
_two_files("mpqa", _SENT, "sentiment", ("mpqa.neg", "mpqa.pos"), "MPQA opinion phrase polarity")

_TREC = {"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity", "HUM": "human", "LOC": "location",
         "NUM": "number"}
define("trec", "en", TaskType.SINGLE, tuple(_TREC.values()), "question-type", read_table,
       "TREC question type (6 coarse classes)",
       splits={"pool": ["TREC.train"], "test": ["TREC.test"]},
       formats=[{"kind": "prefixed", "columns": {"text": "text"}, "label": "label", "label_before": ":",
                 "label_map": _TREC}])

define("sst5", "en", TaskType.SINGLE, ("terrible", "bad", "okay", "good", "great"), "sentiment", read_table,
       "SST-5 fine-grained movie review sentiment",
       splits={"pool": ["stsa.fine.train"], "test": ["stsa.fine.test"]}, unused_files=["stsa.fine.dev"],
       exclude=["sst2:test"],
       formats=[{"kind": "prefixed", "columns": {"text": "text"}, "label": "label",
                 "label_map": {"0": "terrible", "1": "bad", "2": "okay", "3": "good", "4": "great"}}])
