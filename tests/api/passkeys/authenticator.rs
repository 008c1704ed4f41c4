//! A WebAuthn authenticator in software, built from the spec (WebAuthn Level 2, §6): an
//! ES256 key, a "none" attestation in CBOR, authenticator data with the rpIdHash, flags,
//! signature counter and attested credential data, and the client data a browser would add.
//! Its fields are public so that a test can make it misbehave exactly one way.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// User present.
pub const UP: u8 = 0x01;
/// User verified.
pub const UV: u8 = 0x04;
/// Attested credential data included.
const AT: u8 = 0x40;

#[derive(Clone)]
pub struct Authenticator {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The user handle stored with the credential at registration.
    pub user_handle: Vec<u8>,
    /// The signature counter; each assertion raises it by one first.
    pub counter: u32,
    /// The relying party id whose SHA-256 goes into authenticator data.
    pub rp_id: String,
    /// The origin the "browser" puts into client data.
    pub origin: String,
    /// UP and UV by default.
    pub flags: u8,
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

impl Authenticator {
    pub fn new(rp_id: &str, origin: &str) -> Authenticator {
        let key = loop {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            if let Ok(key) = SigningKey::from_bytes(&bytes.into()) {
                break key;
            }
        };
        let mut credential_id = vec![0u8; 32];
        rand::rng().fill_bytes(&mut credential_id);
        Authenticator {
            key,
            credential_id,
            user_handle: Vec::new(),
            counter: 0,
            rp_id: rp_id.to_string(),
            origin: origin.to_string(),
            flags: UP | UV,
        }
    }

    /// navigator.credentials.create: answers PublicKeyCredentialCreationOptions
    /// (`{"publicKey": {...}}`) with a new credential, as the browser's JSON.
    pub fn create(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        self.user_handle = unb64(pk["user"]["id"].as_str().expect("user.id"));
        let client_data = self.client_data("webauthn.create", pk["challenge"].as_str().expect("challenge"));
        let mut auth_data = self.auth_data(self.flags | AT);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(&u16::try_from(self.credential_id.len()).expect("short id").to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&serde_cbor_2::to_vec(&self.cose_key()).expect("CBOR"));
        let attestation = Cbor::Map(BTreeMap::from([
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&serde_cbor_2::to_vec(&attestation).expect("CBOR")),
                "clientDataJSON": b64(&client_data),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// navigator.credentials.get: answers PublicKeyCredentialRequestOptions with an
    /// assertion signed by this credential.
    pub fn get(&mut self, options: &Value) -> Value {
        self.counter += 1;
        let challenge = options["publicKey"]["challenge"].as_str().expect("challenge");
        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.auth_data(self.flags);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(
            &json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false }),
        )
        .expect("JSON")
    }

    /// rpIdHash, flags, signCount (big-endian).
    fn auth_data(&self, flags: u8) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// The public key as a COSE_Key: EC2 (kty 2), ES256 (alg -7), P-256 (crv 1), x, y.
    fn cose_key(&self) -> Cbor {
        let point = self.key.verifying_key().to_encoded_point(false);
        let int = |i: i128| Cbor::Integer(i);
        Cbor::Map(BTreeMap::from([
            (int(1), int(2)),
            (int(3), int(-7)),
            (int(-1), int(1)),
            (int(-2), Cbor::Bytes(point.x().expect("x").to_vec())),
            (int(-3), Cbor::Bytes(point.y().expect("y").to_vec())),
        ]))
    }
}
