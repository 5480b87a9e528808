"""Loaders for YAML, CSV and Markdown knowledge files, including broken ones (file + line in the problem)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from smallbot.knowledge.loaders import load_knowledge


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _load(root: Path, *paths: Path):
    problems, warnings = [], []
    entries = load_knowledge(list(paths), problems, root, warnings)
    return entries, problems, warnings


def test_yaml_csv_and_markdown_entries_load_with_their_source_line(tmp_path):
    yml = _write(tmp_path, "faq.yml", """
        faqs:
          - id: reset-password
            question: How do I reset my password?
            alternates: [I forgot my password]
            answer: Use the link.
    """)
    csv = _write(tmp_path, "more.csv", """
        id,question,alternates,answer,tags,links
        refund,Can I get a refund?,"money back | return policy",Within 30 days.,billing,https://example.com/refunds
    """)
    md = _write(tmp_path, "guide.md", """
        # Guide

        ## How do I delete my account?
        id: delete-account
        alternates:
        - remove my account

        Settings, Account, Delete account.
    """)
    entries, problems, _ = _load(tmp_path, yml, csv, md)
    assert problems == []
    by_id = {e.id: e for e in entries}
    assert by_id["reset-password"].alternates == ("I forgot my password",)
    assert by_id["refund"].alternates == ("money back", "return policy")
    assert by_id["refund"].links == ("https://example.com/refunds",)
    assert by_id["delete-account"].question == "How do I delete my account?"
    assert by_id["delete-account"].answer == "Settings, Account, Delete account."
    assert by_id["delete-account"].alternates == ("remove my account",)
    assert (by_id["reset-password"].file, by_id["reset-password"].line) == ("faq.yml", 2)


def test_broken_yaml_is_reported_with_file_and_line(tmp_path):
    bad = _write(tmp_path, "bad.yml", """
        faqs:
          - id: ok
            question: fine?
            answer: yes
          - id: missing-answer
            question: where is the answer?
            colour: blue
    """)
    _, problems, _ = _load(tmp_path, bad)
    assert problems, "a missing answer and an unknown key must be problems"
    assert all(p.file == "bad.yml" for p in problems)
    assert any(p.line == 5 and "answer" in p.message for p in problems)
    assert any(p.line == 7 and "colour" in p.message for p in problems)


def test_unparseable_yaml_names_the_line(tmp_path):
    bad = _write(tmp_path, "syntax.yml", """
        faqs:
          - id: a
            question: [unclosed
    """)
    _, problems, _ = _load(tmp_path, bad)
    assert len(problems) == 1 and problems[0].file == "syntax.yml" and problems[0].line is not None


def test_broken_csv_row_is_reported_with_its_line(tmp_path):
    bad = _write(tmp_path, "bad.csv", """
        id,question,alternates,answer,tags,links
        ok,Is this fine?,,Yes.,,
        extra,Too, many, fields, here, really, yes,
    """)
    _, problems, _ = _load(tmp_path, bad)
    assert [(p.file, p.line) for p in problems] == [("bad.csv", 3)]
    assert "more fields" in problems[0].message


def test_csv_with_a_wrong_header_says_which_header_is_expected(tmp_path):
    bad = _write(tmp_path, "header.csv", """
        id,q,answer
        a,b,c
    """)
    _, problems, _ = _load(tmp_path, bad)
    assert problems and problems[0].line == 1 and "id,question,alternates,answer" in problems[0].message


def test_markdown_without_entries_is_a_problem(tmp_path):
    bad = _write(tmp_path, "empty.md", """
        # Just a title

        Some prose but no question headings.
    """)
    _, problems, _ = _load(tmp_path, bad)
    assert problems and problems[0].file == "empty.md" and "##" in problems[0].message


def test_duplicate_ids_across_files_point_at_both_places(tmp_path):
    a = _write(tmp_path, "a.yml", """
        faqs:
          - {id: same, question: "one?", answer: "1"}
    """)
    b = _write(tmp_path, "b.yml", """
        faqs:
          - {id: same, question: "two?", answer: "2"}
    """)
    entries, problems, _ = _load(tmp_path, a, b)
    assert len(entries) == 1
    assert problems[0].file == "b.yml" and "a.yml:2" in problems[0].message


def test_shared_phrasing_is_a_warning_not_a_problem(tmp_path):
    a = _write(tmp_path, "a.yml", """
        faqs:
          - {id: one, question: "How do I pay?", answer: "1"}
          - {id: two, question: "Billing?", alternates: ["how do i PAY?"], answer: "2"}
    """)
    entries, problems, warnings = _load(tmp_path, a)
    assert problems == [] and len(entries) == 2
    assert len(warnings) == 1 and "share the phrasing" in warnings[0].message
