"""The README documents every setting, and names nothing that is not one."""

import re
from pathlib import Path

from app.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_settings_table_matches_the_settings() -> None:
    documented = set(re.findall(r"^\| `(SHIPYARD_[A-Z0-9_]+)` \|", README.read_text(), flags=re.MULTILINE))
    actual = {f"SHIPYARD_{name.upper()}" for name in Settings.model_fields}
    assert documented == actual
