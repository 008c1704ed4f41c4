-- Started redirect flows (API 6.1), made anew:
--  * binding_hash: the SHA-256 of the binding cookie of the client that started the flow;
--    only that client can finish it.
--  * client_address: who started it, so that one address keeps a bounded number open.
--  * invite_token_hash: the invite token the flow was started with; a refresh (new token)
--    or a delete ends the flow. invite_id is no longer a foreign key: a deleted invite must
--    leave its flows to fail with the invite's own message, not vanish into unknown states.
-- SQLite cannot drop a constraint, so the table is replaced. Flows in flight hold no
-- binding and could never finish now; they are dropped with it (they lived 10 minutes).
DROP TABLE oauth_states;

CREATE TABLE oauth_states (
    state_hash        TEXT PRIMARY KEY NOT NULL,
    provider          TEXT NOT NULL,
    binding_hash      TEXT NOT NULL,
    client_address    TEXT NOT NULL,
    pkce_verifier     TEXT NOT NULL,
    nonce             TEXT NOT NULL,
    redirect_uri      TEXT NOT NULL,
    invite_id         TEXT,
    invite_token_hash TEXT,
    expires_at        TIMESTAMP NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    CHECK ((invite_id IS NULL) = (invite_token_hash IS NULL))
);
-- The per-address count of open flows.
CREATE INDEX oauth_states_client_address ON oauth_states (client_address, expires_at);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);
