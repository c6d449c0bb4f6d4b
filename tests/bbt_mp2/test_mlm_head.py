"""``head=mlm``: classic BBT/BBTv2 scoring by the backbone's own MLM head at the mask position, end to end.

A tiny ``BertForMaskedLM`` is built here, saved to a folder and loaded through the project's backbone path
(``load_backbone(folder)``), so the MLM head comes from the same published-style weights as the backbone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import torch
from transformers import AutoModelForMaskedLM, BertConfig, BertForMaskedLM, RobertaConfig, RobertaForMaskedLM

from bbt_mp2.backbones import load_backbone
from bbt_mp2.backend import PromptParam
from bbt_mp2.cloze import ClozeDataset
from bbt_mp2.errors import ConfigError
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.methods import build_config, tune
from bbt_mp2.tasks.types import Example, Metric, TaskSpec, TaskType
from bbt_mp2.templates import cloze_template_for, verbalizer_words
from bbt_mp2.testing import build_tiny_tokenizer
from bbt_mp2.tuned import load_tuned

N_TOKENS = 5
TASK = TaskSpec(name="toy-cloze", lang="en", type=TaskType.SINGLE, label_words=("bad", "great"), metric=Metric.ACC,
                template="sentiment", k_shot=4)
_POS = ["great fun movie", "i love this film", "the best story", "very nice and good", "awesome music",
        "a great game", "good food", "nice place"]
_NEG = ["terrible movie", "i hate this film", "the worst story", "very poor and bad", "awful music",
        "a boring game", "bad food", "poor service"]


@dataclass
class Split:
    train: list[Example] = field(default_factory=list)
    dev: list[Example] = field(default_factory=list)
    test: list[Example] = field(default_factory=list)


def _examples(part: str, idx: range) -> list[Example]:
    out = []
    for i in idx:
        out.append(Example(f"{part}/{i}p", {"text": _POS[i]}, 1))
        out.append(Example(f"{part}/{i}n", {"text": _NEG[i]}, 0))
    return out


SPLIT = Split(_examples("train", range(0, 3)), _examples("dev", range(3, 6)), _examples("test", range(6, 8)))


def _save_mlm(folder, kind: str = "bert"):
    """A tiny random BERT (or RoBERTa) WITH its MLM head, saved as a model folder with the tiny tokenizer."""
    tok = build_tiny_tokenizer()
    common = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if kind == "bert":
            mlm = BertForMaskedLM(BertConfig(**common, max_position_embeddings=128))
        else:
            mlm = RobertaForMaskedLM(RobertaConfig(**common, max_position_embeddings=130, pad_token_id=1))
        with torch.no_grad():  # a non-zero output bias, so the bias path is exercised
            mlm.get_output_embeddings().bias.normal_()
    mlm.eval().save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def mlm_folder(tmp_path_factory):
    return _save_mlm(tmp_path_factory.mktemp("tiny-bert-mlm"))


@pytest.fixture(scope="module")
def mlm_backbone(mlm_folder):
    return load_backbone(str(mlm_folder))


def _tune(backbone, method, mode, out, **kw):
    overrides = {"head": "mlm", "prompt_mode": mode, "popsize": 4, "d": 8, "eval_every": 4, "sigma": 0.5,
                 **kw.pop("overrides", {})}
    return tune(TASK, method, 13, budget=16, backend=LocalBackend(backbone, None), out_dir=out,
                overrides=overrides, data=SPLIT, n_tokens=N_TOKENS, max_length=40, **kw)


def _strip(result) -> dict:
    return {k: v for k, v in result.to_dict().items() if k not in ("wall_time", "out_dir")}


@pytest.mark.parametrize("method", ["bbt", "bbtv2"])
@pytest.mark.parametrize("mode", ["add", "cat"])
def test_tune_with_the_mlm_head_is_deterministic_and_resumes_exactly(mlm_backbone, method, mode, tmp_path,
                                                                     monkeypatch):
    first = _tune(mlm_backbone, method, mode, tmp_path / "a")
    again = _tune(mlm_backbone, method, mode, tmp_path / "b")
    assert first.calls == 16 and (first.head, first.prompt_mode, first.scoring) == ("mlm", mode, "sum")
    assert _strip(first) == _strip(again)
    result = json.loads((tmp_path / "a" / "result.json").read_text())
    assert (result["head"], result["prompt_mode"]) == ("mlm", mode)
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["run"]["method_config"]["head"] == "mlm"
    if method == "bbt":  # (a BBTv2 prompt's layer scales come from its train set, which load_tuned lacks)
        monkeypatch.setattr("bbt_mp2.tuned._task", lambda record: TASK)  # the toy task is not in the registry
        tuned = load_tuned(tmp_path / "a", backbone=mlm_backbone)  # predict registers in the cloze format again
        assert tuned.predict(SPLIT.test).metric == pytest.approx(first.test_after)

    def kill(event):
        if event["calls"] == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _tune(mlm_backbone, method, mode, tmp_path / "cut", callbacks=[kill])
    resumed = _tune(mlm_backbone, method, mode, tmp_path / "cut", resume=True)
    assert _strip(resumed) == _strip(first)
    np.testing.assert_array_equal(np.load(tmp_path / "cut" / "best_params.npy"),
                                  np.load(tmp_path / "a" / "best_params.npy"))


def _direct_scores(mlm, data: ClozeDataset, prompt: torch.Tensor, mode: str) -> torch.Tensor:
    """Verbalizer logits of the stock BertForMaskedLM, one example at a time, with the prompt injected by hand:
    ``add`` = added to the placeholder embeddings; ``cat`` = the reference layout (placeholders removed, the
    prompt vectors concatenated in front of ``[CLS]``, mask position shifted by n)."""
    out = []
    n, encoder = data.n_tokens, mlm.base_model
    lm_head = mlm.cls if hasattr(mlm, "cls") else mlm.lm_head
    for i in range(len(data)):
        length = int(data.attention_mask[i].sum())
        ids = torch.as_tensor(data.input_ids[i, :length])[None]
        pos = int(data.mask_positions[i])
        if mode == "add":
            h = encoder.embeddings(input_ids=ids).clone()
            h[0, 1:1 + n] += prompt
        else:
            ids = torch.cat([ids[:, :1], ids[:, 1 + n:]], dim=1)  # [CLS] text [SEP]: the reference's input
            h = torch.cat([prompt[None], encoder.embeddings(input_ids=ids)], dim=1)
            # the mask index is unchanged: the n placeholders are gone (-n), the n prompt vectors prepended (+n)
        ext = torch.zeros(1, 1, 1, h.shape[1])
        for layer in encoder.encoder.layer:
            h = layer(h, attention_mask=ext)
            h = h[0] if isinstance(h, tuple) else h
        logits = lm_head(h)[0, pos]
        out.append(logits[torch.as_tensor(data.verbalizer_ids)])
    return torch.stack(out).double()


@pytest.mark.parametrize("kind", ["bert", "roberta"])
@pytest.mark.parametrize("mode", ["add", "cat"])
def test_mlm_scores_equal_the_stock_masked_lm_at_the_mask(tmp_path, kind, mode):
    mlm_folder = _save_mlm(tmp_path, kind)
    mlm_backbone = load_backbone(str(mlm_folder))
    backend = LocalBackend(mlm_backbone, None)
    ds = backend.register(TASK, SPLIT.dev, n_tokens=N_TOKENS, head="mlm")
    data = backend.dataset(ds)
    assert isinstance(data, ClozeDataset) and data.verbalizer == ("bad", "great")
    assert (data.input_ids[np.arange(len(data)), data.mask_positions] == mlm_backbone.mask_token_id).all()
    mlm = AutoModelForMaskedLM.from_pretrained(str(mlm_folder)).eval()
    param = PromptParam(layers=(0,), n_tokens=N_TOKENS, projection=None, prompt_mode=mode)
    rng = np.random.default_rng(0)
    population = rng.normal(scale=0.5, size=(3, 1, N_TOKENS, 32)).astype(np.float32)
    result = backend.evaluate(ds, param, population)
    with torch.inference_mode():
        for k in range(3):
            pred = backend.predict(ds, param, population[k])
            direct = _direct_scores(mlm, data, torch.as_tensor(population[k, 0]), mode)  # n x h
            np.testing.assert_allclose(pred.scores, direct.numpy(), atol=2e-5, rtol=0)
            ce = torch.nn.functional.cross_entropy(direct, torch.as_tensor(data.labels))
            assert result.loss[k] == pytest.approx(float(ce), abs=1e-5)
            assert result.metric[k] == pytest.approx(float((direct.argmax(1).numpy() == data.labels).mean()))


def test_cat_and_add_differ_and_cat_ignores_the_placeholder_tokens(mlm_backbone):
    """``cat``: the prompt slots hold the prompt itself, so the placeholder ids do not matter; ``add`` keeps them."""
    backend = LocalBackend(mlm_backbone, None)
    ds = backend.register(TASK, SPLIT.dev, n_tokens=N_TOKENS, head="mlm")
    data = backend.dataset(ds)
    other = replace(data, input_ids=data.input_ids.copy())
    other.input_ids[:, 1:1 + N_TOKENS] = 1010  # other placeholder tokens
    other_id = backend.register_encoded(other)
    zero = np.zeros((1, 1, N_TOKENS, 32), dtype=np.float32)
    scores = {}
    for mode in ("add", "cat"):
        param = PromptParam(layers=(0,), n_tokens=N_TOKENS, projection=None, prompt_mode=mode)
        scores[mode] = [backend.predict(d, param, zero[0]).scores for d in (ds, other_id)]
    np.testing.assert_allclose(scores["cat"][0], scores["cat"][1], atol=1e-6)
    assert not np.allclose(scores["add"][0], scores["add"][1], atol=1e-4)
    assert not np.allclose(scores["add"][0], scores["cat"][0], atol=1e-4)


def test_mlm_head_on_minilm_is_refused_naming_the_backbone(tmp_path):
    backend = LocalBackend(load_backbone("minilm"), None)
    with pytest.raises(ConfigError, match=r"'minilm' ships no MLM head.*head=mlm"):
        tune(TASK, "bbt", 13, budget=8, backend=backend, out_dir=tmp_path / "r", data=SPLIT, n_tokens=N_TOKENS,
             overrides={"head": "mlm", "popsize": 4, "d": 8})
    assert backend.n_calls == 0


def test_mlm_head_is_refused_for_mp2_and_with_a_checkpoint():
    with pytest.raises(ConfigError, match="mp2-deep is MRC-only.*head=mlm"):
        build_config("mp2-deep", overrides={"head": "mlm", "checkpoint": "english-deep"})
    with pytest.raises(ConfigError, match="mp2-router is MRC-only"):
        build_config("mp2-router", overrides={"head": "mlm", "checkpoint": "english-deep"})
    with pytest.raises(ConfigError, match="checkpoint='ck'.*unused"):
        build_config("bbt", overrides={"head": "mlm", "checkpoint": "ck"})
    with pytest.raises(ConfigError, match="head"):
        build_config("bbtv2", overrides={"head": "verbalizer"})
    with pytest.raises(ConfigError, match="prompt_mode"):
        build_config("bbt", overrides={"prompt_mode": "prefix"})


def test_a_label_word_that_is_not_one_token_is_refused(mlm_backbone):
    task = replace(TASK, extra={"verbalizer": ("bad", "greatness")})  # 'greatness' = great ##ness in this vocab
    backend = LocalBackend(mlm_backbone, None)
    with pytest.raises(ConfigError, match=r"'greatness' is \d+ tokens .*not one known token"):
        backend.register(task, SPLIT.train, n_tokens=N_TOKENS, head="mlm")


def test_cloze_data_refuse_the_span_loss_and_an_mrc_head(mlm_backbone):
    backend = LocalBackend(mlm_backbone, None)
    ds = backend.register(TASK, SPLIT.train, n_tokens=N_TOKENS, head="mlm")
    param = PromptParam(layers=(0,), n_tokens=N_TOKENS, projection=None)
    pop = np.zeros((1, 1, N_TOKENS, 32), dtype=np.float32)
    with pytest.raises(ConfigError, match="span_ce needs the MRC span head"):
        backend.evaluate(ds, param, pop, loss="span_ce")
    with pytest.raises(ConfigError, match="head='mlm'.*send head=None"):
        backend.validate(ds, replace(param, head="english-deep"), pop)
    mrc = backend.register(TASK, SPLIT.train, n_tokens=N_TOKENS)
    with pytest.raises(ConfigError, match="no MRC head"):
        backend.evaluate(mrc, param, pop)


def test_verbalizers_and_cloze_templates_follow_the_reference():
    zh = TaskSpec(name="toy-zh", lang="zh", type=TaskType.PAIR, label_words=("矛盾", "中立", "相似"))
    assert verbalizer_words(zh) == ("矛", "中", "相")  # the first character, as the reference's CPT path
    assert cloze_template_for(zh).pattern == "“{text_a}”与“{text_b}”两句话的意思是{mask}的。"
    assert verbalizer_words(replace(TASK, name="sst2")) == ("bad", "great")  # the BBT reference's words
    assert cloze_template_for(replace(TASK, name="sst2")).pattern == "{text} . It was {mask} ."
    with pytest.raises(ConfigError, match="one distinct word for each of its 2 classes"):
        verbalizer_words(replace(TASK, extra={"verbalizer": ("good",)}))
    with pytest.raises(ConfigError, match="multiple_choice: use head=mrc"):
        cloze_template_for(TaskSpec(name="toy-mc", lang="en", type=TaskType.MULTIPLE_CHOICE))
