"""Test doubles: tiny random backbones with a real (small) WordPiece tokenizer, offline and deterministic.

Like BoTorch's ``MockModel``, these let every downstream module (prompts, evaluator, methods, server) test its
logic in milliseconds without a download. The tokenizer is a genuine ``BertTokenizerFast`` built in memory from a
vocabulary assembled in code: BERT's special-token layout (``[PAD]`` 0, ``[UNK]`` 100, ``[CLS]`` 101, ``[SEP]`` 102,
``[MASK]`` 103), ASCII characters, common English words, a few hundred CJK characters, padded with ``[unusedN]``
entries to :data:`TINY_VOCAB_SIZE` so the BBT/MP2 placeholder ids 1000..1049 exist.

A tiny CPT is written as a random checkpoint in the published ``fnlp/cpt-*`` key layout
(:func:`write_tiny_cpt_checkpoint`) and loaded back through the real CPT loader, so it exercises that code path.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from bbt_mp2.backbones.base import Backbone
from bbt_mp2.errors import ConfigError, UnknownNameError

__all__ = [
    "TINY_VOCAB_SIZE",
    "tiny_vocab",
    "build_tiny_tokenizer",
    "build_tiny_backbone",
    "tiny_cpt_state_dict",
    "write_tiny_cpt_checkpoint",
]

TINY_VOCAB_SIZE = 1200

_WORDS = (
    "the a an of and to in is it that was for on are with as this be at by not but have from or they which you one "
    "were all we can her has there been if more when will would who so no yes he she his its their them what how "
    "why where very good bad great terrible awesome awful best worst love hate like nice poor fine boring fun "
    "movie film story book food service place price product phone music game team player city country world news "
    "sports business science technology politics health question answer context option options sentence text "
    "title review topic label true false maybe neither both entailment contradiction neutral positive negative "
    "happy sad angry funny new old big small long short high low first last many much some any other same "
    "people man woman child day time year week today said says say make made go went come came see saw know "
    "think get got take took give gave find found tell told work works worked"
).split()

_CJK = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而"
    "能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高"
    "意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政"
    "海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活"
    "难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它"
    "许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权"
    "往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄"
    "德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校"
)


def tiny_vocab(size: int = TINY_VOCAB_SIZE) -> list[str]:
    """The tiny WordPiece vocabulary, ``size`` entries, in id order (BERT's special-token ids).

    Raises:
        ConfigError: if ``size`` is too small to hold the real entries plus the placeholders 1000..1049.
    """
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [c for c in string.printable if not c.isspace() and not c.isupper()]
    vocab += chars + ["##" + c for c in string.ascii_lowercase + string.digits]
    vocab += [w for w in _WORDS if w not in set(vocab)]
    seen = set(vocab)
    vocab += [c for c in dict.fromkeys(_CJK) if c not in seen]
    if size < max(len(vocab), 1050):
        raise ConfigError(f"tiny vocabulary size {size} is too small; need at least {max(len(vocab), 1050)}")
    vocab += [f"[unused{i}]" for i in range(100, 100 + size - len(vocab))]
    return vocab


def build_tiny_tokenizer(size: int = TINY_VOCAB_SIZE):  # noqa: ANN201 - a transformers tokenizer
    """A real ``BertTokenizerFast`` (lower-casing, CJK split) over :func:`tiny_vocab`; no files, no download."""
    from transformers import BertTokenizerFast

    vocab = {tok: i for i, tok in enumerate(tiny_vocab(size))}
    return BertTokenizerFast(vocab=vocab, do_lower_case=True)


@contextmanager
def _forked_seed(seed: int) -> Iterator[None]:
    """Seed torch's CPU RNG inside the block only; the caller's global RNG state is restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _randomize_(module: torch.nn.Module, seed: int, std: float = 0.05) -> None:
    """Fill every parameter from a private generator: matrices N(0, std), LayerNorm weights 1 + N(0, 0.1), biases
    N(0, std). Biases and LayerNorm weights are non-trivial so a mis-mapped key shows up in parity tests."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "LayerNorm.weight" in name or "layer_norm.weight" in name:
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(std * noise)


def _tiny_bert_config(n_layers: int, hidden: int, vocab_size: int, max_positions: int = 128):  # noqa: ANN202
    from transformers import BertConfig

    if hidden % 4 != 0:
        raise ConfigError(f"tiny backbone hidden size must be a multiple of 4 (4 heads); got {hidden}")
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_positions,
        type_vocab_size=2,
        attn_implementation="sdpa",
    )


def build_tiny_backbone(kind: str = "bert", *, n_layers: int = 2, hidden: int = 32, seed: int = 0) -> Backbone:
    """A tiny random frozen backbone for tests (CPU, fp32, 128 positions, vocab :data:`TINY_VOCAB_SIZE`).

    Args:
        kind: ``"bert"`` (a stock ``BertModel``, token type 0) or ``"cpt"`` (a random checkpoint in the published
            CPT key layout loaded by :class:`~bbt_mp2.backbones.cpt.CPTBackbone`, token type 1; its last
            ``n_layers // 2`` layers play the U-Dec).
        n_layers: number of transformer layers L.
        hidden: hidden size h (multiple of 4; 4 attention heads).
        seed: weights are a pure function of (kind, n_layers, hidden, seed); global RNG state is untouched.

    Returns:
        A :class:`~bbt_mp2.backbones.base.Backbone` named ``"tiny-<kind>"``.

    Raises:
        UnknownNameError: for an unknown ``kind``.
    """
    if n_layers < 1:
        raise ConfigError(f"n_layers must be >= 1; got {n_layers}")
    if kind == "bert":
        from transformers import BertModel

        from bbt_mp2.backbones.bert import BertBackbone

        config = _tiny_bert_config(n_layers, hidden, TINY_VOCAB_SIZE)
        with _forked_seed(seed):
            model = BertModel(config, add_pooling_layer=False)
        _randomize_(model, seed)
        return BertBackbone(model, build_tiny_tokenizer(), name="tiny-bert")
    if kind == "cpt":
        from bbt_mp2.backbones.cpt import CPTBackbone

        n_udec = n_layers // 2
        state, config = tiny_cpt_state_dict(n_shared=n_layers - n_udec, n_udec=n_udec, hidden=hidden, seed=seed)
        return CPTBackbone.from_state_dict(state, config, build_tiny_tokenizer(), name="tiny-cpt")
    raise UnknownNameError(f"unknown tiny backbone kind {kind!r}; choose 'bert' or 'cpt'")


def tiny_cpt_state_dict(
    *,
    n_shared: int = 3,
    n_udec: int = 2,
    hidden: int = 32,
    positions: int = 64,
    config_positions: int | None = None,
    prefix: str = "model.",
    seed: int = 0,
) -> tuple[dict[str, Tensor], dict]:
    """A random CPT state dict in the published ``fnlp/cpt-*`` key layout, plus its BartConfig-style config dict.

    Holds the BERT stack (``encoder.embeddings.*``, ``encoder.encoder.layer.{i}.*`` for ``n_shared + n_udec``
    layers), the ``encoder.embeddings.position_ids`` buffer, the word-embedding aliases ``shared.weight`` and
    ``decoder.embed_tokens.weight``, a generation decoder (``decoder.*``, ``n_udec`` BART layers) and the wrapper
    tensors ``lm_head.weight`` / ``final_logits_bias``, all under ``prefix`` (``"model."`` or ``""``; wrapper
    tensors never carry it).

    Args:
        positions: rows of the BERT position table (512 in v1 checkpoints, 1024 in v2).
        config_positions: ``max_position_embeddings`` written into the config (v1 says 1024 while its table has
            512 rows); default ``positions``.

    Returns:
        ``(state_dict, config)``: float32 CPU tensors (``position_ids`` int64) and a JSON-able dict.
    """
    from transformers import BertConfig, BertModel

    n_layers, ffn, vocab = n_shared + n_udec, 2 * hidden, TINY_VOCAB_SIZE
    bert_cfg = BertConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=n_layers, num_attention_heads=4,
        intermediate_size=ffn, max_position_embeddings=positions, type_vocab_size=2,
    )  # fmt: skip
    with _forked_seed(seed):
        bert = BertModel(bert_cfg, add_pooling_layer=False)
    _randomize_(bert, seed)
    state: dict[str, Tensor] = {f"{prefix}encoder.{k}": v.clone() for k, v in bert.state_dict().items()}
    state[f"{prefix}encoder.embeddings.position_ids"] = torch.arange(positions).unsqueeze(0)
    word = state[f"{prefix}encoder.embeddings.word_embeddings.weight"]
    state[f"{prefix}shared.weight"] = word.clone()
    state[f"{prefix}decoder.embed_tokens.weight"] = word.clone()
    gen = torch.Generator().manual_seed(seed + 1)
    cfg_pos = config_positions or positions

    def rand(*shape: int) -> Tensor:
        return 0.05 * torch.randn(shape, generator=gen)

    dec = {"embed_positions.weight": rand(cfg_pos + 2, hidden)}
    dec["layernorm_embedding.weight"], dec["layernorm_embedding.bias"] = 1 + rand(hidden), rand(hidden)
    for j in range(n_udec):
        for attn in ("self_attn", "encoder_attn"):
            for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
                dec[f"layers.{j}.{attn}.{proj}.weight"] = rand(hidden, hidden)
                dec[f"layers.{j}.{attn}.{proj}.bias"] = rand(hidden)
        for ln in ("self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm"):
            dec[f"layers.{j}.{ln}.weight"], dec[f"layers.{j}.{ln}.bias"] = 1 + rand(hidden), rand(hidden)
        dec[f"layers.{j}.fc1.weight"], dec[f"layers.{j}.fc1.bias"] = rand(ffn, hidden), rand(ffn)
        dec[f"layers.{j}.fc2.weight"], dec[f"layers.{j}.fc2.bias"] = rand(hidden, ffn), rand(hidden)
    state.update({f"{prefix}decoder.{k}": v for k, v in dec.items()})
    state["lm_head.weight"] = word.clone()
    state["final_logits_bias"] = torch.zeros(1, vocab)
    config = {
        "model_type": "bart", "architectures": ["CPTForConditionalGeneration"], "vocab_size": vocab,
        "d_model": hidden, "encoder_layers": n_layers, "decoder_layers": n_udec, "encoder_attention_heads": 4,
        "decoder_attention_heads": 4, "encoder_ffn_dim": ffn, "decoder_ffn_dim": ffn,
        "max_position_embeddings": cfg_pos, "activation_function": "gelu", "dropout": 0.1,
        "attention_dropout": 0.1, "activation_dropout": 0.1, "pad_token_id": 0, "bos_token_id": 101,
        "eos_token_id": 102, "init_std": 0.02,
    }  # fmt: skip
    return state, config


def write_tiny_cpt_checkpoint(
    directory: str | Path, *, fmt: str = "safetensors", **kwargs: object
) -> tuple[Path, dict[str, Tensor]]:
    """Write :func:`tiny_cpt_state_dict` as a hub-style CPT folder (config.json, vocab.txt, weights).

    Args:
        directory: target folder (created).
        fmt: ``"safetensors"`` (``model.safetensors``; shared tensors stored as separate copies) or ``"bin"``
            (``pytorch_model.bin`` via ``torch.save``).
        **kwargs: passed to :func:`tiny_cpt_state_dict`.

    Returns:
        ``(directory, state_dict)``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state, config = tiny_cpt_state_dict(**kwargs)  # type: ignore[arg-type]
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    (directory / "vocab.txt").write_text("\n".join(tiny_vocab()) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"))
    elif fmt == "bin":
        torch.save(state, directory / "pytorch_model.bin")
    else:
        raise UnknownNameError(f"unknown checkpoint format {fmt!r}; choose 'safetensors' or 'bin'")
    return directory, state
