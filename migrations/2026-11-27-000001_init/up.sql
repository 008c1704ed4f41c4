-- One schema for SQLite and PostgreSQL: only types and syntax both accept.
-- Ids are UUID text; times are UTC TIMESTAMPs; JSON is stored as TEXT.

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL CHECK (email = lower(email)),
    first_name     TEXT,
    last_name      TEXT,
    avatar_url     TEXT,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    metadata       TEXT,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    deleted_at     TIMESTAMP
);
-- Emails are stored lower-cased (the CHECK), so this is the lower(email) uniqueness
-- among live users; a soft-deleted user frees the address.
CREATE UNIQUE INDEX users_email_live ON users (email) WHERE deleted_at IS NULL;
CREATE INDEX users_created_at ON users (created_at);

CREATE TABLE auth_users (
    id                TEXT PRIMARY KEY NOT NULL,
    provider          TEXT NOT NULL,
    entity_id         TEXT NOT NULL,
    user_id           TEXT REFERENCES users (id),
    provider_metadata TEXT,
    user_metadata     TEXT,
    app_metadata      TEXT,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    UNIQUE (provider, entity_id)
);
CREATE INDEX auth_users_user_id ON auth_users (user_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id),
    auth_user_id TEXT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    user_agent   TEXT,
    ip           TEXT,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE invites (
    id          TEXT PRIMARY KEY NOT NULL,
    email       TEXT NOT NULL CHECK (email = lower(email)),
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash  TEXT NOT NULL UNIQUE,
    accepted    BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at  TIMESTAMP NOT NULL,
    metadata    TEXT,
    created_by  TEXT REFERENCES users (id),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
-- At most one open invite per address; expired ones are removed before a new one is made.
CREATE UNIQUE INDEX invites_email_open ON invites (email) WHERE accepted = FALSE;

-- Single-use tokens mailed to people (password reset, e-mail verification).
CREATE TABLE one_time_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    purpose      TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id),
    auth_user_id TEXT REFERENCES auth_users (id) ON DELETE CASCADE,
    expires_at   TIMESTAMP NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX one_time_tokens_user_id ON one_time_tokens (user_id);

-- OAuth authorization requests in flight, kept in the database so that a flow started on
-- one instance can complete on another.
CREATE TABLE oauth_states (
    state_hash    TEXT PRIMARY KEY NOT NULL,
    provider      TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    invite_id     TEXT REFERENCES invites (id) ON DELETE CASCADE,
    expires_at    TIMESTAMP NOT NULL,
    created_at    TIMESTAMP NOT NULL
);

-- Sign-in attempts that count against the throttle, per account and per client address.
CREATE TABLE auth_attempts (
    id           TEXT PRIMARY KEY NOT NULL,
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX auth_attempts_subject ON auth_attempts (scope, subject, attempted_at);
