"""Fine-tune the bot's encoder on its own FAQ phrasings so paraphrases of one entry land together.

The training loop is shared with the intent classifier (`smallbot.encoding.contrastive`); this module keeps
what is FAQ-specific: which phrasings are held out of tuning to calibrate the answer threshold (or to
compare tuning settings, `benchmarks/knowledge_select.py`); `crossval` cross-validates the tuning instead.
"""

from __future__ import annotations

import random

from smallbot.encoding.contrastive import FinetuneReport, FinetuneSettings, add_typo, finetune_encoder

__all__ = ["FinetuneReport", "FinetuneSettings", "add_typo", "finetune_encoder", "hold_out_split"]


def hold_out_split(entries, seed: int) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """(training phrasing groups, held-out (entry id, phrasing)): one alternate of every entry with 3+ phrasings
    is kept out of fine-tuning, so the answer threshold is calibrated on text the encoder never saw."""
    rng = random.Random(seed)
    groups, held = [], []
    for entry in entries:
        phrasings = list(dict.fromkeys(entry.phrasings))
        if len(phrasings) >= 3:
            pick = rng.choice(phrasings[1:])
            phrasings.remove(pick)
            held.append((entry.id, pick))
        groups.append(phrasings)
    return groups, held
