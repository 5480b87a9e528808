"""The knowledge base the router queries: entries, their phrasing vectors in FAISS, the lexical matcher,
fused scores turned into a calibrated confidence, and the answer / suggest bands on that confidence.
Serving reads JSON + a FAISS file only.

Every phrasing is one FAISS row with a stable integer id, so entries can be added, changed and
deleted in place (`upsert`, `delete`) and only new phrasings are encoded.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from smallbot.errors import ArtifactError
from smallbot.types import Hit

from .entries import FaqEntry
from .confidence import CANDIDATES, ConfidenceModel
from .index import APPROX_ABOVE, FaissIndex
from .lexical import LexicalMatcher

FORMAT_VERSION = 4  # 4: answers indexed as a row of their entry (`index_answers`)
ANSWER_CHARS = 600  # the encoder reads 128 tokens; the lexical score needs no more either
# a message at least this close (cosine) to one of the bot's own non-FAQ examples as to its best FAQ row is
# taken as not about this product: chosen on the example bot's validation messages (benchmarks/helpdesk_answers.py)
OFFTOPIC_MARGIN = 0.05
_MARKUP = re.compile(r"\]\([^)]*\)|https?://\S+|[*_`#>\[\]]")

Encode = Callable[[list[str]], np.ndarray]


def memoised(encode: Encode) -> Encode:
    """`encode` that embeds each distinct text once: training searches the phrasings it has just indexed, and a
    reload encodes new phrasings before it takes the search lock and must not encode them again under it."""
    seen: dict[str, np.ndarray] = {}

    def cached(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in seen]
        if missing:
            seen.update(zip(missing, encode(missing)))
        return np.stack([seen[t] for t in texts]) if len(texts) else encode([])

    return cached


@dataclass(frozen=True)
class Bands:
    """Confidence thresholds: >= answer gives one verbatim answer, >= suggest offers 'did you mean'.

    With a confidence model the thresholds are on P(right); without one (not calibrated) on the fused score.
    """

    answer: float = 0.75
    suggest: float = 0.55
    lexical_weight: float = 0.15  # share of the rapidfuzz score in the fused confidence


@dataclass(frozen=True)
class UpdateResult:
    """What an incremental update changed (entry ids) and how many phrasings it had to encode."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    encoded: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.deleted)


def answer_text(entry: FaqEntry) -> str:
    """The answer as it is indexed: Markdown markers and link targets dropped, whitespace squeezed."""
    return " ".join(_MARKUP.sub(" ", entry.answer).split())[:ANSWER_CHARS]


def _content(entry: FaqEntry) -> tuple:
    """What an entry says, without where it was written (a moved entry is not a changed one)."""
    return (entry.question, entry.alternates, entry.answer, entry.tags, entry.links, dict(entry.metadata))


