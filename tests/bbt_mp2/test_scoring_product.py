"""``scoring=product``: the MP2 reference's option score (raw start logit x raw end logit) beside our sum."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bbt_mp2.backend import PromptParam
from bbt_mp2.encoding import encode
from bbt_mp2.errors import ConfigError
from bbt_mp2.evaluator import Evaluator
from bbt_mp2.heads import MRCHead, option_scores
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.methods import build_config
from bbt_mp2.methods.registry import get_method
from bbt_mp2.tasks.types import Example, TaskSpec, TaskType
from bbt_mp2.testing import build_tiny_backbone


def test_product_on_hand_made_logits_and_where_it_disagrees_with_sum():
    # option 0: start -3, end -4 -> sum -7, product 12; option 1: start 2, end 1 -> sum 3, product 2
    start = torch.tensor([[-3.0, 0.5, 2.0, 9.0]])
    end = torch.tensor([[0.0, -4.0, 7.0, 1.0]])
    spans = torch.tensor([[[0, 1], [2, 3]]])
    assert option_scores(start, end, spans).tolist() == [[-7.0, 3.0]]
    assert option_scores(start, end, spans, scoring="product").tolist() == [[12.0, 2.0]]
    assert MRCHead(2).option_scores(start, end, spans, scoring="product").tolist() == [[12.0, 2.0]]
    assert option_scores(start, end, spans).argmax(-1).item() == 1
    assert option_scores(start, end, spans, scoring="product").argmax(-1).item() == 0
    padded = option_scores(start, end, torch.tensor([[[0, 1], [-1, -1]]]), scoring="product")
    assert padded[0, 1] == float("-inf")
    with pytest.raises(ConfigError, match="scoring 'max' is unknown"):
        option_scores(start, end, spans, scoring="max")


def _scaled_head(seed: int) -> MRCHead:
    head = MRCHead(32, seed=seed)
    with torch.no_grad():  # large logits of both signs, so sum and product rank some options differently
        head.linear.weight.mul_(40.0)
        head.linear.bias.copy_(torch.tensor([-1.0, -1.5]))
    return head


@pytest.fixture(scope="module")
def mrc_setup():
    bb = build_tiny_backbone("bert", n_layers=2, hidden=32, seed=1)
    task = TaskSpec(name="toy-scoring", lang="en", type=TaskType.SINGLE, label_words=("bad", "great", "fine"))
    words = ["great fun movie", "terrible film", "a fine day", "the worst story", "very nice", "boring game",
             "i love this book", "poor service", "good food", "an awful phone", "nice music", "bad news"]
    examples = [Example(f"e{i}", {"text": w}, i % 3) for i, w in enumerate(words)]
    data = encode(task, examples, bb.tokenizer, n_tokens=4, placeholder_ids=bb.placeholder_ids(4), max_length=48)
    return bb, _scaled_head(5), data


def _direct(ev: Evaluator, head: MRCHead, data) -> dict[str, torch.Tensor]:
    """Option scores from the evaluator's own unprompted final states, combined by hand."""
    final = ev.hidden_states(data)[-1]  # N x T' x h, dataset order
    with torch.inference_mode():
        start, end = head(final, torch.as_tensor(data.attention_mask[:, :final.shape[1]]))
        spans = torch.as_tensor(data.option_spans)
        return {s: option_scores(start, end, spans, scoring=s) for s in ("sum", "product")}


def test_evaluator_scores_options_by_the_product_of_the_stock_start_and_end_logits(mrc_setup):
    bb, _, data = mrc_setup
    for seed in range(20):  # the first head (deterministic) under which sum and product rank some example apart
        head = _scaled_head(seed)
        ev = Evaluator(bb, head)
        direct = _direct(ev, head, data)
        disagree = direct["sum"].argmax(-1) != direct["product"].argmax(-1)
        if bool(disagree.any()):
            break
    assert bool(disagree.any()), "no head of 20 ranks any example differently under sum and product"
    prompt = torch.zeros(1, 1, 4, 32)
    for scoring in ("sum", "product"):
        got = ev.option_scores(data, prompt, (0,), scoring=scoring)[0]
        torch.testing.assert_close(got, direct[scoring], atol=1e-3, rtol=1e-4)
    pred = {s: ev.predict(data, prompt[0], (0,), scoring=s).predicted for s in ("sum", "product")}
    assert ((pred["sum"] != pred["product"]) == disagree.numpy()).all()


def test_prompt_param_carries_scoring_to_the_local_backend(mrc_setup):
    bb, head, data = mrc_setup
    backend = LocalBackend(bb, head)
    ds = backend.register_encoded(data)
    pop = np.random.default_rng(0).normal(size=(3, 1, 4, 32)).astype(np.float32)
    res = {s: backend.evaluate(ds, PromptParam(layers=(0,), n_tokens=4, projection=None, scoring=s), pop)
           for s in ("sum", "product")}
    ev = Evaluator(bb, head)
    for s in ("sum", "product"):
        scores = ev.option_scores(data, torch.as_tensor(pop), (0,), scoring=s)
        ce = torch.nn.functional.cross_entropy(scores.transpose(1, 2), torch.as_tensor(data.labels).expand(3, -1),
                                               reduction="none").mean(1)
        np.testing.assert_allclose(res[s].loss, ce.double().numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(res["sum"].loss, res["product"].loss)
    assert PromptParam.from_dict(PromptParam(scoring="product").to_dict()).scoring == "product"
    with pytest.raises(ConfigError, match="scoring"):
        PromptParam(scoring="max")


@pytest.mark.parametrize("method", ["bbt", "bbtv2", "mp2-shallow", "mp2-deep", "mp2-router"])
def test_every_method_takes_scoring_product(method):
    extra = {"checkpoint": "ck"} if method.startswith("mp2") else {}
    config = build_config(method, overrides={"scoring": "product", **extra})
    assert config.scoring == "product" and build_config(method, overrides=extra).scoring == "sum"
    assert json.loads(config.to_json())["scoring"] == "product"
    assert get_method(method).config_cls.parse_value("scoring", "product") == "product"  # --set scoring=product
    with pytest.raises(ConfigError, match="scoring"):
        build_config(method, overrides={"scoring": "max", **extra})
