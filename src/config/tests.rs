//! The configuration as an operator meets it: defaults, bad values, unknown keys, files.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_match_the_contract() {
    let c = Config::from_sources(None, env(&[])).expect("defaults are valid");
    assert_eq!(c.database_url, DatabaseUrl::Sqlite("authql.db".into()));
    assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.signup, SignupPolicy::Open);
    assert_eq!(c.session_ttl, TimeDelta::seconds(7 * 86_400));
    assert_eq!(c.session_max_ttl, TimeDelta::seconds(30 * 86_400));
    assert_eq!(c.reset_ttl, TimeDelta::seconds(15 * 60));
    assert!(c.smtp_url.is_none());
    assert_eq!(c.mail_from, "authql@localhost");
    assert!(c.session_cookie);
    assert!(c.google.is_none());
    assert_eq!(c.argon2, Argon2Params { memory_kib: 19456, iterations: 2, parallelism: 1 });
    assert_eq!(c.throttle.account_max, 5);
    assert_eq!(c.throttle.window, TimeDelta::seconds(900));
    assert!(c.ui);
}

#[test]
fn trusted_proxies_are_a_list_of_blocks_and_the_old_switch_says_what_replaced_it() {
    let c = Config::from_sources(None, env(&[])).expect("valid");
    assert!(c.trusted_proxies.is_empty(), "no proxy is trusted by default");
    let c = Config::from_sources(None, env(&[("AUTHQL_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")])).expect("valid");
    let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]);
    let err = Config::from_sources(None, env(&[("AUTHQL_TRUSTED_PROXIES", "10.0.0.0/40")])).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_TRUSTED_PROXIES"), "{err}");
    let err = Config::from_sources(None, env(&[("AUTHQL_TRUST_PROXY", "true")])).unwrap_err();
    assert!(matches!(err, ConfigError::TrustProxyReplaced(_)), "{err}");
    assert!(err.to_string().contains("AUTHQL_TRUSTED_PROXIES"), "{err}");
}

