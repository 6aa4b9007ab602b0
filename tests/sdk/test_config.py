"""Where the SDK finds the server URL and the token: arguments, environment, then credentials files."""

from pathlib import Path

import pytest

from shipyard import config

CREDENTIALS = "[default]\nurl = http://127.0.0.1:8000\nusername = admin\npassword = p%ss\ntoken = {token}\n"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SHIPYARD_* variables, a fresh home and working directory; returns the home."""
    for name in ("SHIPYARD_URL", "SHIPYARD_TOKEN", "SHIPYARD_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


def test_url_from_argument_then_env_then_default(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.resolve_url() == "http://127.0.0.1:8000"
    monkeypatch.setenv("SHIPYARD_URL", "https://shipyard.example.com/")
    assert config.resolve_url() == "https://shipyard.example.com"
    assert config.resolve_url("http://other:9000") == "http://other:9000"


def test_token_lookup_order(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.resolve_token() is None

    (Path.cwd() / "shipyard-data").mkdir()
    (Path.cwd() / "shipyard-data" / "credentials").write_text(CREDENTIALS.format(token="shp_embedded"))
    assert config.resolve_token() == "shp_embedded"

    data_dir = clean_env.parent / "data"
    data_dir.mkdir()
    (data_dir / "credentials").write_text(CREDENTIALS.format(token="shp_data_dir"))
    monkeypatch.setenv("SHIPYARD_DATA_DIR", str(data_dir))
    assert config.resolve_token() == "shp_data_dir"

    (clean_env / ".shipyard").mkdir()
    (clean_env / ".shipyard" / "credentials").write_text("[default]\ntoken = shp_user\n")
    assert config.resolve_token() == "shp_user"

    monkeypatch.setenv("SHIPYARD_TOKEN", "shp_env")
    assert config.resolve_token() == "shp_env"
    assert config.resolve_token("shp_argument") == "shp_argument"


def test_unreadable_or_incomplete_credentials_are_skipped(clean_env: Path) -> None:
    (clean_env / ".shipyard").mkdir()
    (clean_env / ".shipyard" / "credentials").write_text("this is not an ini file")
    assert config.resolve_token() is None
    (clean_env / ".shipyard" / "credentials").write_text("[other]\ntoken = shp_other\n")
    assert config.resolve_token() is None
    assert config.read_token(clean_env / ".shipyard" / "credentials", profile="other") == "shp_other"
