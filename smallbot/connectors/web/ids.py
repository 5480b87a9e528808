"""Conversation ids the web API issues, so a client cannot pick (or guess) another client's conversation.

An id is 16 random bytes and an HMAC-SHA256 tag of them under a key kept in the bot's build directory
(`.smallbot/web/conversation.key`, created on first use): every worker process serving the bot, and the
same server after a restart, accepts the ids any of them issued, and nothing else. Only the client that
got an id in a reply holds it. Server-to-server callers that must use their own ids (a ticket number)
send the API key instead (`web.api_key` in bot.yml).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = Path("web") / "conversation.key"
_RANDOM_BYTES = 16
_TAG_BYTES = 16


class ConversationIds:
    """Issues and checks conversation ids.

    >>> ids = ConversationIds(b"k" * 32)
    >>> ids.verify(ids.issue()), ids.verify("aaaaaaaa")
    (True, False)
    """

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("a conversation id key needs at least 16 bytes")
        self._key = key

    def issue(self) -> str:
        nonce = _b64(secrets.token_bytes(_RANDOM_BYTES))
        return nonce + self._tag(nonce)

    def verify(self, conversation_id: str) -> bool:
        if not conversation_id.isascii():
            return False
        cut = len(_b64(bytes(_RANDOM_BYTES)))
        nonce, tag = conversation_id[:cut], conversation_id[cut:]
        return len(tag) == len(_b64(bytes(_TAG_BYTES))) and hmac.compare_digest(tag, self._tag(nonce))

    def _tag(self, nonce: str) -> str:
        return _b64(hmac.new(self._key, nonce.encode("ascii"), hashlib.sha256).digest()[:_TAG_BYTES])


def load_key(build_dir: Path | None) -> bytes:
    """The bot's id key, created once (atomically, so workers starting together agree on one); a bot
    without a build directory gets a key for this process only."""
    if build_dir is None:
        return secrets.token_bytes(32)
    path = build_dir / KEY_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails if another process got there first: then its key is the key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read(path)


def _read(path: Path) -> bytes:
    return path.read_bytes()  # never torn: it appears in one link() of a complete file


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