#[test]
fn hashes_wait_up_to_a_duration_and_the_old_queue_length_says_what_replaced_it() {
    let c = Config::from_sources(None, env(&[])).expect("valid");
    assert_eq!(c.hash_max_wait, Duration::from_secs(10));
    let c = Config::from_sources(None, env(&[("AUTHQL_HASH_MAX_WAIT", "1s")])).expect("valid");
    assert_eq!(c.hash_max_wait, Duration::from_secs(1));
    let err = Config::from_sources(None, env(&[("AUTHQL_HASH_MAX_WAIT", "0s")])).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_HASH_MAX_WAIT"), "{err}");
    // Retired, not ignored: an operator who set it learns at start-up what replaced it.
    let err = Config::from_sources(None, env(&[("AUTHQL_HASH_QUEUE", "64")])).unwrap_err();
    assert!(matches!(err, ConfigError::HashQueueReplaced(_)), "{err}");
    assert!(err.to_string().contains("AUTHQL_HASH_QUEUE") && err.to_string().contains("AUTHQL_HASH_MAX_WAIT"), "{err}");
    let dir = std::env::temp_dir().join(format!("authql-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("authql.toml");
    std::fs::write(&path, "hash_queue = 0\n").expect("write");
    let err = Config::from_sources(Some(&path), env(&[])).unwrap_err();
    assert!(matches!(err, ConfigError::HashQueueReplaced(_)), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn sign_ups_per_address_default_to_30() {
    let c = Config::from_sources(None, env(&[])).expect("defaults are valid");
    assert_eq!(c.throttle.signup_max_per_address, 30);
    let c = Config::from_sources(None, env(&[("AUTHQL_SIGNUP_MAX_PER_ADDRESS", "3")])).expect("valid");
    assert_eq!(c.throttle.signup_max_per_address, 3);
    let err = Config::from_sources(None, env(&[("AUTHQL_SIGNUP_MAX_PER_ADDRESS", "0")])).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_SIGNUP_MAX_PER_ADDRESS"), "{err}");
}

#[test]
fn the_web_app_can_be_turned_off() {
    let c = Config::from_sources(None, env(&[("AUTHQL_UI", "false")])).expect("valid");
    assert!(!c.ui);
    let err = Config::from_sources(None, env(&[("AUTHQL_UI", "sometimes")])).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_UI"), "{err}");
}

#[test]
fn open_flows_per_address_are_bounded() {
    let c = Config::from_sources(None, env(&[])).expect("defaults are valid");
    assert_eq!(c.flow_max_per_address, 30);
    let c = Config::from_sources(None, env(&[("AUTHQL_FLOW_MAX_PER_ADDRESS", "5")])).expect("valid");
    assert_eq!(c.flow_max_per_address, 5);
    for bad in ["0", "-1", "many"] {
        let err = Config::from_sources(None, env(&[("AUTHQL_FLOW_MAX_PER_ADDRESS", bad)])).unwrap_err();
        assert!(err.to_string().contains("AUTHQL_FLOW_MAX_PER_ADDRESS"), "{err}");
    }
}

#[test]
fn bad_value_names_the_key() {
    let err = Config::from_sources(None, env(&[("AUTHQL_SIGNUP", "maybe")])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("AUTHQL_SIGNUP") && msg.contains("open, invite, closed"), "{msg}");
}

#[test]
fn unknown_variable_is_refused() {
    let err = Config::from_sources(None, env(&[("AUTHQL_SIGNUPP", "open")])).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_SIGNUPP"));
}

#[test]
fn environment_wins_over_file() {
    let dir = std::env::temp_dir().join(format!("authql-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("authql.toml");
    std::fs::write(&path, "signup = \"closed\"\nsession_ttl = \"12h\"\n").expect("write");
    let c = Config::from_sources(Some(&path), env(&[("AUTHQL_SIGNUP", "invite")])).expect("valid");
    assert_eq!(c.signup, SignupPolicy::Invite);
    assert_eq!(c.session_ttl, TimeDelta::seconds(12 * 3600));
    std::fs::write(&path, "sign_up = \"closed\"\n").expect("write");
    let err = Config::from_sources(Some(&path), env(&[])).unwrap_err();
    assert!(err.to_string().contains("sign_up"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
    assert!(parse_duration("7").is_err());
    assert!(parse_duration("0s").is_err());
    assert!(parse_duration("m").is_err());
    assert!(parse_duration("99999999999999999999d").is_err());
    assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
    for text in ["3s", "90s", "30m", "12h", "7d"] {
        assert_eq!(format_duration(parse_ttl(text).unwrap()), text);
    }
}

#[test]
fn session_cap_below_the_idle_lifetime_is_refused() {
    let err =
        Config::from_sources(None, env(&[("AUTHQL_SESSION_TTL", "2h"), ("AUTHQL_SESSION_MAX_TTL", "1h")])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("AUTHQL_SESSION_MAX_TTL") && msg.contains("AUTHQL_SESSION_TTL"), "{msg}");
    // The default cap (30d) is checked too: a longer idle lifetime alone is refused.
    let err = Config::from_sources(None, env(&[("AUTHQL_SESSION_TTL", "60d")])).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_SESSION_MAX_TTL"), "{err}");
    // Equal is allowed (an absolute lifetime, the old behaviour), and seconds parse.
    let c = Config::from_sources(None, env(&[("AUTHQL_SESSION_TTL", "3s"), ("AUTHQL_SESSION_MAX_TTL", "3s")]))
        .expect("valid");
    assert_eq!((c.session_ttl, c.session_max_ttl), (TimeDelta::seconds(3), TimeDelta::seconds(3)));
}

#[test]
fn google_needs_a_callback() {
    let err = Config::from_sources(None, env(&[("AUTHQL_GOOGLE_CLIENT_ID", "x")])).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_GOOGLE_CALLBACK_URL"));
}

#[test]
fn postgres_url_is_not_printed() {
    let url = DatabaseUrl::parse("postgres://u:secret@h/db").expect("valid");
    assert!(!format!("{url:?}").contains("secret"));
}

fn acme(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("AUTHQL_OIDC_PROVIDERS", "acme, corp2"),
        ("AUTHQL_OIDC_ACME_ISSUER", "https://id.acme.example/"),
        ("AUTHQL_OIDC_ACME_CLIENT_ID", "acme-client"),
        ("AUTHQL_OIDC_ACME_CLIENT_SECRET", "acme-secret"),
        ("AUTHQL_OIDC_ACME_CALLBACK_URL", "https://app.example/cb"),
        ("AUTHQL_OIDC_CORP2_ISSUER", "https://login.corp.example/tenant/v2.0"),
        ("AUTHQL_OIDC_CORP2_CLIENT_ID", "corp-client"),
        ("AUTHQL_OIDC_CORP2_CALLBACK_URL", "https://app.example/cb"),
        ("AUTHQL_OIDC_CORP2_SCOPES", "openid email"),
        ("AUTHQL_OIDC_CORP2_ALLOWED_CALLBACK_URLS", "https://app.example/cb2,https://app.example/cb3"),
    ];
    pairs.extend_from_slice(extra);
    env(&pairs)
}

#[test]
fn named_oidc_providers_are_read_in_order_with_their_issuer_as_written() {
    let c = Config::from_sources(None, acme(&[])).expect("valid");
    let names: Vec<&str> = c.oidc.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["acme", "corp2"]);
    let acme = &c.oidc[0].config;
    assert_eq!(acme.issuer, "https://id.acme.example/", "the trailing slash is part of the issuer");
    assert_eq!(acme.client_id, "acme-client");
    assert_eq!(acme.scopes, ["openid", "email", "profile"]);
    assert!(acme.allowed_callback_urls.is_empty());
    let corp = &c.oidc[1].config;
    assert!(corp.client_secret.is_none(), "a public client");
    assert_eq!(corp.scopes, ["openid", "email"]);
    assert_eq!(corp.allowed_callback_urls, ["https://app.example/cb2", "https://app.example/cb3"]);
    // The secret never shows in debug output.
    assert!(!format!("{c:?}").contains("acme-secret"));
}

#[test]
fn a_named_oidc_provider_missing_a_setting_names_it() {
    for missing in ["AUTHQL_OIDC_ACME_ISSUER", "AUTHQL_OIDC_ACME_CLIENT_ID", "AUTHQL_OIDC_ACME_CALLBACK_URL"] {
        let pairs: Vec<(String, String)> = acme(&[]).into_iter().filter(|(k, _)| k != missing).collect();
        let err = Config::from_sources(None, pairs).unwrap_err().to_string();
        assert!(err.contains(missing) && err.contains("AUTHQL_OIDC_PROVIDERS"), "{missing}: {err}");
    }
    let err = Config::from_sources(None, acme(&[("AUTHQL_OIDC_ACME_SCOPES", "email profile")])).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_OIDC_ACME_SCOPES"), "{err}");
    let err = Config::from_sources(None, acme(&[("AUTHQL_OIDC_ACME_ISSUER", "id.acme.example")])).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_OIDC_ACME_ISSUER"), "{err}");
}

#[test]
fn unknown_oidc_keys_and_bad_names_are_refused() {
    // A typo in a field, a provider not listed, a setting with no provider list at all.
    for (key, value) in [
        ("AUTHQL_OIDC_ACME_ISSUR", "https://x.example"),
        ("AUTHQL_OIDC_ACMEE_CLIENT_ID", "x"),
        ("AUTHQL_OIDC_ACME", "x"),
    ] {
        let err = Config::from_sources(None, acme(&[(key, value)])).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownOidcKey { .. }), "{key}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(key) && msg.contains("ISSUER") && msg.contains("acme, corp2"), "{msg}");
    }
    let err = Config::from_sources(None, env(&[("AUTHQL_OIDC_ACME_CLIENT_ID", "x")])).unwrap_err();
    assert!(err.to_string().contains("listed: none"), "{err}");
    for bad in ["Acme", "my_idp", "google", "github", "acme,acme", "9lives"] {
        let err = Config::from_sources(None, env(&[("AUTHQL_OIDC_PROVIDERS", bad)])).unwrap_err();
        assert!(err.to_string().contains("AUTHQL_OIDC_PROVIDERS"), "{bad}: {err}");
    }
    // A bad list is what is reported, even with settings for the name it meant.
    let err = Config::from_sources(None, acme(&[("AUTHQL_OIDC_PROVIDERS", "Acme")])).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }) && err.to_string().contains("`Acme`"), "{err}");
    // The file spells the same keys, and is checked the same way.
    let dir = std::env::temp_dir().join(format!("authql-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("authql.toml");
    std::fs::write(
        &path,
        "oidc_providers = \"acme\"\noidc_acme_issuer = \"https://id.acme.example/\"\n\
         oidc_acme_client_id = \"c\"\noidc_acme_callback_url = \"https://app.example/cb\"\n",
    )
    .expect("write");
    let c = Config::from_sources(Some(&path), env(&[])).expect("valid");
    assert_eq!(c.oidc[0].config.issuer, "https://id.acme.example/");
    std::fs::write(&path, "oidc_providers = \"acme\"\noidc_acme_client_idd = \"c\"\n").expect("write");
    let err = Config::from_sources(Some(&path), env(&[])).unwrap_err();
    assert!(err.to_string().contains("oidc_acme_client_idd"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn github_needs_a_secret_and_a_callback_and_defaults_to_github_com() {
    let base = [("AUTHQL_GITHUB_CLIENT_ID", "gh"), ("AUTHQL_GITHUB_CLIENT_SECRET", "s")];
    let err = Config::from_sources(None, env(&base)).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_GITHUB_CALLBACK_URL"), "{err}");
    let err = Config::from_sources(None, env(&[base[0], ("AUTHQL_GITHUB_CALLBACK_URL", "https://a.example/cb")]))
        .unwrap_err();
    assert!(err.to_string().contains("AUTHQL_GITHUB_CLIENT_SECRET"), "{err}");
    let mut all = base.to_vec();
    all.push(("AUTHQL_GITHUB_CALLBACK_URL", "https://a.example/cb"));
    let c = Config::from_sources(None, env(&all)).expect("valid");
    let gh = c.github.expect("github");
    assert_eq!((gh.url.as_str(), gh.api_url.as_str()), ("https://github.com", "https://api.github.com"));
}

#[test]
fn the_relying_party_id_is_the_app_host_or_a_registrable_parent_of_it() {
    let rp = |pairs: &[(&str, &str)]| Config::from_sources(None, env(pairs)).map(|c| c.webauthn_rp_id);
    let app = ("AUTHQL_APP_URL", "https://auth.example.com/base");
    assert_eq!(rp(&[app]).expect("valid"), Some("auth.example.com".into()));
    assert_eq!(rp(&[app, ("AUTHQL_WEBAUTHN_RP_ID", "Example.COM")]).expect("valid"), Some("example.com".into()));
    assert_eq!(rp(&[("AUTHQL_APP_URL", "http://localhost:8080")]).expect("valid"), Some("localhost".into()));
    // An IP address has no relying party: passkeys are off, unless an id is asked for.
    assert_eq!(rp(&[]).expect("the default stays valid"), None);
    let err = rp(&[("AUTHQL_WEBAUTHN_RP_ID", "127.0.0.1")]).unwrap_err();
    assert!(err.to_string().contains("AUTHQL_WEBAUTHN_RP_ID") && err.to_string().contains("IP address"), "{err}");
    for (bad, says) in [
        ("other.com", "parent domain"),
        ("xample.com", "parent domain"),
        ("sub.auth.example.com", "parent domain"),
        ("com", "top-level domain"),
    ] {
        let err = rp(&[app, ("AUTHQL_WEBAUTHN_RP_ID", bad)]).unwrap_err();
        assert!(err.to_string().contains("AUTHQL_WEBAUTHN_RP_ID") && err.to_string().contains(says), "{bad}: {err}");
    }
}
