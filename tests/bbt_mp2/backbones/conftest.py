"""Shared fixtures of the backbone tests: the stock twin of the real MiniLM (``minilm`` is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from bbt_mp2.backbones.registry import minilm_path


@pytest.fixture(scope="session")
def minilm_stock():
    """transformers' own AutoModel on the same folder (default attention implementation), eval mode."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(minilm_path(), local_files_only=True).eval()


@pytest.fixture(scope="session")
def padded_batch(minilm):
    """Three English sentences of different lengths, padded (B x T ids and 0/1 mask)."""
    texts = [
        "a gripping, beautifully shot film that never loses its nerve.",
        "dull.",
        "The committee approved the budget on Tuesday after a long debate about schools and roads.",
    ]
    enc = minilm.tokenizer(texts, padding=True, return_tensors="pt")
    assert int(enc["attention_mask"].sum()) < enc["attention_mask"].numel()  # padding present
    return enc["input_ids"], enc["attention_mask"]

