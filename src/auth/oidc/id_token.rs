//! Verifying an OpenID Connect ID token: signature against the issuer's published keys,
//! then `iss`, `aud`, `exp`, `azp` and `nonce`. Only what passes all of them is read.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;

use crate::domain::token::constant_time_eq;

use super::profile::Profile;

/// Asymmetric algorithms only: an HMAC "key" from a public key set is no secret, and
/// `none` is no signature.
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IdTokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported signing algorithm")]
    Algorithm,
    #[error("signed with a key the issuer does not publish")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("expired")]
    Expired,
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
    #[error("nonce does not match")]
    Nonce,
    #[error("missing claim `{0}`")]
    MissingClaim(String),
}

impl IdTokenError {
    /// Whether a fresher key set might verify the token (the issuer rotated its keys).
    pub(crate) fn may_need_new_keys(&self) -> bool {
        matches!(self, IdTokenError::UnknownKey | IdTokenError::Signature)
    }
}

/// What the token must say to be accepted.
pub(super) struct Expected<'a> {
    pub issuers: &'a [String],
    pub client_id: &'a str,
    pub nonce: &'a str,
}

/// The claims a sign-in uses, once verified.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct Claims {
    #[serde(flatten)]
    pub profile: Profile,
    nonce: Option<String>,
    azp: Option<String>,
}

pub(super) fn verify(token: &str, keys: &JwkSet, expected: &Expected<'_>) -> Result<Claims, IdTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(IdTokenError::Algorithm);
    }
    let candidates: Vec<&Jwk> = match &header.kid {
        Some(kid) => keys.find(kid).into_iter().collect(),
        // Some issuers leave `kid` out of the header (the test provider does): then any
        // published key that fits the algorithm may have signed it.
        None => keys.keys.iter().collect(),
    };
    let candidates: Vec<DecodingKey> =
        candidates.into_iter().filter(|k| fits(k, header.alg)).filter_map(|k| DecodingKey::from_jwk(k).ok()).collect();
    if candidates.is_empty() {
        return Err(IdTokenError::UnknownKey);
    }

    let mut validation = Validation::new(header.alg);
    validation.set_issuer(expected.issuers);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

    for key in &candidates {
        match jsonwebtoken::decode::<Claims>(token, key, &validation) {
            Ok(data) => return check_claims(data.claims, expected),
            // Claims are checked only after a signature verified, so any other error is
            // about this token, not about the key tried.
            Err(e) if is_key_mismatch(e.kind()) => continue,
            Err(e) => return Err(claim_error(e.into_kind())),
        }
    }
    Err(IdTokenError::Signature)
}

/// What `jsonwebtoken` leaves to the caller: the nonce, and `azp` when present.
fn check_claims(claims: Claims, expected: &Expected<'_>) -> Result<Claims, IdTokenError> {
    match &claims.nonce {
        Some(nonce) if constant_time_eq(nonce, expected.nonce) => {}
        _ => return Err(IdTokenError::Nonce),
    }
    // OpenID Connect Core §3.1.3.7: an `azp` names the party the token was issued to.
    if claims.azp.as_deref().is_some_and(|azp| azp != expected.client_id) {
        return Err(IdTokenError::Audience);
    }
    Ok(claims)
}

/// A key may verify `alg` if it is for signatures, does not name another algorithm, and is
/// of the kind (and curve) `alg` uses: an issuer with RSA and EC keys and no `kid` in its
/// tokens must not have a token checked against a key of the other kind.
fn fits(key: &Jwk, alg: Algorithm) -> bool {
    let for_signing = !matches!(key.common.public_key_use, Some(PublicKeyUse::Encryption));
    let same_alg = key.common.key_algorithm.is_none_or(|a| a == KeyAlgorithm::from(alg));
    let same_kind = match (&key.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512) => true,
        (AlgorithmParameters::RSA(_), Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => ec.curve == EllipticCurve::P256,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => ec.curve == EllipticCurve::P384,
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => okp.curve == EllipticCurve::Ed25519,
        _ => false,
    };
    for_signing && same_alg && same_kind
}

fn claim_error(kind: ErrorKind) -> IdTokenError {
    match kind {
        ErrorKind::ExpiredSignature => IdTokenError::Expired,
        ErrorKind::InvalidIssuer => IdTokenError::Issuer,
        ErrorKind::InvalidAudience => IdTokenError::Audience,
        ErrorKind::MissingRequiredClaim(claim) => IdTokenError::MissingClaim(claim),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => IdTokenError::Algorithm,
        _ => IdTokenError::Malformed,
    }
}

