from pathlib import Path

import pytest

from bbt_mp2.errors import DataError
from bbt_mp2.tasks import DATA_ENV, data_root
from bbt_mp2.tasks.paths import default_data_root


def test_explicit_wins_over_env(tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(DATA_ENV, str(other))
    assert data_root(tmp_path) == tmp_path.resolve()


def test_env_used_when_no_explicit(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_root() == tmp_path.resolve()


def test_default_is_shared_data_next_to_repo(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    repo = Path(__file__).resolve().parents[3]
    assert default_data_root() == (repo.parent / "shared" / "data").resolve()


def test_missing_folder_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nope"))
    with pytest.raises(DataError, match=r"BBT_MP2_DATA.*does not exist; set BBT_MP2_DATA=.* or pass --data"):
        data_root()
    with pytest.raises(DataError, match="passed in"):
        data_root(tmp_path / "nope2")
