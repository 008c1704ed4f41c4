-- Passkeys (API 6.5): WebAuthn credentials registered by signed-in users, and the
-- challenges of ceremonies in flight.
--  * auth_user_id: the identity (provider "passkey", entity_id = the credential id) that
--    sessions signed in with this passkey hang on; deleting the identity removes the
--    passkey, and the sessions go with the identity.
--  * credential: webauthn-rs's serialized credential (public key, algorithm, flags); no
--    secret: the private key never leaves the authenticator.
--  * sign_count: the authenticator's signature counter last accepted; a non-zero counter
--    that does not increase marks a cloned authenticator and is refused.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id),
    auth_user_id  TEXT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    credential    TEXT NOT NULL,
    sign_count    BIGINT NOT NULL,
    name          TEXT,
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- A ceremony's server-side state, found by the SHA-256 of its challenge and taken (deleted)
-- when used, so each challenge is answered once. A registration belongs to the session that
-- began it (session_id, user_id); a sign-in is also bound to its browser through the flow
-- store (oauth_states, provider "passkey"), like a redirect flow.
CREATE TABLE webauthn_challenges (
    challenge_hash TEXT PRIMARY KEY NOT NULL,
    purpose        TEXT NOT NULL,
    user_id        TEXT,
    session_id     TEXT,
    state          TEXT NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    CHECK (purpose IN ('registration', 'authentication')),
    CHECK ((purpose = 'registration') = (session_id IS NOT NULL AND user_id IS NOT NULL))
);
CREATE INDEX webauthn_challenges_session_id ON webauthn_challenges (session_id);
CREATE INDEX webauthn_challenges_user_id ON webauthn_challenges (user_id);
CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges (expires_at);