class KnowledgeBase:
    """Search FAQ entries by a query's text and embedding.

    >>> kb = KnowledgeBase.load(Path("mybot/.smallbot/knowledge"))
    >>> kb.search("forgot my password", encoder.encode(["forgot my password"])[0])[0].entry_id
    'reset-password'
    """

    def __init__(
        self,
        entries: Iterable[FaqEntry],
        rows: dict[int, tuple[str, str]],
        index: FaissIndex,
        bands: Bands,
        metrics: dict | None = None,
        next_row: int | None = None,
        confidence: ConfidenceModel | None = None,
        index_answers: bool = False,
    ):
        self.index_answers = index_answers  # each entry's answer text is one more row of it
        self._by_id = {entry.id: entry for entry in entries}
        self.rows = dict(rows)  # row id -> (entry id, phrasing text)
        self.index = index
        self.bands = bands
        self.confidence = confidence  # None until calibrated: hits then carry the fused score
        self.metrics = metrics or {}
        # embeddings of the bot's own messages that must not get an FAQ answer (out_of_scope, small talk,
        # handoff examples): "cancel my netflix subscription" is nearer to one of those than to our cancel entry
        self.offtopic = np.zeros((0, index.dim), dtype=np.float32)
        self.next_row = next_row if next_row is not None else (max(self.rows) + 1 if self.rows else 0)
        self.lexical = LexicalMatcher(
            {row: text for row, (_, text) in self.rows.items()},
            {row: entry_id for row, (entry_id, _) in self.rows.items()},
        )

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def entries(self) -> list[FaqEntry]:
        return list(self._by_id.values())

    def entry(self, entry_id: str) -> FaqEntry:
        return self._by_id[entry_id]

    def rows_of(self, entry_id: str) -> list[int]:
        return [row for row, (owner, _) in self.rows.items() if owner == entry_id]

    def texts_of(self, entry: FaqEntry) -> tuple[str, ...]:
        """What an entry is indexed by: its phrasings, then its answer text when answers are indexed."""
        answer = answer_text(entry) if self.index_answers else ""
        return tuple(dict.fromkeys((*entry.phrasings, answer) if answer else entry.phrasings))

    def is_answer_row(self, row: int) -> bool:
        """Whether a row holds its entry's answer text rather than a way of asking (never a held-out query)."""
        entry_id, text = self.rows[row]
        return self.index_answers and text not in self._by_id[entry_id].phrasings

    @classmethod
    def build(
        cls,
        entries: list[FaqEntry],
        encode: Encode,
        bands: Bands | None = None,
        approx_above: int = APPROX_ABOVE,
        index_answers: bool = False,
    ) -> "KnowledgeBase":
        """Embed every phrasing of every entry (and its answer, with `index_answers`) and index it (exact or
        IVF by size)."""
        kb = cls(entries, {}, FaissIndex(1), bands or Bands(), index_answers=index_answers)
        texts = [(entry.id, text) for entry in entries for text in kb.texts_of(entry)]
        if texts:
            vectors = encode([t for _, t in texts])
            kb.index = FaissIndex.build(np.arange(len(texts)), vectors, approx_above=approx_above)
            kb.rows = dict(enumerate(texts))
            kb.next_row = len(texts)
            kb.lexical = LexicalMatcher(
                {row: text for row, (_, text) in kb.rows.items()},
                {row: entry_id for row, (entry_id, _) in kb.rows.items()},
            )
        return kb

    # -- incremental updates -----------------------------------------------------------------------

    def upsert(self, entries: Iterable[FaqEntry], encode: Encode) -> UpdateResult:
        """Add new entries and update changed ones in place; only phrasings not indexed yet are encoded."""
        added: list[str] = []
        changed: list[str] = []
        new_rows = []
        for entry in entries:
            old = self._by_id.get(entry.id)
            if old is not None and _content(old) == _content(entry):
                self._by_id[entry.id] = entry  # moved within its file: new line number, nothing to re-index
                continue
            (changed if old is not None else added).append(entry.id)
            keep = set(self.texts_of(entry))
            stale = [row for row in self.rows_of(entry.id) if self.rows[row][1] not in keep]
            have = {self.rows[row][1] for row in self.rows_of(entry.id)} - {self.rows[r][1] for r in stale}
            self._remove_rows(stale)
            self._by_id[entry.id] = entry
            for text in self.texts_of(entry):
                if text not in have:
                    new_rows.append((self.next_row, entry.id, text))
                    self.next_row += 1
        if new_rows:
            vectors = encode([text for _, _, text in new_rows])
            if len(self.index) == 0 and self.index.dim != vectors.shape[1]:
                self.index = FaissIndex(vectors.shape[1])
            self.index.add(np.array([row for row, _, _ in new_rows]), vectors)
            for row, entry_id, text in new_rows:
                self.rows[row] = (entry_id, text)
                self.lexical.add(row, text, entry_id)
        return UpdateResult(tuple(added), tuple(changed), (), len(new_rows))

    def delete(self, entry_ids: Iterable[str]) -> UpdateResult:
        """Remove entries and their phrasing rows from the index and the lexical matcher."""
        deleted = []
        for entry_id in entry_ids:
            if self._by_id.pop(entry_id, None) is not None:
                deleted.append(entry_id)
                self._remove_rows(self.rows_of(entry_id))
        return UpdateResult(deleted=tuple(deleted))

    def sync(self, entries: list[FaqEntry], encode: Encode) -> UpdateResult:
        """Make the knowledge base hold exactly `entries` (upsert them, delete the rest)."""
        wanted = {entry.id for entry in entries}
        gone = self.delete([entry_id for entry_id in self._by_id if entry_id not in wanted])
        done = self.upsert(entries, encode)
        # keep the authors' file order for listings
        self._by_id = {entry.id: self._by_id[entry.id] for entry in entries}
        return UpdateResult(done.added, done.changed, gone.deleted, done.encoded)

    def _remove_rows(self, rows: list[int]) -> None:
        if not rows:
            return
        self.index.remove(np.array(rows))
        for row in rows:
            del self.rows[row]
            self.lexical.remove(row)

    # -- search ------------------------------------------------------------------------------------

    def set_offtopic(self, vectors: np.ndarray) -> None:
        """The embeddings `looks_offtopic` compares a message with (the bot's own non-FAQ examples)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        self.offtopic = vectors if vectors.ndim == 2 else np.zeros((0, self.index.dim), dtype=np.float32)

    def looks_offtopic(self, embedding: np.ndarray, top: Hit) -> bool:
        """Whether the message is about as close to one of the bot's non-FAQ examples as to its best FAQ row."""
        if not len(self.offtopic) or self.offtopic.shape[1] != len(embedding):
            return False
        nearest = float((self.offtopic @ np.asarray(embedding, dtype=np.float32)).max())
        return nearest >= top.dense_score - OFFTOPIC_MARGIN

    def fast_path(self, text: str, min_ratio: float) -> Hit | None:
        """An exact or near-exact phrasing match found without the encoder."""
        entry_id = self.lexical.exact(text)
        score = 100.0
        matched = text
        if entry_id is None:
            found = self.lexical.best(text, score_cutoff=min_ratio)
            if found is None:
                return None
            entry_id, score, matched = found
        entry = self._by_id[entry_id]
        return Hit(entry_id, score / 100.0, entry.question, matched, dense_score=0.0, lexical_score=score / 100.0)

    def search(
        self, text: str, embedding: np.ndarray, k: int = 5, exclude_rows: frozenset[int] = frozenset()
    ) -> list[Hit]:
        """Top-k entries by calibrated confidence P(right) (by fused score when not calibrated)."""
        hits = self.candidates(text, embedding, max(k, CANDIDATES), exclude_rows)
        if self.confidence is not None:
            hits = self.confidence.rescore(hits, text)
        return hits[:k]

    def candidates(
        self, text: str, embedding: np.ndarray, k: int = CANDIDATES, exclude_rows: frozenset[int] = frozenset()
    ) -> list[Hit]:
        """Top-k entries by fused score (dense cosine blended with rapidfuzz WRatio): what the confidence reads."""
        if not len(self.index):
            return []
        fetch = min(len(self.index), k * 4 + len(exclude_rows))
        scores, rows = self.index.search(np.asarray(embedding, dtype=np.float32), fetch)
        candidates = [(float(s), int(r)) for s, r in zip(scores[0], rows[0]) if r >= 0 and int(r) not in exclude_rows]
        lexical = self.lexical.scores_for(text, [r for _, r in candidates])
        w = self.bands.lexical_weight
        best: dict[str, Hit] = {}
        for (dense, row), lex in zip(candidates, lexical):
            entry_id, phrasing = self.rows[row]
            fused = (1.0 - w) * max(dense, 0.0) + w * lex / 100.0
            current = best.get(entry_id)
            if current is None or fused > current.score:
                entry = self._by_id[entry_id]
                best[entry_id] = Hit(entry_id, fused, entry.question, phrasing, dense, lex / 100.0)
        return sorted(best.values(), key=lambda h: -h.score)[:k]

    # -- artifacts ---------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.index.save(directory / "index.faiss")
        (directory / "entries.json").write_text(
            json.dumps(
                {
                    "entries": [asdict(e) for e in self._by_id.values()],
                    "rows": [[row, entry_id, text] for row, (entry_id, text) in self.rows.items()],
                    "next_row": self.next_row,
                }
            )
        )
        (directory / "config.json").write_text(
            json.dumps(
                {
                    "format_version": FORMAT_VERSION,
                    "bands": asdict(self.bands),
                    "index_answers": self.index_answers,
                    "index": {
                        "kind": self.index.kind,
                        "nprobe": self.index.nprobe,
                        "ef_search": self.index.ef_search,
                        "rows": len(self.index),
                        "tombstones": self.index.tombstones,
                    },
                    "metrics": self.metrics,
                },
                indent=2,
            )
        )
        np.save(directory / "offtopic.npy", self.offtopic)
        confidence = directory / "confidence.json"
        if self.confidence is not None:
            confidence.write_text(json.dumps(self.confidence.to_dict(), indent=2))
        elif confidence.exists():
            confidence.unlink()

    @classmethod
    def load(cls, directory: Path) -> "KnowledgeBase":
        paths = [directory / name for name in ("index.faiss", "entries.json", "config.json")]
        missing = [p.name for p in paths if not p.exists()]
        if missing:
            raise ArtifactError(
                f"knowledge artifacts missing in {directory} ({', '.join(missing)}): run `smallbot train`"
            )
        config = json.loads(paths[2].read_text())
        if config.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{paths[2]} has format {config.get('format_version')}, expected {FORMAT_VERSION}: "
                "run `smallbot train --force`"
            )
        data = json.loads(paths[1].read_text())
        entries = [
            FaqEntry(
                **{**e, "alternates": tuple(e["alternates"]), "tags": tuple(e["tags"]), "links": tuple(e["links"])}
            )
            for e in data["entries"]
        ]
        rows = {int(row): (entry_id, text) for row, entry_id, text in data["rows"]}
        index = FaissIndex.load(paths[0])
        if len(index) != len(rows):
            raise ArtifactError(
                f"{paths[0]} holds {len(index)} vectors but {paths[1]} lists {len(rows)} phrasings: "
                "run `smallbot train --force`"
            )
        confidence_path = directory / "confidence.json"
        confidence = (
            ConfidenceModel.from_dict(json.loads(confidence_path.read_text())) if confidence_path.exists() else None
        )
        kb = cls(
            entries,
            rows,
            index,
            Bands(**config["bands"]),
            config.get("metrics"),
            data.get("next_row"),
            confidence,
            bool(config.get("index_answers", False)),
        )
        if (directory / "offtopic.npy").exists():
            kb.set_offtopic(np.load(directory / "offtopic.npy"))
        return kb
