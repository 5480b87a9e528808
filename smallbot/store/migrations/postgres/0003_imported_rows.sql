-- Rows copied from an SQLite log by `smallbot migrate`: which source row became which row here, so that
-- running the copy again adds only what is new. A copied row's mapping goes with it (forget, retention).
CREATE TABLE imported_messages (
    source TEXT NOT NULL,
    source_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (source, source_id)
);
CREATE INDEX imported_messages_by_message ON imported_messages (message_id);

CREATE TABLE imported_feedback (
    source TEXT NOT NULL,
    source_id BIGINT NOT NULL,
    feedback_id BIGINT NOT NULL REFERENCES feedback (id) ON DELETE CASCADE,
    PRIMARY KEY (source, source_id)
);
CREATE INDEX imported_feedback_by_feedback ON imported_feedback (feedback_id);

CREATE TABLE imported_handoffs (
    source TEXT NOT NULL,
    source_id BIGINT NOT NULL,
    handoff_id BIGINT NOT NULL REFERENCES handoffs (id) ON DELETE CASCADE,
    PRIMARY KEY (source, source_id)
);
CREATE INDEX imported_handoffs_by_handoff ON imported_handoffs (handoff_id);