/// The key tried did not sign this token (or is of another kind than its algorithm).
fn is_key_mismatch(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidSignature
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
    )
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    use super::*;

    const CLIENT: &str = "client-1";
    const ISSUER: &str = "https://issuer.example";
    const NONCE: &str = "n0nce";

    /// Test-only keys, shared with the integration tests.
    fn key(which: char) -> EncodingKey {
        let pem = match which {
            'a' => include_str!("../../../tests/api/fixtures/idp_key_a.pem"),
            _ => include_str!("../../../tests/api/fixtures/idp_key_b.pem"),
        };
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        EncodingKey::from_rsa_der(&base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body"))
    }

    fn jwk(which: char, kid: &str) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&key(which), Algorithm::RS256).expect("public part");
        jwk.common.key_id = Some(kid.into());
        jwk.common.key_algorithm = None;
        jwk
    }

    fn claims() -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({"iss": ISSUER, "aud": [CLIENT], "sub": "s1", "exp": now + 600, "iat": now, "nonce": NONCE,
               "email": "a@example.com", "email_verified": true})
    }

    fn sign(which: char, kid: Option<&str>, claims: &Value) -> String {
        let header = Header { kid: kid.map(str::to_string), ..Header::new(Algorithm::RS256) };
        jsonwebtoken::encode(&header, claims, &key(which)).expect("signed")
    }

    fn check(token: &str) -> Result<Claims, IdTokenError> {
        let keys = JwkSet { keys: vec![jwk('b', "kb"), jwk('a', "ka")] };
        verify(token, &keys, &Expected { issuers: &[ISSUER.to_string()], client_id: CLIENT, nonce: NONCE })
    }

    fn with(patch: Value) -> Value {
        let mut c = claims();
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                c.as_object_mut().expect("object").remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    #[test]
    fn a_token_signed_by_a_published_key_verifies_with_or_without_kid() {
        assert_eq!(check(&sign('a', Some("ka"), &claims())).expect("valid").profile.sub, "s1");
        // No kid: the key that verifies is found among those published.
        assert!(check(&sign('a', None, &claims())).is_ok());
        assert!(check(&sign('a', None, &with(json!({"aud": CLIENT})))).is_ok(), "aud may be a string");
    }

    #[test]
    fn signatures_must_come_from_the_named_published_key() {
        assert_eq!(check(&sign('a', Some("kb"), &claims())).unwrap_err(), IdTokenError::Signature);
        assert_eq!(check(&sign('a', Some("kz"), &claims())).unwrap_err(), IdTokenError::UnknownKey);
        let keys = JwkSet { keys: vec![jwk('b', "kb")] };
        let expected = Expected { issuers: &[ISSUER.to_string()], client_id: CLIENT, nonce: NONCE };
        assert_eq!(verify(&sign('a', None, &claims()), &keys, &expected).unwrap_err(), IdTokenError::Signature);
        // A valid token with its payload swapped keeps a signature over other bytes.
        let good = sign('a', Some("ka"), &claims());
        let other = sign('a', Some("ka"), &with(json!({"email": "mallory@example.com"})));
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], other.split('.').nth(1).expect("payload"), parts[2]);
        assert_eq!(check(&forged).unwrap_err(), IdTokenError::Signature);
    }

    #[test]
    fn symmetric_and_unsigned_tokens_are_refused() {
        let hs = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &EncodingKey::from_secret(b"k"))
            .expect("signed");
        assert_eq!(check(&hs).unwrap_err(), IdTokenError::Algorithm);
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{}.", b64(json!({"alg": "none"})), b64(claims()));
        assert!(check(&none).is_err());
        assert_eq!(check("not a token").unwrap_err(), IdTokenError::Malformed);
    }

    #[test]
    fn claims_are_checked() {
        let now = jsonwebtoken::get_current_timestamp();
        let cases = [
            (json!({"exp": now - 3600}), IdTokenError::Expired),
            (json!({"iss": "https://evil.example"}), IdTokenError::Issuer),
            (json!({"aud": ["someone-else"]}), IdTokenError::Audience),
            (json!({"aud": [CLIENT, "other"], "azp": "other"}), IdTokenError::Audience),
            (json!({"nonce": "replayed"}), IdTokenError::Nonce),
            (json!({"nonce": null}), IdTokenError::Nonce),
            (json!({"exp": null}), IdTokenError::MissingClaim("exp".into())),
            (json!({"aud": null}), IdTokenError::MissingClaim("aud".into())),
            (json!({"sub": null}), IdTokenError::Malformed),
        ];
        for (patch, error) in cases {
            assert_eq!(check(&sign('a', Some("ka"), &with(patch.clone()))).unwrap_err(), error, "{patch}");
        }
    }

    /// A PKCS#8 PEM fixture's DER.
    fn der(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body")
    }

    #[test]
    fn es256_and_eddsa_tokens_verify_among_keys_of_other_kinds_without_kid() {
        let ec = EncodingKey::from_ec_der(&der(include_str!("../../../tests/api/fixtures/idp_key_p256.pem")));
        let ed = EncodingKey::from_ed_der(&der(include_str!("../../../tests/api/fixtures/idp_key_ed25519.pem")));
        // Published without `alg` or `kid`, as some issuers do: only the kind of key tells
        // which one may have signed a token. An RSA key first in the set must not stop the
        // search (jsonwebtoken refuses a key of another family outright).
        let public = |key: &EncodingKey, alg| {
            let mut jwk = Jwk::from_encoding_key(key, alg).expect("public part");
            jwk.common.key_algorithm = None;
            jwk
        };
        let keys = JwkSet { keys: vec![jwk('a', "ka"), public(&ec, Algorithm::ES256), public(&ed, Algorithm::EdDSA)] };
        let expected = Expected { issuers: &[ISSUER.to_string()], client_id: CLIENT, nonce: NONCE };
        for (alg, key) in [(Algorithm::ES256, &ec), (Algorithm::EdDSA, &ed)] {
            let token = jsonwebtoken::encode(&Header::new(alg), &claims(), key).expect("signed");
            assert_eq!(verify(&token, &keys, &expected).expect("verifies").profile.sub, "s1", "{alg:?}");
            // Only the right key of that kind: the same token against a set without it fails.
            let others = JwkSet { keys: vec![jwk('a', "ka")] };
            assert_eq!(verify(&token, &others, &expected).unwrap_err(), IdTokenError::UnknownKey, "{alg:?}");
        }
    }

    #[test]
    fn email_verified_accepts_only_true() {
        for (value, verified) in [
            (json!(true), true),
            (json!("true"), true),
            (json!(false), false),
            (json!("false"), false),
            (json!(null), false),
        ] {
            let claims = check(&sign('a', Some("ka"), &with(json!({"email_verified": value.clone()})))).expect("valid");
            assert_eq!(claims.profile.email_verified(), verified, "{value}");
        }
    }
}
