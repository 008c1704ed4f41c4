DROP TABLE auth_attempts;
DROP TABLE oauth_states;
DROP TABLE one_time_tokens;
DROP TABLE invites;
DROP TABLE sessions;
DROP TABLE auth_users;
DROP TABLE users;
