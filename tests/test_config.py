import pytest

from rsq.config import data_root, rsq_home
from rsq.errors import RsqError


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("RSQ_DATA", str(tmp_path))
    assert data_root() == tmp_path
    other = tmp_path / "other"
    other.mkdir()
    assert data_root(other) == other
    monkeypatch.setenv("RSQ_DATA", str(tmp_path / "missing"))
    with pytest.raises(RsqError, match="does not exist"):
        data_root()


def test_default_data_root_is_beside_the_checkout(monkeypatch):
    monkeypatch.delenv("RSQ_DATA", raising=False)
    assert (data_root() / "ucm-captions" / "captions.jsonl").is_file()


def test_rsq_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RSQ_HOME", str(tmp_path))
    assert rsq_home() == tmp_path
