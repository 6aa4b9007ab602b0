"""What a run records about where it came from: git commit, entry point, Python and key packages."""

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

# The libraries whose versions decide whether a result can be reproduced; only installed ones are recorded.
KEY_PACKAGES = ("scikit-learn", "numpy", "pandas", "torch", "xgboost", "lightgbm")
NOTEBOOK_ENTRY_POINT = "<notebook>"
GIT_TIMEOUT_SECONDS = 2.0


def entry_point() -> str:
    """The script being run, or ``<notebook>`` in an interactive kernel or shell."""
    script = sys.argv[0] if sys.argv else ""
    if not script or script == "-c" or "ipykernel" in script or "ipython" in Path(script).name.lower():
        return NOTEBOOK_ENTRY_POINT
    return script


def git_commit(directory: Path | None = None) -> str | None:
    """The commit checked out in `directory` (default: the script's folder), or None if unknown.

    Best effort: no git, not a repository or a slow disk must never stop a run from starting.
    """
    if directory is None:
        script = entry_point()
        directory = Path(script).resolve().parent if script != NOTEBOOK_ENTRY_POINT else Path.cwd()
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and commit else None


def source() -> dict[str, str | None]:
    """The run's ``source``: git commit and entry point (cut to the server's limits)."""
    commit = git_commit()
    return {"git_commit": commit[:64] if commit else None, "entry_point": entry_point()[-512:]}


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of `names`; missing packages are left out."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict[str, Any]:
    """The run's ``environment``: Python version, platform and key package versions."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": package_versions(),
    }
