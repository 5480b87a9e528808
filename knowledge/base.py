"""The knowledge base the router queries: entries, their phrasing vectors in FAISS, the lexical matcher,
fused scores, and the calibrated answer / suggest bands. Serving reads JSON + a FAISS file only."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from smallbot.errors import ArtifactError
from smallbot.types import Hit

from .entries import FaqEntry
from .index import FaissIndex
from .lexical import LexicalMatcher

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Bands:
    """Fused-score thresholds: >= answer gives one verbatim answer, >= suggest offers 'did you mean'."""

    answer: float = 0.75
    suggest: float = 0.55
    lexical_weight: float = 0.15  # share of the rapidfuzz score in the fused confidence


class KnowledgeBase:
    """Search FAQ entries by a query's text and embedding.

    >>> kb = KnowledgeBase.load(Path("mybot/.smallbot/knowledge"))
    >>> kb.search("forgot my password", encoder.encode(["forgot my password"])[0])[0].entry_id
    'reset-password'
    """

    def __init__(self, entries: list[FaqEntry], row_entry: list[int], row_text: list[str],
                 index: FaissIndex, bands: Bands, metrics: dict | None = None):
        self.entries = list(entries)
        self.row_entry = list(row_entry)
        self.row_text = list(row_text)
        self.index = index
        self.bands = bands
        self.metrics = metrics or {}
        self.lexical = LexicalMatcher(self.row_text, [self.entries[i].id for i in self.row_entry])
        self._by_id = {entry.id: entry for entry in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, entry_id: str) -> FaqEntry:
        return self._by_id[entry_id]

    @classmethod
    def build(cls, entries: list[FaqEntry], encode, bands: Bands | None = None) -> "KnowledgeBase":
        """Embed every phrasing of every entry and index it (row id = position)."""
        row_entry = [i for i, entry in enumerate(entries) for _ in entry.phrasings]
        row_text = [text for entry in entries for text in entry.phrasings]
        vectors = encode(row_text) if row_text else np.zeros((0, 1), dtype=np.float32)
        index = FaissIndex(vectors.shape[1])
        if len(row_text):
            index.add(np.arange(len(row_text)), vectors)
        return cls(entries, row_entry, row_text, index, bands or Bands())

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

    def search(self, text: str, embedding: np.ndarray, k: int = 5, exclude_rows: frozenset[int] = frozenset()) -> list[Hit]:
        """Top-k entries by fused score (dense cosine blended with rapidfuzz WRatio)."""
        if not len(self.index):
            return []
        fetch = min(len(self.index), k * 4 + len(exclude_rows))
        scores, rows = self.index.search(np.asarray(embedding, dtype=np.float32), fetch)
        candidates = [(float(s), int(r)) for s, r in zip(scores[0], rows[0]) if r >= 0 and int(r) not in exclude_rows]
        lexical = self.lexical.scores_for(text, [r for _, r in candidates])
        w = self.bands.lexical_weight
        best: dict[int, Hit] = {}
        for (dense, row), lex in zip(candidates, lexical):
            entry_index = self.row_entry[row]
            fused = (1.0 - w) * max(dense, 0.0) + w * lex / 100.0
            current = best.get(entry_index)
            if current is None or fused > current.score:
                entry = self.entries[entry_index]
                best[entry_index] = Hit(entry.id, fused, entry.question, self.row_text[row], dense, lex / 100.0)
        return sorted(best.values(), key=lambda h: -h.score)[:k]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.index.save(directory / "index.faiss")
        (directory / "entries.json").write_text(json.dumps({
            "entries": [{k: v for k, v in asdict(e).items()} for e in self.entries],
            "row_entry": self.row_entry,
            "row_text": self.row_text,
        }))
        (directory / "config.json").write_text(json.dumps({
            "format_version": FORMAT_VERSION,
            "bands": asdict(self.bands),
            "metrics": self.metrics,
        }, indent=2))

    @classmethod
    def load(cls, directory: Path) -> "KnowledgeBase":
        paths = [directory / name for name in ("index.faiss", "entries.json", "config.json")]
        missing = [p.name for p in paths if not p.exists()]
        if missing:
            raise ArtifactError(f"knowledge artifacts missing in {directory} ({', '.join(missing)}): run `smallbot train`")
        config = json.loads(paths[2].read_text())
        if config.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(f"{paths[2]} has format {config.get('format_version')}, expected {FORMAT_VERSION}: "
                                "run `smallbot train --force`")
        data = json.loads(paths[1].read_text())
        entries = [FaqEntry(**{**e, "alternates": tuple(e["alternates"]), "tags": tuple(e["tags"]),
                               "links": tuple(e["links"])}) for e in data["entries"]]
        return cls(entries, data["row_entry"], data["row_text"], FaissIndex.load(paths[0]),
                   Bands(**config["bands"]), config.get("metrics"))
