-- Second factors (API 6.5): one TOTP secret per user, its recovery codes, and the tickets
-- that stand between a passed first factor and a session.
--  * secret: base32, kept readable because verifying a code needs it; confirmed_at is null
--    while enrolment is unconfirmed (nothing active yet).
--  * last_used_step: the newest RFC 6238 time step accepted; a code is taken only by a
--    conditional UPDATE raising it, so one code cannot pass twice, even in parallel.
CREATE TABLE totp_factors (
    user_id        TEXT PRIMARY KEY NOT NULL,
    secret         TEXT NOT NULL,
    confirmed_at   TIMESTAMP,
    last_used_step BIGINT,
    created_at     TIMESTAMP NOT NULL
);

-- Only the SHA-256 of each code is stored; used_at set means spent.
CREATE TABLE recovery_codes (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    used_at    TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- A first factor passed by a user with a second one: bound to the user and the identity
-- used, so the session it leads to records the right one. Single use: taken by delete.
CREATE TABLE mfa_tickets (
    ticket_hash  TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL,
    auth_user_id TEXT NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX mfa_tickets_user_id ON mfa_tickets (user_id);
CREATE INDEX mfa_tickets_expires_at ON mfa_tickets (expires_at);
