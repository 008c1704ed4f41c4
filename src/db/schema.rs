// @generated: the shape `diesel print-schema` gives for migrations/ (same on SQLite and
// PostgreSQL, since the migrations only use types both map alike). Do not edit by hand:
// change a migration and print it again.

diesel::table! {
    auth_attempts (id) {
        id -> Text,
        scope -> Text,
        subject -> Text,
        attempted_at -> Timestamp,
    }
}

diesel::table! {
    auth_users (id) {
        id -> Text,
        provider -> Text,
        entity_id -> Text,
        user_id -> Nullable<Text>,
        provider_metadata -> Nullable<Text>,
        user_metadata -> Nullable<Text>,
        app_metadata -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    invites (id) {
        id -> Text,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        accepted -> Bool,
        expires_at -> Timestamp,
        metadata -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    mfa_tickets (ticket_hash) {
        ticket_hash -> Text,
        user_id -> Text,
        auth_user_id -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    oauth_states (state_hash) {
        state_hash -> Text,
        provider -> Text,
        binding_hash -> Text,
        client_address -> Text,
        pkce_verifier -> Text,
        nonce -> Text,
        redirect_uri -> Text,
        invite_id -> Nullable<Text>,
        invite_token_hash -> Nullable<Text>,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    one_time_tokens (id) {
        id -> Text,
        purpose -> Text,
        token_hash -> Text,
        user_id -> Text,
        auth_user_id -> Nullable<Text>,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        auth_user_id -> Text,
        credential_id -> Text,
        credential -> Text,
        sign_count -> BigInt,
        name -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        auth_user_id -> Text,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    totp_factors (user_id) {
        user_id -> Text,
        secret -> Text,
        confirmed_at -> Nullable<Timestamp>,
        last_used_step -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        role -> Text,
        email_verified -> Bool,
        metadata -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webauthn_challenges (challenge_hash) {
        challenge_hash -> Text,
        purpose -> Text,
        user_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        state -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::joinable!(auth_users -> users (user_id));
diesel::joinable!(invites -> users (created_by));
diesel::joinable!(one_time_tokens -> auth_users (auth_user_id));
diesel::joinable!(one_time_tokens -> users (user_id));
diesel::joinable!(passkeys -> auth_users (auth_user_id));
diesel::joinable!(passkeys -> users (user_id));
diesel::joinable!(sessions -> auth_users (auth_user_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    auth_attempts,
    auth_users,
    invites,
    mfa_tickets,
    oauth_states,
    one_time_tokens,
    passkeys,
    recovery_codes,
    sessions,
    totp_factors,
    users,
    webauthn_challenges,
);
