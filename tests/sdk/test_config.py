"""Where the SDK finds the server URL and the token: arguments, environment, then credentials files."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import shipyard
from shipyard import config, errors

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


def test_the_url_comes_from_the_file_the_token_came_from(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (Path.cwd() / "shipyard-data").mkdir()
    (Path.cwd() / "shipyard-data" / "credentials").write_text(
        "[default]\nurl = http://127.0.0.1:8123\ntoken = shp_embedded\n"
    )
    resolved = config.resolve()
    assert (resolved.url, resolved.token) == ("http://127.0.0.1:8123", "shp_embedded")
    assert resolved.token_source == str(Path("shipyard-data") / "credentials")

    config.write_credentials(config.user_credentials_path(), "https://shipyard.example.com/", "shp_login")
    resolved = config.resolve()
    assert (resolved.url, resolved.token) == ("https://shipyard.example.com", "shp_login")
    assert resolved.token_source == str(clean_env / ".shipyard" / "credentials")

    # A token from the environment goes to the saved server, unless the URL is given too.
    monkeypatch.setenv("SHIPYARD_TOKEN", "shp_env")
    assert config.resolve().url == "https://shipyard.example.com"
    monkeypatch.setenv("SHIPYARD_URL", "http://other:9000")
    assert (config.resolve().url, config.resolve().token) == ("http://other:9000", "shp_env")
    assert config.resolve("http://arg:1", "shp_arg") == config.Resolved(
        url="http://arg:1",
        token="shp_arg",
        token_source="argument",
        looked_in=["SHIPYARD_TOKEN", str(clean_env / ".shipyard" / "credentials"), "shipyard-data/credentials"],
    )


def test_a_file_without_url_still_gives_its_token_and_the_default_url(clean_env: Path) -> None:
    (clean_env / ".shipyard").mkdir()
    (clean_env / ".shipyard" / "credentials").write_text("[default]\ntoken = shp_old\n")
    assert (config.resolve().url, config.resolve().token) == ("http://127.0.0.1:8000", "shp_old")


def test_written_credentials_are_private_and_keep_the_rest_of_the_file(clean_env: Path) -> None:
    path = config.user_credentials_path()
    path.parent.mkdir()
    path.write_text("[default]\nusername = admin\ntoken = shp_old\n\n[staging]\ntoken = shp_staging\n")
    config.write_credentials(path, "http://127.0.0.1:9000", "shp_new")
    assert path.stat().st_mode & 0o777 == 0o600
    assert config.read_credentials(path) == config.Credentials(url="http://127.0.0.1:9000", token="shp_new")
    assert config.read_token(path, profile="staging") == "shp_staging"
    assert "username = admin" in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["credentials"], "no temporary file is left"


def test_a_refused_token_names_the_url_called_and_where_the_token_came_from(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, client: TestClient
) -> None:
    monkeypatch.setenv("SHIPYARD_TOKEN", "shp_not_a_real_token")
    with shipyard.Client(http_client=client) as sdk, pytest.raises(errors.Unauthenticated) as refused:
        sdk.whoami()
    assert refused.value.detail == (
        "http://testserver/api/v1/auth/whoami said 401 (the token is not valid): "
        "the token from SHIPYARD_TOKEN was refused"
    )


def test_no_token_names_every_place_looked_in(clean_env: Path, client: TestClient) -> None:
    with shipyard.Client(http_client=client) as sdk, pytest.raises(errors.Unauthenticated) as refused:
        sdk.list_experiments()
    home_file = clean_env / ".shipyard" / "credentials"
    assert refused.value.detail == (
        f"http://testserver/api/v1/experiments said 401: no token found (looked in SHIPYARD_TOKEN, {home_file}, "
        "shipyard-data/credentials); run `shipyard login` or set SHIPYARD_TOKEN"
    )


def test_a_wrong_password_says_so_not_that_a_token_was_refused(clean_env: Path, client: TestClient) -> None:
    with shipyard.Client(http_client=client, anonymous=True) as sdk, pytest.raises(errors.Unauthenticated) as refused:
        sdk.create_token("admin", password="not-the-password")
    assert refused.value.detail == "wrong username or password"
