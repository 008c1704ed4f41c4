-- Sliding sessions (API.md 6.7): when each session was last used. Sessions signed in before
-- this migration count as last used when they were created.
--
-- SQLite adds a NOT NULL column only with a constant default (not a column or a function),
-- so the column gets a placeholder default that the UPDATE overwrites at once; the server
-- always writes the column itself, so the default is never what a session holds.
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE sessions SET last_seen_at = created_at;
