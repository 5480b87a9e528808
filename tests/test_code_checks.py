"""The package passes its linter, its formatter's check and its type checker (pyproject.toml configures all
three), so CI fails on a style slip or a type error instead of a user meeting it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def run(*command: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_ruff_finds_nothing():
    done = run(sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", ".", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_code_is_formatted_as_ruff_format_writes_it():
    done = run(sys.executable, "-m", "ruff", "format", "--check", "--no-cache", ".", timeout=120)
    assert done.returncode == 0, "run `ruff format`:\n" + done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_finds_no_type_errors():
    done = run(sys.executable, "-m", "mypy", "-p", "smallbot", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
