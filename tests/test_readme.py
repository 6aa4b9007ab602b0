"""The README tells the truth: every setting, every train spec field and estimator, the commands
that exist, the set-up a newcomer runs, and no file outside the repository."""

import re
import subprocess
from pathlib import Path

import pytest
import typer

from app.ml.training import ESTIMATORS, SearchSpec, SplitSpec, TrainSpec
from app.settings import Settings
from shipyard.cli.main import app as cli_app

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# Files the README's examples make on the reader's side, not files of this repository.
READER_FILES = {"spec.yaml", "model.json", "router.py", "service.py", "repository.py", "/openapi.json"}


def readme() -> str:
    return README.read_text(encoding="utf-8")


def train_spec_block() -> str:
    found = re.search(r"`spec.yaml` is a train spec.*?```yaml\n(.*?)```", readme(), flags=re.DOTALL)
    assert found, "the README shows a whole train spec"
    return found.group(1)


def test_settings_table_matches_the_settings() -> None:
    documented = set(re.findall(r"^\| `(SHIPYARD_[A-Z0-9_]+)` \|", readme(), flags=re.MULTILINE))
    actual = {f"SHIPYARD_{name.upper()}" for name in Settings.model_fields}
    assert documented == actual


def test_every_file_it_names_is_in_the_repository() -> None:
    text = readme()
    named = set(re.findall(r"`([A-Za-z0-9_./-]+\.(?:md|yml|yaml|toml|ini|py|cfg|json))`", text))
    named |= set(re.findall(r"\]\(([^)#:]+)\)", text))
    for name in sorted(named - READER_FILES):
        assert (REPO / name).exists(), f"the README names {name}, which is not in the repository"
    assert "DESIGN.md" not in text
    assert "shared" not in text.lower()


def test_the_train_spec_shows_every_field() -> None:
    block = train_spec_block()
    keys = set(re.findall(r"^\s*([a-z_]+):", block, flags=re.MULTILINE))
    for model in (TrainSpec, SplitSpec, SearchSpec):
        missing = set(model.model_fields) - keys
        assert not missing, f"{model.__name__} fields missing from the README's spec: {missing}"


def test_the_estimator_table_is_the_allow_list() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| `(sklearn\.[A-Za-z_.]+)`", readme(), flags=re.MULTILINE))
    assert rows == {name: info.path for name, info in ESTIMATORS.items()}


def test_every_cli_command_it_shows_exists() -> None:
    commands: dict[str, object] = getattr(typer.main.get_command(cli_app), "commands", {})
    shown = set(re.findall(r"^shipyard ([a-z-]+)", readme(), flags=re.MULTILINE))
    assert shown, "the README shows the CLI"
    assert shown <= set(commands), f"not commands: {shown - set(commands)}"
    assert "login" in shown


def test_the_newcomer_set_up_is_there() -> None:
    text = readme()
    assert "make run    # creates .venv" in text
    assert "make test   # creates/updates .venv" in text
    assert "source .venv/bin/activate" in text
    assert ".venv/bin/shipyard" in text
    assert "shipyard login http://127.0.0.1:8000 -u admin" in text, "how to get the admin token with compose"
    exists = text.split("What exists today", 1)[1].split("What does **not** exist yet", 1)[0]
    assert "**deployments**" in exists
    assert "**monitoring**" in exists
    for missing in ("dashboard", "MLflow"):
        assert missing in text.split("What does **not** exist yet", 1)[1].split("\n\n", 1)[0]


@pytest.mark.parametrize(("target", "installs"), [("run", "-e ."), ("test", '-e ".[test]"')])
def test_make_run_installs_the_server_and_make_test_the_test_tools(target: str, installs: str, tmp_path: Path) -> None:
    plan = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    pip = [line for line in plan.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert len(pip) == 1, plan
    assert pip[0].endswith(f"pip install --quiet {installs}"), pip[0]
