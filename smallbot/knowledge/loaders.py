"""Read FAQ entries from YAML, CSV and Markdown, reporting every problem with file and line."""

from __future__ import annotations

import csv
import functools
import io
import re
from pathlib import Path
from typing import Any, Callable

from smallbot.errors import Problem
from smallbot.project.yamlio import line_of, load_yaml

from .entries import FaqEntry

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ENTRY_KEYS = {"id", "question", "alternates", "answer", "tags", "links", "metadata"}
_CSV_COLUMNS = ["id", "question", "alternates", "answer", "tags", "links"]
_CSV_SEP = "|"
SUFFIXES = (".yml", ".yaml", ".csv", ".md")


def load_knowledge(
    paths: list[Path], problems: list[Problem], root: Path | None = None, warnings: list[Problem] | None = None
) -> list[FaqEntry]:
    """Load all knowledge files; duplicate ids across files are problems, near-duplicates warnings."""
    entries: list[FaqEntry] = []
    for path in paths:
        display = str(path.relative_to(root)) if root else str(path)
        loader = _LOADERS.get(path.suffix.lower())
        if loader is None:
            problems.append(
                Problem(display, None, f"unsupported knowledge file type '{path.suffix}': use .yml, .csv or .md")
            )
            continue
        entries.extend(loader(path, display, problems))
    seen: dict[str, FaqEntry] = {}
    unique: list[FaqEntry] = []
    for entry in entries:
        if entry.id in seen:
            first = seen[entry.id]
            problems.append(
                Problem(
                    entry.file,
                    entry.line,
                    f"duplicate FAQ id '{entry.id}' (first defined at {first.file}:{first.line}): ids must be unique",
                )
            )
            continue
        seen[entry.id] = entry
        unique.append(entry)
    if warnings is not None:
        warnings.extend(find_duplicate_phrasings(unique))
    return unique


def find_duplicate_phrasings(entries: list[FaqEntry]) -> list[Problem]:
    """The same phrasing under two entries makes retrieval a coin toss; report each clash."""
    owner: dict[str, FaqEntry] = {}
    found: list[Problem] = []
    for entry in entries:
        for text in entry.phrasings:
            key = _fold(text)
            other = owner.setdefault(key, entry)
            if other.id != entry.id:
                found.append(
                    Problem(
                        entry.file,
                        entry.line,
                        f"'{entry.id}' and '{other.id}' ({other.file}:{other.line}) share the phrasing {text!r}",
                    )
                )
    return found


def _always(line: int | None) -> Callable[[str], int | None]:
    """Every key of an entry on one line (a CSV row, a Markdown heading)."""
    return lambda _key: line


def _entry_from_mapping(
    item: dict[str, Any], file: str, line: int | None, problems: list[Problem], key_line: Callable[[str], int | None]
) -> FaqEntry | None:
    before = len(problems)
    for key in item:
        if key not in _ENTRY_KEYS:
            problems.append(
                Problem(
                    file,
                    key_line(key),
                    f"unknown key '{key}' in FAQ entry: allowed are {', '.join(sorted(_ENTRY_KEYS))}",
                )
            )
    entry_id = item.get("id")
    if entry_id is None or not _ID.match(str(entry_id)):
        problems.append(
            Problem(
                file,
                key_line("id") if "id" in item else line,
                f"FAQ entry needs an 'id' of letters, digits, '-', '_' or '.', got {entry_id!r}",
            )
        )
    entry_id = str(entry_id)
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        problems.append(
            Problem(file, key_line("question") if "question" in item else line, f"FAQ '{entry_id}' has no question")
        )
        question = ""
    answer = item.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        problems.append(
            Problem(file, key_line("answer") if "answer" in item else line, f"FAQ '{entry_id}' has an empty answer")
        )
        answer = ""
    alternates = _strings(item.get("alternates"), "alternates", entry_id, file, key_line, problems)
    tags = _strings(item.get("tags"), "tags", entry_id, file, key_line, problems)
    links = _strings(item.get("links"), "links", entry_id, file, key_line, problems)
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, dict):
        problems.append(Problem(file, key_line("metadata"), f"FAQ '{entry_id}': 'metadata' must be a mapping"))
        metadata = {}
    if len(problems) > before:
        return None
    folded = _fold(question)
    alternates = tuple(dict.fromkeys(a for a in alternates if _fold(a) != folded))
    return FaqEntry(entry_id, question.strip(), alternates, answer.strip(), tags, links, dict(metadata), file, line)


def _strings(
    raw: Any, key: str, entry_id: str, file: str, key_line: Callable[[str], int | None], problems: list[Problem]
) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, (str, int, float)) and str(x).strip() for x in raw):
        problems.append(Problem(file, key_line(key), f"FAQ '{entry_id}': '{key}' must be a list of non-empty strings"))
        return ()
    return tuple(str(x).strip() for x in raw)


