"""The ``cat`` prompt mode in the evaluator's fast paths (shared prefix, activation cache), on the MRC format too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bbt_mp2.encoding import encode
from bbt_mp2.errors import ConfigError
from bbt_mp2.evaluator import Evaluator
from bbt_mp2.evaluator.plan import cat_position_ids
from bbt_mp2.heads import MRCHead
from bbt_mp2.tasks.types import Example, TaskSpec, TaskType
from bbt_mp2.testing import build_tiny_backbone

N = 4


@pytest.fixture(scope="module")
def mrc_case():
    bb = build_tiny_backbone("bert", n_layers=3, hidden=32, seed=2)
    task = TaskSpec(name="toy-mode", lang="en", type=TaskType.SINGLE, label_words=("bad", "great"))
    texts = ["great fun movie", "terrible film", "a nice day with friends", "the worst story", "good", "boring"]
    examples = [Example(f"e{i}", {"text": t}, i % 2) for i, t in enumerate(texts)]
    data = encode(task, examples, bb.tokenizer, n_tokens=N, placeholder_ids=bb.placeholder_ids(N), max_length=64)
    return bb, MRCHead(32, seed=3), data


def _dc_population(seed: int) -> torch.Tensor:
    """4 candidates x 3 layers that share the prompts of layers 0 and 1 (a divide-and-conquer generation)."""
    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(1, 2, N, 32, generator=g).expand(4, -1, -1, -1)
    return torch.cat([shared, torch.randn(4, 1, N, 32, generator=g)], dim=1)


def test_cat_positions_skip_the_prompt_slots():
    stock = torch.arange(9).expand(2, 9) + 2  # RoBERTa-like stock positions
    assert cat_position_ids(stock, 3)[0].tolist() == [2, 3, 4, 5, 3, 4, 5, 6, 7]


def test_cat_shared_prefix_and_cache_equal_the_plain_path(mrc_case):
    bb, head, data = mrc_case
    fast = Evaluator(bb, head, shared_prefix=True, cache_size=8, token_budget=64)
    plain = Evaluator(bb, head, shared_prefix=False, cache_size=0)
    pop = _dc_population(0)
    layers = (0, 1, 2)
    ref = plain.evaluate(data, pop, layers, prompt_mode="cat")
    got = fast.evaluate(data, pop, layers, prompt_mode="cat")
    np.testing.assert_allclose(got.loss, ref.loss, atol=1e-5, rtol=0)
    again = fast.evaluate(data, pop, layers, prompt_mode="cat")  # resumes from the cached states entering layer 2
    assert fast.cache.hits > 0
    np.testing.assert_allclose(again.loss, ref.loss, atol=1e-5, rtol=0)
    add = fast.evaluate(data, pop, layers, prompt_mode="add")  # same prompts, other mode: no stale cache entry
    np.testing.assert_allclose(add.loss, plain.evaluate(data, pop, layers).loss, atol=1e-5, rtol=0)
    assert not np.allclose(add.loss, ref.loss, atol=1e-4)


def test_cat_without_a_layer_0_prompt_starts_from_zero_slots(mrc_case):
    bb, head, data = mrc_case
    ev = Evaluator(bb, head)
    pop = _dc_population(1)
    zero0 = pop.clone()
    zero0[:, 0] = 0.0
    np.testing.assert_allclose(ev.evaluate(data, pop[:, 1:], (1, 2), prompt_mode="cat").loss,
                               ev.evaluate(data, zero0, (0, 1, 2), prompt_mode="cat").loss, atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match="prompt_mode 'prefix' is unknown"):
        ev.evaluate(data, pop, (0, 1, 2), prompt_mode="prefix")
