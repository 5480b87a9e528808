-- One token bucket per client key (the web API's client address), shared by every replica.
-- Rows of clients idle long enough for a full bucket are deleted: they carry no information.
CREATE TABLE rate_limits (
    client TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    allowed BOOLEAN NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX rate_limits_by_update ON rate_limits (updated_at);
