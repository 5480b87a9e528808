"""What the shared conversation state costs per message (smallbot/runtime/conversation.py).

    python benchmarks/state_read.py

Every message pays `could_follow_up` (is it a number, yes / no, or a question's text?); only those that could
be a follow-up read the conversation's last 4 turns back from the store and derive the state. Measured here on
a store of 20000 turns in 2000 conversations; prints microseconds per call, 3 runs of 5000 calls each.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from smallbot.runtime.conversation import could_follow_up, fold_question, state_from_turns, STATE_TTL_S
from smallbot.store.sqlite import SQLiteStore
from smallbot.types import Message, Reply, ReplyKind, Suggestion

with tempfile.TemporaryDirectory() as tmp:
    store = SQLiteStore(Path(tmp) / "x.sqlite3")
    for i in range(20000):  # 2000 conversations of 10 turns
        c = f"conv-{i % 2000}"
        kind = ReplyKind.SUGGEST if i % 3 == 0 else ReplyKind.ANSWER
        offered = (Suggestion("refund", "Can I get a refund?"), Suggestion("b", "B?"))
        store.log_turn(Message(c, "how do I get a refund for an order?"),
                       Reply(kind, "Did you mean?", c, suggestions=offered if kind is ReplyKind.SUGGEST else (),
                             timings={"total": 4.0, "encode": 3.0}))

    def read_state(conversation: str):
        since = time.time() - STATE_TTL_S
        return state_from_turns(store.turns(conversation, since=since, last=4), lambda i: Suggestion(i, i), since)

    questions = frozenset(fold_question(q) for q in ("Can I get a refund?", "How do I reset my password?"))
    for label, fn in [("store.turns(last=4) + state_from_turns", read_state),
                      ("could_follow_up", lambda c: could_follow_up("how do I get a refund for my order?", questions))]:
        for run in range(3):
            t0 = time.perf_counter()
            for i in range(5000):
                fn(f"conv-{i % 2000}")
            print(f"{label}: {(time.perf_counter() - t0) / 5000 * 1e6:.1f} us per call")
    store.close()
