"""The learning loop: questions the bot could not answer become reviewed training data.

`propose` clusters the unanswered and only-suggested questions of the log and pairs each with the FAQ
entry or intent it most likely means: the entry the conversation finally reached (a picked suggestion or
an answered rephrase) when there is one, else the nearest phrasing by meaning. `write_review` puts them
in `learn/review.yml`, every one `accept: false`; the author flips the good ones and `apply_review`
appends them to the right entry's `alternates` / intent's `examples` through ruamel.yaml's round trip, so
comments and layout of the author's files survive. The next `smallbot train` picks them up.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.util import load_yaml_guess_indent

from smallbot.analytics import insights
from smallbot.errors import ConfigError, ProjectError
from smallbot.project.loader import Project, load_project
from smallbot.store import ConversationLog
from smallbot.types import Route

REVIEW_FILE = Path("learn") / "review.yml"
FAQ, INTENT, NEW = "faq", "intent", "new"
Encode = Callable[[Sequence[str]], np.ndarray]

_HEADER = """\
# smallbot learn: questions your bot did not answer, each paired with the FAQ entry or intent it most
# likely means. Check each one, set `accept: true` on those that are right (edit `target` if the guess
# is wrong), then run `smallbot learn DIR --apply` and `smallbot train DIR`.
#   add_to: faq     -> appended to that FAQ entry's alternates
#   add_to: intent  -> appended to that intent's examples
#   add_to: new     -> nothing close exists: write a new FAQ entry for it by hand
"""


@dataclass(frozen=True)
class Proposal:
    """One text to add to one FAQ entry or intent, with why we think so."""

    text: str
    add_to: str  # "faq" | "intent" | "new"
    target: str | None  # FAQ entry id or intent name
    target_text: str  # the entry's question or the intent's first example, so the reviewer sees the match
    similarity: float  # cosine between the text and the target's nearest phrasing
    asked: int  # times the log holds this text
    evidence: str
    cluster: str  # the cluster's most frequent text: proposals of one cluster are one question
    accept: bool = False


@dataclass(frozen=True)
class Applied:
    faq_alternates: int
    intent_examples: int
    skipped: tuple[str, ...]  # why each accepted proposal was not applied
    files: tuple[str, ...]


@dataclass(frozen=True)
class Judgement:
    """What the trained bot itself thinks of one logged text: its out-of-scope check, its best intent, and the
    calibrated FAQ confidence P(right) of its best entry, and whether the bot would offer that entry for it."""

    out_of_scope: bool
    faq_entry: str | None
    faq_confidence: float
    intent: str | None = None  # the classifier's in-scope intent, None when out of scope
    intent_confidence: float = 0.0
    # in scope and at least in the suggest band: the bot answers with the entry or offers it as "did you mean",
    # so the text is a way of asking for it; a probability bar, unlike a cosine, means the same for every bot
    faq_offered: bool = False


Judge = Callable[[Sequence[str], np.ndarray], list[Judgement]]


def bot_judge(bot) -> Judge:
    """A `Judge` from a loaded `Bot`: its intent classifier's out-of-scope flag and its FAQ search's
    calibrated confidence, on the embeddings of its own serving encoder (what it answered with)."""

    def judge(texts: Sequence[str], vectors: np.ndarray) -> list[Judgement]:
        predictions = bot.classifier.predict(vectors) if bot.classifier is not None else [None] * len(texts)
        out = []
        for text, vector, prediction in zip(texts, vectors, predictions):
            hits = bot.knowledge.search(text, vector, k=1)
            top = hits[0] if hits else None
            in_scope = prediction is not None and not prediction.out_of_scope
            # as the bot itself decides: a text as near one of its non-FAQ examples (small talk, handoff,
            # out of scope) as to the FAQ is not a way of asking for an entry
            offered = (
                in_scope
                and top is not None
                and top.score >= bot.policy.faq_suggest
                and not bot.knowledge.looks_offtopic(vector, top)
            )
            out.append(
                Judgement(
                    not in_scope,
                    top.entry_id if top else None,
                    float(top.score) if top else 0.0,
                    prediction.intent if in_scope else None,
                    float(prediction.confidence) if in_scope else 0.0,
                    offered,
                )
            )
        return out

    return judge


def propose(
    project: Project,
    store: ConversationLog,
    encode: Encode,
    *,
    cluster_threshold: float = 0.7,
    min_similarity: float = 0.5,
    judge: Judge | None = None,
    intent_threshold: float = 0.5,
) -> list[Proposal]:
    """Proposals from the log, grouped by cluster (largest first), best match first inside a cluster.

    With `judge` (the bot's own view, `bot_judge`), a text without evidence in the log is paired with the FAQ
    entry the bot would offer for it (in scope, at least its suggest threshold), else with the respond/handoff
    intent its classifier puts it in (in scope, at `intent_threshold` or more); anything else is `add_to: new`
    (off-topic or not yet covered), however close its words are by cosine. Without a judge, the nearest phrasing
    at cosine `min_similarity` or more."""
    turns = store.turns()
    known = _known_phrasings(project)
    distinct = [
        (text, n)
        for text, n in insights.distinct_texts(t.text for t in insights.unanswered(turns))
        if insights.fold(text) not in known
    ]
    if not distinct:
        return []
    resolved: dict[str, Counter] = {}
    for found in insights.resolutions(turns):
        resolved.setdefault(insights.fold(found.text), Counter())[(found.entry_id, found.via)] += 1
    texts = [text for text, _ in distinct]
    counts = [n for _, n in distinct]
    vectors = encode(texts)
    clusters = insights.cluster(texts, counts, vectors, cluster_threshold)
    row_of = {text: i for i, text in enumerate(texts)}
    targets = _Targets(project, encode)
    judged = judge(texts, vectors) if judge is not None else None
    proposals = []
    for group in clusters:
        cluster_votes: Counter = Counter()
        voter: dict[tuple[str, str], str] = {}  # which member's conversation showed the resolution
        for text in group.texts:
            for vote in resolved.get(insights.fold(text), Counter()):
                voter.setdefault(vote, text)
            cluster_votes.update(resolved.get(insights.fold(text), Counter()))
        for text in group.texts:
            own = resolved.get(insights.fold(text))
            votes = own or cluster_votes
            i = row_of[text]
            if votes and votes.most_common(1)[0][0][0] in targets.entries:
                (entry_id, via), _ = votes.most_common(1)[0]
                where = "this question" if own else f"a question like it ({voter[(entry_id, via)]!r})"
                action = "picked the suggestion" if via == "picked suggestion" else "rephrased"
                evidence = f"after {where}, the user {action} and got the answer of '{entry_id}'"
                proposals.append(
                    Proposal(
                        text,
                        FAQ,
                        entry_id,
                        targets.entries[entry_id],
                        round(targets.similarity_to(vectors[i], FAQ, entry_id), 3),
                        counts[i],
                        evidence,
                        group.representative,
                    )
                )
                continue
            kind, target, similarity = targets.nearest(vectors[i])
            verdict = judged[i] if judged is not None else None
            if verdict is not None:
                proposals.append(
                    _judged(text, verdict, targets, vectors[i], counts[i], group.representative, intent_threshold)
                )
            elif similarity >= min_similarity:
                label = targets.entries[target] if kind == FAQ else targets.intents[target]
                proposals.append(
                    Proposal(
                        text,
                        kind,
                        target,
                        label,
                        round(similarity, 3),
                        counts[i],
                        f"nearest by meaning (cosine {similarity:.2f})",
                        group.representative,
                    )
                )
            else:
                proposals.append(
                    Proposal(
                        text,
                        NEW,
                        None,
                        "",
                        round(similarity, 3),
                        counts[i],
                        f"nothing close: best was '{target}' at {similarity:.2f}",
                        group.representative,
                    )
                )
    return proposals


def _judged(
    text: str,
    verdict: Judgement,
    targets: "_Targets",
    vector: np.ndarray,
    asked: int,
    cluster: str,
    intent_threshold: float,
) -> Proposal:
    entry_id = verdict.faq_entry
    if entry_id in targets.entries and verdict.faq_offered:
        return Proposal(
            text,
            FAQ,
            entry_id,
            targets.entries[entry_id],
            round(targets.similarity_to(vector, FAQ, entry_id), 3),
            asked,
            f"the bot's FAQ confidence P(right) {verdict.faq_confidence:.2f}",
            cluster,
        )
    intent = verdict.intent
    if intent in targets.intents and verdict.intent_confidence >= intent_threshold:
        return Proposal(
            text,
            INTENT,
            intent,
            targets.intents[intent],
            round(targets.similarity_to(vector, INTENT, intent), 3),
            asked,
            f"the bot's intent classifier: '{intent}' at {verdict.intent_confidence:.2f}",
            cluster,
        )
    why = "its out-of-scope check flags it" if verdict.out_of_scope else "no intent or FAQ entry fits"
    return Proposal(
        text,
        NEW,
        None,
        "",
        0.0,
        asked,
        f"off-topic for the bot ({why}; best FAQ entry '{entry_id}' at P(right) "
        f"{verdict.faq_confidence:.2f}): add an entry only if it belongs in your bot",
        cluster,
    )


class _Targets:
    """Every phrasing the bot already knows, embedded once, to find what a new text is closest to."""

    def __init__(self, project: Project, encode: Encode):
        self.entries = {e.id: e.question for e in project.knowledge}
        self.intents = {i.name: i.examples[0] for i in project.intents.intents if i.route is not Route.FAQ}
        rows: list[tuple[str, str]] = [(FAQ, e.id) for e in project.knowledge for _ in e.phrasings]
        texts = [t for e in project.knowledge for t in e.phrasings]
        for intent in project.intents.intents:
            if intent.route is not Route.FAQ:  # faq-routed intents defer to the knowledge base
                rows += [(INTENT, intent.name)] * len(intent.examples)
                texts += list(intent.examples)
        self.rows = rows
        self.vectors = encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)

    def nearest(self, vector: np.ndarray) -> tuple[str, str, float]:
        if not self.rows:
            return NEW, "", 0.0
        scores = self.vectors @ vector
        best = int(np.argmax(scores))
        return self.rows[best][0], self.rows[best][1], float(scores[best])

    def similarity_to(self, vector: np.ndarray, kind: str, target: str) -> float:
        mask = [i for i, row in enumerate(self.rows) if row == (kind, target)]
        return float(np.max(self.vectors[mask] @ vector)) if mask else 0.0


def _known_phrasings(project: Project) -> set[str]:
    known = {insights.fold(t) for e in project.knowledge for t in e.phrasings}
    known |= {insights.fold(t) for i in project.intents.intents for t in i.examples}
    return known


# -- the review file ----------------------------------------------------------------------------------


def write_review(path: Path, proposals: Sequence[Proposal]) -> Path:
    """Write proposals for review, keeping the author's earlier `accept` / `target` edits of the same text."""
    earlier = {insights.fold(p.text): p for p in read_review(path)} if path.exists() else {}
    merged = []
    for proposal in proposals:
        before = earlier.get(insights.fold(proposal.text))
        if before is not None and before.accept:
            proposal = replace(proposal, add_to=before.add_to, target=before.target, accept=True)
        merged.append(proposal)
    return _write(path, merged)


def _write(path: Path, proposals: Sequence[Proposal]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump({"proposals": [asdict(p) for p in proposals]}, sort_keys=False, allow_unicode=True, width=110)
    path.write_text(_HEADER + body, encoding="utf-8")
    return path


def read_review(path: Path) -> list[Proposal]:
    """Read a review file; a wrong edit is an error naming the proposal and the fix."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: run `smallbot learn DIR` first to write proposals") from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path} is not valid YAML ({exc}): fix the edit or delete the file and rerun learn"
        ) from None
    items = data.get("proposals") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path} must be a mapping with a 'proposals:' list")
    fields = set(Proposal.__dataclass_fields__)
    proposals = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not {"text", "add_to", "target"} <= set(item):
            raise ConfigError(f"{path}: proposal {number} needs text, add_to and target")
        if item["add_to"] not in (FAQ, INTENT, NEW):
            raise ConfigError(f"{path}: proposal {number} has add_to {item['add_to']!r}: use faq, intent or new")
        if not isinstance(item.get("accept", False), bool):
            raise ConfigError(f"{path}: proposal {number}: accept must be true or false, got {item['accept']!r}")
        values = {k: v for k, v in item.items() if k in fields}
        values.setdefault("target_text", "")
        values.setdefault("similarity", 0.0)
        values.setdefault("asked", 1)
        values.setdefault("evidence", "")
        values.setdefault("cluster", values["text"])
        values["text"] = str(values["text"]).strip()
        proposals.append(Proposal(**values))
    return proposals


def forget_texts(path: Path, texts: Sequence[str]) -> int:
    """Erase `texts` (the messages of an erased conversation that no other logged turn holds) from a review
    file: their proposals go, and a cluster name or evidence quoting one is rewritten. Returns how many
    proposals went; the file is removed when none is left. `smallbot forget` calls it so an erasure request
    leaves no copy in `learn/`."""
    if not path.exists() or not texts:
        return 0
    gone = {insights.fold(t) for t in texts}
    kept = []
    for proposal in read_review(path):
        if insights.fold(proposal.text) in gone:
            continue
        if insights.fold(proposal.cluster) in gone:
            proposal = replace(proposal, cluster=proposal.text)
        if any(repr(t) in proposal.evidence for t in texts):
            proposal = replace(proposal, evidence=re.sub(r"\(.*\)", "(an erased question)", proposal.evidence, count=1))
        kept.append(proposal)
    removed = len(read_review(path)) - len(kept)
    if kept:
        _write(path, kept)
    else:
        path.unlink()
    return removed


# -- applying accepted proposals ----------------------------------------------------------------------


def apply_review(root: Path, review: Path | None = None) -> Applied:
    """Append accepted proposals to the project's files; the applied ones leave the review file.

    Every changed file is checked by loading the project again; if that fails, every file is restored
    and the error says what went wrong.
    """
    project = load_project(root)
    review = review or project.root / REVIEW_FILE
    proposals = read_review(review)
    entries = {e.id: e for e in project.knowledge}
    intents = {i.name: i for i in project.intents.intents}
    known = _known_phrasings(project)
    originals: dict[Path, str] = {}
    done: list[Proposal] = []
    skipped: list[str] = []
    counts: Counter[str] = Counter()
    for proposal in proposals:
        if not proposal.accept:
            continue
        key = insights.fold(proposal.text)
        if proposal.add_to == NEW or not proposal.target:
            skipped.append(f"{proposal.text!r}: no FAQ entry to add it to; write a new entry for it by hand")
            continue
        insert: Callable[[str], str]
        if proposal.add_to == FAQ and proposal.target in entries:
            entry = entries[proposal.target]
            path = project.root / entry.file
            insert = functools.partial(_add_faq_alternate, path, entry=entry, new=proposal.text)
        elif proposal.add_to == INTENT and proposal.target in intents:
            intent = intents[proposal.target]
            path = project.root / intent.file
            insert = functools.partial(
                _insert_yaml,
                list_key="intents",
                id_key="name",
                id_value=intent.name,
                field="examples",
                new=proposal.text,
                anchor="name",
                source=str(path),
            )
        else:
            skipped.append(
                f"{proposal.text!r}: no {proposal.add_to} '{proposal.target}' in {project.root}; "
                "fix `target` in the review file"
            )
            continue
        if key in known:
            done.append(proposal)  # already there (applied before, or added by hand)
            continue
        originals.setdefault(path, path.read_text(encoding="utf-8"))
        path.write_text(insert(path.read_text(encoding="utf-8")), encoding="utf-8")
        known.add(key)
        done.append(proposal)
        counts[proposal.add_to] += 1
    try:
        load_project(root)
    except ProjectError as exc:
        for path, text in originals.items():
            path.write_text(text, encoding="utf-8")
        raise ConfigError(f"applying {review} would break the project, so nothing was changed:\n{exc}") from None
    remaining = [p for p in proposals if p not in done]
    write_review(review, remaining) if remaining else review.unlink()
    return Applied(
        counts[FAQ], counts[INTENT], tuple(skipped), tuple(sorted(str(p.relative_to(project.root)) for p in originals))
    )


def _add_faq_alternate(path: Path, text: str, entry, new: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yml", ".yaml"):
        return _insert_yaml(text, "faqs", "id", entry.id, "alternates", new, anchor="question", source=str(path))
    if suffix == ".csv":
        return _insert_csv(text, entry.id, new)
    if suffix == ".md":
        return _insert_markdown(text, entry.question, new)
    raise ConfigError(f"cannot add alternates to {path}: unsupported file type")


def _insert_yaml(
    text: str,
    list_key: str,
    id_key: str,
    id_value: str,
    field: str,
    new: str,
    *,
    anchor: str,
    source: str = "<yaml>",
) -> str:
    """Append `new` to `field` of the item whose `id_key` is `id_value`, through ruamel.yaml's round trip, so
    comments, key order, quoting, flow or block style and the indentation of the author's file stay as written.

    `source` names the file in errors, with the line where the problem is.
    """
    try:
        _, indent, offset = load_yaml_guess_indent(text)
        rt = YAML()  # round-trip mode
        rt.preserve_quotes = True
        rt.width = 1_000_000  # never re-wrap an author's long line
        if indent:
            rt.indent(mapping=indent - offset if offset else indent, sequence=indent, offset=offset or 0)
        rt.explicit_start = bool(re.search(r"^---[ \t]*$", text, re.M))
        data = rt.load(text)
    except RuamelError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{where}: not valid YAML ({problem}): fix it, then apply again") from None
    item = _find_item(data, list_key, id_key, id_value)
    value = item.get(field)
    if isinstance(value, list):
        value.append(new)
    elif value is None or isinstance(value, str):  # `alternates:` left empty, or one string
        items = CommentedSeq([value, new] if value else [new])
        items.fa.set_flow_style()
        if field in item:
            item[field] = items
        else:
            keys = list(item)
            item.insert(keys.index(anchor) + 1 if anchor in keys else len(keys), field, items)
    else:
        line = item.lc.key(field)[0] + 1
        raise ConfigError(
            f"{source}:{line}: '{field}' of '{id_value}' is neither a list nor empty: fix it, then apply again"
        )
    out = io.StringIO()
    rt.dump(data, out)
    return out.getvalue()


def _find_item(data: object, list_key: str, id_key: str, id_value: str) -> CommentedMap:
    items = data.get(list_key) if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, CommentedMap) and item.get(id_key) == id_value:
            return item
    raise ConfigError(f"no '{id_value}' under '{list_key}' any more: run `smallbot learn` again")


def _insert_csv(text: str, entry_id: str, new: str) -> str:
    newline = "\r\n" if "\r\n" in text else "\n"
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    fields = list(reader.fieldnames or [])
    rows = list(reader)
    if "alternates" not in fields:
        fields.insert(fields.index("question") + 1, "alternates")
    for row in rows:
        if row.get("id") == entry_id:
            row["alternates"] = " | ".join(
                p for p in [(row.get("alternates") or "").strip(), new.replace("|", "/")] if p
            )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator=newline)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _insert_markdown(text: str, question: str, new: str) -> str:
    lines = text.splitlines(keepends=True)
    heading = next((i for i, line in enumerate(lines) if line.startswith("## ") and line[3:].strip() == question), None)
    if heading is None:
        raise ConfigError(f"no '## {question}' heading any more: run `smallbot learn` again")
    start = heading + 1  # the line after the heading
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    item = f"- {new}\n"
    for i in range(start, end):
        match = re.match(r"^\s*alternates\s*:\s*(.*)$", lines[i].rstrip("\n"), re.IGNORECASE)
        if match and match.group(1).strip():
            lines[i] = lines[i].rstrip("\n") + f", {new.replace(',', ' ')}\n"
            return "".join(lines)
        if match:
            j = i + 1
            while j < end and lines[j].strip().startswith(("- ", "* ")):
                j += 1
            lines.insert(j, item)
            return "".join(lines)
    block = ["alternates:\n", item]
    if start < len(lines) and lines[start].strip():
        block.append("\n")  # a blank line ends the list before the answer starts
    lines[start:start] = block
    return "".join(lines)
