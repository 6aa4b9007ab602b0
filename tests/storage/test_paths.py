"""Relative path validation: what is accepted, normalised, and refused."""

import pytest

from app.errors import InvalidPath
from app.storage.paths import MAX_PATH_LENGTH, join_key, validate_relative_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("model/model.skops", "model/model.skops"),
        ("plots/loss curve.png", "plots/loss curve.png"),
        ("plots/loss%20curve.png", "plots/loss curve.png"),
        ("data/v1/file.parquet", "data/v1/file.parquet"),
        ("metrics.csv", "metrics.csv"),
        ("a/...", "a/..."),
        ("..hidden/x", "..hidden/x"),
        (".gitignore", ".gitignore"),
        ("100%.txt", "100%.txt"),
        ("a%2541", "aA"),
        ("résumé/データ.txt", "résumé/データ.txt"),
        ("ab:c/d", "ab:c/d"),
        ("x" * MAX_PATH_LENGTH, "x" * MAX_PATH_LENGTH),
    ],
)
def test_accepts_and_normalises(raw: str, expected: str) -> None:
    assert validate_relative_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("..", "'..' segment"),
        (".", "'.' segment"),
        ("../x", "'..' segment"),
        ("a/../../x", "'..' segment"),
        ("%2e%2e/x", "'..' segment"),
        ("%2E%2E%2Fx", "'..' segment"),
        ("%252e%252e%252f", "'..' segment"),
        ("%25252e%25252e/x", "'..' segment"),
        ("a/./b", "'.' segment"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("a%2f", "empty segment"),
        ("/etc/passwd", "start with '/'"),
        ("%2fetc/passwd", "start with '/'"),
        ("C:\\x", "backslash"),
        ("c:/x", "drive letter"),
        ("C:x", "drive letter"),
        ("a:b/c", "drive letter"),
        ("%43:x", "drive letter"),
        ("a\\b", "backslash"),
        ("a%5cb", "backslash"),
        ("a%00b", "control character"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("a%7fb", "control character"),
        ("a#b", "'#'"),
        ("a?b", "'?'"),
        ("a;b", "';'"),
        ("a%3bb", "';'"),
        ("a%ffb", "UTF-8"),
        ("%2525252525252e", "still percent-encoded"),
        ("x" * (MAX_PATH_LENGTH + 1), "longer than"),
    ],
)
def test_refuses(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        validate_relative_path(raw)
    assert reason in caught.value.detail


def test_validation_is_idempotent() -> None:
    once = validate_relative_path("a%252541/b")
    assert validate_relative_path(once) == once


def test_join_key_joins_validated_parts() -> None:
    assert join_key("runs", "42", "artifacts", "plots/loss curve.png") == ("runs/42/artifacts/plots/loss curve.png")


@pytest.mark.parametrize("parts", [(), ("runs", ""), ("runs", "../x"), ("runs", "/x"), ("a/",)])
def test_join_key_refuses_bad_parts(parts: tuple[str, ...]) -> None:
    with pytest.raises(InvalidPath):
        join_key(*parts)


def test_join_key_refuses_an_overlong_key() -> None:
    with pytest.raises(InvalidPath, match="longer than"):
        join_key("runs", "x" * MAX_PATH_LENGTH)
