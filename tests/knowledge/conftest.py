"""Knowledge fixtures: a small knowledge base built with the real encoder, shared per module."""

from __future__ import annotations

import pytest

from smallbot.knowledge.base import KnowledgeBase

from tests.knowledge.knowledge_fixtures import ENTRIES


@pytest.fixture
def kb(encoder) -> KnowledgeBase:
    return KnowledgeBase.build(list(ENTRIES), encoder.encode)
