"""MP2 checkpoint: safetensors tensors + a JSON config.

A checkpoint is a directory holding ``tensors.safetensors`` and ``config.json``:

tensors (float32):
    ``router``       ``T x L' x K``   router logits per (task, prompted layer, module)
    ``z``            ``L' x K x d``   intrinsic prompts of the modules
    ``A``            ``L' x d x (n*h)`` learned projection of each prompted layer (shared by its K modules)
    ``head_weight``  ``2 x h``        MRC span head (start, end) weight
    ``head_bias``    ``2``            MRC span head bias (0 in MP2)

config: backbone name, embedding hash, n_tokens, n_modules (K), d, hidden, layers (the prompted layers L'),
task names (router rows), routing mode, and free-form training metadata.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

from bbt_mp2.checkpoint_config import FORMAT_VERSION, CheckpointConfig
from bbt_mp2.errors import CheckpointError

__all__ = [
    "CheckpointConfig", "MP2Checkpoint", "save_checkpoint", "load_checkpoint", "resolve_checkpoint",
    "SHIPPED_DIR", "shipped_checkpoints", "SHA256SUMS", "file_sha256", "read_sha256sums", "verify_shipped",
    "export_checkpoint", "DEFAULT_CHECKPOINTS", "default_checkpoint",
]

logger = logging.getLogger(__name__)

TENSORS_FILE = "tensors.safetensors"
CONFIG_FILE = "config.json"
# the shipped checkpoints, one sub-directory per name (e.g. ``english-deep``): checkpoints/ at the repository root
# (an editable install of a clone, as the README sets up), or the folder $BBT_MP2_CHECKPOINTS names
SHIPPED_DIR = Path(os.environ.get("BBT_MP2_CHECKPOINTS") or Path(__file__).resolve().parent.parent / "checkpoints")


def shipped_checkpoints() -> list[str]:
    """Names of the checkpoints shipped with the package (directories under :data:`SHIPPED_DIR`)."""
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / CONFIG_FILE).is_file())


# (backbone name, task language) -> the shipped checkpoint a run takes when it names none
DEFAULT_CHECKPOINTS = {("minilm", "en"): "english-deep"}


def default_checkpoint(backbone: str, lang: str) -> str:
    """The shipped checkpoint used when a run names none (``english-deep`` for English tasks on MiniLM).

    Raises:
        CheckpointError: no default for this backbone and language, or the default is not installed (the message
            says how to get or make one).
    """
    name = DEFAULT_CHECKPOINTS.get((backbone, lang))
    if name is None:
        raise CheckpointError(
            f"there is no shipped MP2 checkpoint for backbone {backbone!r} and {lang!r} tasks; pass --checkpoint DIR "
            "(make one with `bbt-mp2 pretrain --tasks ... --backbone ... --out DIR`)"
        )
    if name not in shipped_checkpoints():
        raise CheckpointError(
            f"the default checkpoint {name!r} (backbone {backbone!r}, {lang!r} tasks) is not installed in "
            f"{SHIPPED_DIR} (shipped: {shipped_checkpoints() or 'none'}); run from a clone (pip install -e) or set "
            f"BBT_MP2_CHECKPOINTS, export one with "
            f"`bbt-mp2 pretrain --export RUN_DIR --name {name}`, or pass --checkpoint DIR"
        )
    return name


def resolve_checkpoint(name_or_path: str | os.PathLike[str]) -> Path:
    """A shipped checkpoint name (``english-deep``) or a checkpoint directory -> the directory.

    Raises:
        CheckpointError: neither an existing directory nor a shipped name; the message lists the shipped names.
    """
    text = os.fspath(name_or_path)
    if text in shipped_checkpoints():
        return SHIPPED_DIR / text
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    raise CheckpointError(
        f"checkpoint {text!r} is neither a checkpoint directory nor a shipped checkpoint name; "
        f"shipped: {shipped_checkpoints() or 'none installed'}"
    )


SHA256SUMS = "SHA256SUMS"  # in a folder of checkpoints: "<sha256>  <name>/tensors.safetensors" per line
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes (memoised by path, size and mtime)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def read_sha256sums(root: str | os.PathLike[str]) -> dict[str, str]:
    """``root/SHA256SUMS`` as ``{relative path: hex sha256}`` (``sha256sum`` format); empty if there is none.

    Raises:
        CheckpointError: a malformed line (file and line named).
    """
    path = Path(root) / SHA256SUMS
    if not path.is_file():
        return {}
    out = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest) or not rel.strip():
            raise CheckpointError(f"{path}:{i}: malformed line {line[:80]!r}; "
                                  f"expected '<sha256>  <name>/{TENSORS_FILE}'")
        out[rel.strip()] = digest
    return out


def _write_sha256sums(root: Path, sums: dict[str, str]) -> None:
    from bbt_mp2.atomic_io import atomic_write_bytes

    text = "".join(f"{sums[rel]}  {rel}\n" for rel in sorted(sums))
    atomic_write_bytes(root / SHA256SUMS, text.encode())


def verify_shipped(path: str | os.PathLike[str]) -> str | None:
    """Check a checkpoint directory's tensors against the ``SHA256SUMS`` of the folder it sits in.

    A directory whose parent has no ``SHA256SUMS`` (a checkpoint you trained) is not checked (returns None);
    one under :data:`SHIPPED_DIR` always is.

    Returns:
        The verified hex sha256, or None when there is nothing to verify against.

    Raises:
        CheckpointError: the tensors file is not listed, or its sha256 differs (a corrupt or replaced copy; the
            message says how to restore it).
    """
    path = Path(path)
    sums = read_sha256sums(path.parent)
    if not sums and path.parent.resolve() != SHIPPED_DIR.resolve():
        return None
    rel = f"{path.name}/{TENSORS_FILE}"
    if rel not in sums:
        raise CheckpointError(f"{path.parent / SHA256SUMS} does not list {rel}; re-export the checkpoint with "
                              f"`bbt-mp2 pretrain --export RUN_DIR --name {path.name}`")
    got = file_sha256(path / TENSORS_FILE)
    if got != sums[rel]:
        raise CheckpointError(
            f"{path / TENSORS_FILE} has sha256 {got}, but {path.parent / SHA256SUMS} lists {sums[rel]}: the copy is "
            "corrupt or was replaced; restore it (`git checkout -- <file>` or reinstall the package) or re-export it"
        )
    return got


def checkpoint_dir_of(run_or_checkpoint: str | os.PathLike[str]) -> Path:
    """A pre-training run directory -> its best checkpoint (``RUN/checkpoint``); a checkpoint directory -> itself."""
    src = Path(run_or_checkpoint)
    return src / "checkpoint" if (src / "checkpoint" / CONFIG_FILE).is_file() else src


def export_checkpoint(
    source: str | os.PathLike[str], name: str, *, root: str | os.PathLike[str] | None = None
) -> Path:
    """Write a float16 copy of a trained checkpoint as a shipped checkpoint ``root/name`` and list its sha256.

    Args:
        source: a checkpoint directory, or a pre-training run directory holding ``checkpoint/``.
        name: the shipped name (lowercase letters, digits, ``-``; e.g. ``english-deep``).
        root: the folder of shipped checkpoints (default :data:`SHIPPED_DIR`).

    Returns:
        The new checkpoint directory. ``root/SHA256SUMS`` gets (or replaces) the line of its tensors file.

    Raises:
        CheckpointError: a bad name, an unreadable source, or a tensor that does not fit float16 (inf after the
            cast).
    """
    if not _NAME.match(name):
        raise CheckpointError(f"shipped checkpoint name {name!r} must be lowercase letters, digits and '-'")
    src = checkpoint_dir_of(source)
    import torch  # tensor work only: the rest of this module is plain data, importable without torch
    from safetensors.torch import save_file

    ckpt = load_checkpoint(src)
    tensors = {}
    for key in ("router", "z", "A", "head_weight", "head_bias"):
        half = getattr(ckpt, key).detach().to("cpu", torch.float16).contiguous()
        if not torch.isfinite(half).all():
            raise CheckpointError(f"checkpoint {src}: tensor {key!r} has values beyond the float16 range; "
                                  "it cannot be shipped as float16")
        tensors[key] = half
    # the source is named by its run folder only: no machine paths in a shipped file
    meta = dict(ckpt.config.meta, shipped={"source": src.parent.name, "dtype": "float16",
                                           "source_sha256": file_sha256(src / TENSORS_FILE)})
    config = CheckpointConfig.from_dict(dict(ckpt.config.to_dict(), meta=meta))
    root = Path(root) if root is not None else SHIPPED_DIR
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    save_file(tensors, str(tmp / TENSORS_FILE))
    (tmp / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    sums = read_sha256sums(root)
    sums[f"{name}/{TENSORS_FILE}"] = file_sha256(final / TENSORS_FILE)
    _write_sha256sums(root, sums)
    size = (final / TENSORS_FILE).stat().st_size
    logger.info("exported %s -> %s (float16, %.1f MB)", src, final, size / 2**20)
    return final


@dataclass
class MP2Checkpoint:
    """The tensors and config of a pre-trained modular prompt (see module docstring for shapes)."""

    config: CheckpointConfig
    router: Tensor
    z: Tensor
    A: Tensor
    head_weight: Tensor
    head_bias: Tensor

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every tensor shape against the config; raises :class:`CheckpointError`."""
        c = self.config
        L, K, d, nh = len(c.layers), c.n_modules, c.d, c.n_tokens * c.hidden
        expected = {
            "router": (len(c.task_names), L, K),
            "z": (L, K, d),
            "A": (L, d, nh),
            "head_weight": (2, c.hidden),
            "head_bias": (2,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise CheckpointError(f"checkpoint tensor {name!r} has shape {got}; expected {shape} from its config")

    def layer_index(self, layer: int) -> int:
        """Row of ``layer`` in the L' axis; raises if the layer is not prompted by this checkpoint."""
        try:
            return self.config.layers.index(layer)
        except ValueError:
            raise CheckpointError(
                f"layer {layer} is not prompted by this checkpoint (layers {self.config.layers})"
            ) from None

    def task_index(self, task: str) -> int:
        try:
            return self.config.task_names.index(task)
        except ValueError:
            raise CheckpointError(
                f"task {task!r} has no router in this checkpoint; tasks: {self.config.task_names}"
            ) from None

    def check_compatible(self, *, backbone_hash: str, hidden: int, n_layers: int, n_tokens: int | None = None) -> None:
        """Refuse a backbone the checkpoint was not trained on, or other shapes."""
        c = self.config
        if c.embedding_hash != backbone_hash:
            raise CheckpointError(
                f"checkpoint was trained on backbone {c.backbone!r} (embedding hash {c.embedding_hash}); "
                f"the loaded backbone has embedding hash {backbone_hash}. Load the same backbone or pre-train a "
                "checkpoint for this one with `bbt-mp2 pretrain`."
            )
        if c.hidden != hidden:
            raise CheckpointError(f"checkpoint hidden size {c.hidden} != backbone hidden size {hidden}")
        if max(c.layers) >= n_layers:
            raise CheckpointError(f"checkpoint prompts layers {c.layers} but the backbone has {n_layers} layers")
        if n_tokens is not None and n_tokens != c.n_tokens:
            raise CheckpointError(f"checkpoint prompt length n_tokens={c.n_tokens}, requested {n_tokens}")


def save_checkpoint(ckpt: MP2Checkpoint, path: str | os.PathLike[str]) -> Path:
    """Write ``ckpt`` to directory ``path`` atomically (temp dir + rename); returns the path."""
    import torch  # tensor work only (see export_checkpoint)
    from safetensors.torch import save_file

    ckpt.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
    tensors = {
        name: getattr(ckpt, name).detach().to("cpu", torch.float32).contiguous()
        for name in ("router", "z", "A", "head_weight", "head_bias")
    }
    save_file(tensors, str(tmp / TENSORS_FILE))
    (tmp / CONFIG_FILE).write_text(json.dumps(ckpt.config.to_dict(), indent=2, sort_keys=True))
    if path.exists():  # swap: old -> .old, new -> path, drop .old (never a moment without a complete copy on disk)
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old)
    else:
        tmp.rename(path)
    logger.info("saved MP2 checkpoint to %s", path)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> MP2Checkpoint:
    """Read a checkpoint directory written by :func:`save_checkpoint`, or a shipped checkpoint by name.

    Tensors stored as float16 (the shipped copies) are returned as float32. A directory in a folder with a
    ``SHA256SUMS`` (the shipped ones) is checked against it first.

    Raises:
        CheckpointError: not a checkpoint, malformed, or a shipped copy whose sha256 does not match.
    """
    path = resolve_checkpoint(path)
    if not (path / CONFIG_FILE).is_file() or not (path / TENSORS_FILE).is_file():
        raise CheckpointError(
            f"{path} is not an MP2 checkpoint directory (needs {CONFIG_FILE} and {TENSORS_FILE}); "
            "make one with `bbt-mp2 pretrain --out DIR`"
        )
    verify_shipped(path)
    try:
        config = CheckpointConfig.from_dict(json.loads((path / CONFIG_FILE).read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path / CONFIG_FILE} is malformed: {exc}") from exc
    if config.format_version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format {config.format_version} != supported {FORMAT_VERSION}")
    from safetensors.torch import load_file  # tensor work only (see export_checkpoint)

    t = load_file(str(path / TENSORS_FILE))
    missing = {"router", "z", "A", "head_weight", "head_bias"} - set(t)
    if missing:
        raise CheckpointError(f"{path / TENSORS_FILE} lacks tensors {sorted(missing)}")
    t = {name: tensor.float() for name, tensor in t.items()}
    return MP2Checkpoint(config, t["router"], t["z"], t["A"], t["head_weight"], t["head_bias"])
