//! Rows the fast paths' tests read on both backends: a live session of a live user, an
//! expired one, and a live one of a deleted user.

pub(crate) const SEED: &str = "
    INSERT INTO users (id, email, role, email_verified, created_at, updated_at, metadata, first_name)
        VALUES ('u1', 'ada@example.com', 'admin', true, '2026-01-01 10:00:00.123456', '2026-01-02 10:00:00',
                '{\"team\":\"a\"}', 'Ada'),
               ('u2', 'gone@example.com', 'member', false, '2026-01-01 10:00:00', '2026-01-01 10:00:00', NULL, NULL);
    UPDATE users SET deleted_at = '2026-02-01 00:00:00' WHERE id = 'u2';
    INSERT INTO auth_users (id, provider, entity_id, user_id, created_at, updated_at)
        VALUES ('a1', 'emailpass', 'ada@example.com', 'u1', '2026-01-01 10:00:00', '2026-01-01 10:00:00'),
               ('a2', 'emailpass', 'gone@example.com', 'u2', '2026-01-01 10:00:00', '2026-01-01 10:00:00');
    INSERT INTO sessions (id, token_hash, user_id, auth_user_id, user_agent, ip, created_at, expires_at, last_seen_at)
        VALUES ('s-live', 'h-live', 'u1', 'a1', 'curl/8', '203.0.113.9', '2026-01-01 10:00:00.5',
                '2999-01-01 00:00:00', '2026-01-03 10:00:00.000001'),
               ('s-old', 'h-old', 'u1', 'a1', NULL, NULL, '2026-01-01 10:00:00', '2026-01-02 00:00:00',
                '2026-01-01 10:00:00'),
               ('s-gone', 'h-gone', 'u2', 'a2', NULL, NULL, '2026-01-01 10:00:00', '2999-01-01 00:00:00',
                '2026-01-01 10:00:00');
";
