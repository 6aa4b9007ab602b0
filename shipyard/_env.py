"""What a run records about where it came from: git commit, entry point, Python and key packages."""

import functools
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

# The libraries whose versions decide whether a result can be reproduced; only installed ones are recorded.
KEY_PACKAGES = ("scikit-learn", "numpy", "pandas", "torch", "xgboost", "lightgbm")
NOTEBOOK_ENTRY_POINT = "<notebook>"
GIT_TIMEOUT_SECONDS = 2.0
_OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1, or SHA-256 repositories


def entry_point() -> str:
    """The script being run, or ``<notebook>`` in an interactive kernel or shell."""
    script = sys.argv[0] if sys.argv else ""
    if not script or script == "-c" or "ipykernel" in script or "ipython" in Path(script).name.lower():
        return NOTEBOOK_ENTRY_POINT
    return script


def git_commit(directory: Path | None = None) -> str | None:
    """The commit checked out in `directory` (default: the script's folder), or None if unknown.

    Best effort: no git, not a repository or a slow disk must never stop a run from starting.
    The commit is read from the repository's files (HEAD, then the loose or packed ref it names,
    as gitrepository-layout(5) describes them), which costs far less than starting ``git``; git
    itself is asked only when those files say something else (an unborn branch, an odd layout).
    """
    if directory is None:
        script = entry_point()
        directory = Path(script).resolve().parent if script != NOTEBOOK_ENTRY_POINT else Path.cwd()
    try:
        git_dir = _git_dir(directory)
        if git_dir is None:
            return None
        commit = _head_commit(git_dir)
    except (OSError, UnicodeDecodeError):
        commit = None
    return commit if commit is not None else _git_rev_parse(directory)


def _git_dir(directory: Path) -> Path | None:
    """The repository folder of the checkout holding `directory` (a worktree's `.git` is a file
    that names it), or None outside any checkout."""
    for folder in (directory, *directory.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            text = dot_git.read_text().strip()
            if not text.startswith("gitdir:"):
                return None
            return (folder / text.removeprefix("gitdir:").strip()).resolve()
    return None


def _head_commit(git_dir: Path) -> str | None:
    head = (git_dir / "HEAD").read_text().strip()
    if _OBJECT_ID.fullmatch(head):
        return head  # detached
    if not head.startswith("ref: "):
        return None
    ref = head.removeprefix("ref: ").strip()
    # A linked worktree keeps its HEAD, and the shared refs live in the folder `commondir` names.
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    for base in (git_dir, common):
        if (base / ref).is_file():
            value = (base / ref).read_text().strip()
            return value if _OBJECT_ID.fullmatch(value) else None
    if (common / "packed-refs").is_file():
        for line in (common / "packed-refs").read_text().splitlines():
            object_id, _, name = line.partition(" ")
            if name == ref and _OBJECT_ID.fullmatch(object_id):
                return object_id
    return None


def _git_rev_parse(directory: Path) -> str | None:
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


@functools.cache
def _installed_versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    # Looked up once per process: each lookup scans sys.path, and the modules this process
    # imported stay those versions whatever is installed later.
    found = []
    for name in names:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(found)


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of `names`; missing packages are left out."""
    return dict(_installed_versions(names))


def environment() -> dict[str, Any]:
    """The run's ``environment``: Python version, platform and key package versions."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": package_versions(),
    }
