"""Where the task data lives: ``data_root``.

Resolution order: an explicit argument (e.g. the CLI's ``--data``), else the ``BBT_MP2_DATA`` environment variable,
else ``<repo>/../shared/data`` where ``<repo>`` is the folder that holds the ``bbt_mp2`` package.
"""

from __future__ import annotations

import os
from pathlib import Path

from bbt_mp2.errors import DataError

__all__ = ["DATA_ENV", "data_root", "default_data_root"]

DATA_ENV = "BBT_MP2_DATA"
"""Environment variable naming the data folder (the one that holds ``en/`` and ``zh/``)."""

_HOW = f"set {DATA_ENV}=/path/to/data or pass --data /path/to/data (the folder that holds en/ and zh/)"


def default_data_root() -> Path:
    """``<repo>/../shared/data``, where ``<repo>`` is the parent of the ``bbt_mp2`` package folder."""
    repo = Path(__file__).resolve().parent.parent.parent
    return (repo.parent / "shared" / "data").resolve()


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data folder.

    Args:
        explicit: a folder given by the caller; wins over everything else.

    Returns:
        The absolute path of an existing folder.

    Raises:
        DataError: the chosen folder does not exist (the message says which source chose it and how to fix it).
    """
    if explicit is not None:
        path, source = Path(explicit).expanduser(), "the data path passed in"
    elif os.environ.get(DATA_ENV):
        path, source = Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV}"
    else:
        path, source = default_data_root(), "the default location <repo>/../shared/data"
    if not path.is_dir():
        raise DataError(f"data folder {str(path)!r} ({source}) does not exist; {_HOW}")
    return path.resolve()