def _load_yaml_file(path: Path, display: str, problems: list[Problem]) -> list[FaqEntry]:
    data = load_yaml(path, problems, display)
    if data is None:
        return []
    if not isinstance(data, dict) or "faqs" not in data:
        problems.append(
            Problem(
                display,
                line_of(data, 0) if isinstance(data, list) else None,
                "a knowledge YAML file is a mapping with a 'faqs:' list",
            )
        )
        return []
    for key in data:
        if key != "faqs":
            problems.append(
                Problem(display, line_of(data, key), f"unknown key '{key}': a knowledge file holds only 'faqs'")
            )
    items = data["faqs"] or []
    if not isinstance(items, list):
        problems.append(Problem(display, line_of(data, "faqs"), "'faqs' must be a list of entries"))
        return []
    entries = []
    for index, item in enumerate(items):
        line = line_of(items, index)
        if not isinstance(item, dict):
            problems.append(Problem(display, line, "each FAQ entry is a mapping with id, question, answer"))
            continue
        entry = _entry_from_mapping(item, display, line, problems, functools.partial(line_of, item))
        if entry is not None:
            entries.append(entry)
    return entries


def _load_csv_file(path: Path, display: str, problems: list[Problem]) -> list[FaqEntry]:
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in ("id", "question", "answer") if c not in header]
    unknown = [c for c in header if c not in _CSV_COLUMNS]
    if missing or unknown:
        detail = []
        if missing:
            detail.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            detail.append(f"unknown column(s) {', '.join(unknown)}")
        problems.append(Problem(display, 1, "; ".join(detail) + f": the header is {','.join(_CSV_COLUMNS)}"))
        return []
    entries = []
    try:
        rows = list(reader)
    except csv.Error as exc:
        problems.append(Problem(display, reader.line_num, f"invalid CSV: {exc}"))
        return []
    line = 2
    for row in rows:
        if None in row:
            problems.append(
                Problem(display, line, "row has more fields than the header (quote fields that contain commas)")
            )
            line += 1
            continue
        item = {k: v for k, v in row.items() if v not in (None, "")}
        for key in ("alternates", "tags", "links"):
            if key in item:
                item[key] = [part.strip() for part in item[key].split(_CSV_SEP) if part.strip()]
        entry = _entry_from_mapping(item, display, line, problems, _always(line))
        if entry is not None:
            entries.append(entry)
        line += 1 + sum(str(v).count("\n") for v in row.values() if v)
    return entries


_MD_FIELD = re.compile(r"^(id|tags|links|alternates)\s*:\s*(.*)$", re.IGNORECASE)


def _load_markdown_file(path: Path, display: str, problems: list[Problem]) -> list[FaqEntry]:
    """`## Question` starts an entry; `id:`, `tags:`, `links:` lines and an `alternates:` list follow;
    the rest up to the next `## ` is the answer, kept as Markdown."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[int, str, list[str]]] = []
    for number, text in enumerate(lines, start=1):
        if text.startswith("## "):
            blocks.append((number, text[3:].strip(), []))
        elif blocks:
            blocks[-1][2].append(text)
    if not blocks:
        problems.append(Problem(display, None, "no FAQ entries: each entry starts with a '## Question' heading"))
    entries = []
    for number, question, body in blocks:
        item: dict[str, Any] = {"question": question}
        answer_lines: list[str] = []
        in_alternates = False
        for text in body:
            field_match = _MD_FIELD.match(text.strip()) if not answer_lines else None
            if field_match:
                key, value = field_match.group(1).lower(), field_match.group(2).strip()
                in_alternates = key == "alternates" and not value
                if key == "id":
                    item["id"] = value
                elif value:
                    item[key] = [v.strip() for v in value.split(",") if v.strip()]
                else:
                    item.setdefault(key, [])
                continue
            if in_alternates and text.strip().startswith(("- ", "* ")):
                item["alternates"].append(text.strip()[2:].strip())
                continue
            if in_alternates and not text.strip():
                in_alternates = False
                continue
            if text.strip() or answer_lines:
                answer_lines.append(text)
        item["answer"] = "\n".join(answer_lines).strip()
        if "id" not in item:
            item["id"] = re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")[:60]
        entry = _entry_from_mapping(item, display, number, problems, _always(number))
        if entry is not None:
            entries.append(entry)
    return entries


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


_LOADERS = {".yml": _load_yaml_file, ".yaml": _load_yaml_file, ".csv": _load_csv_file, ".md": _load_markdown_file}
