//! The WebAuthn relying party (webauthn-rs): the options a browser is sent and the checks
//! its answers pass, with the rules this server adds (resident keys, user verification,
//! no mediation forced) and the JSON shapes webauthn-rs uses (`{"publicKey": {...}}`,
//! binary fields as base64url).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::auth::passkey::PasskeyError;
use crate::config::Config;

/// How long a browser has to answer a challenge (and the challenge lives).
pub(crate) const CHALLENGE_TTL: Duration = Duration::from_secs(300);

/// One relying party: the id passkeys are bound to and the origin pages call from.
#[derive(Clone)]
pub struct RelyingParty {
    webauthn: std::sync::Arc<Webauthn>,
}

/// A ceremony begun: what the browser gets, what the server keeps, and the challenge that
/// names it.
pub(crate) struct Begun {
    pub options: Value,
    pub state: String,
    pub challenge: String,
}

impl Begun {
    /// The options as the browser gets them and the ceremony state as it is stored.
    fn new(options: Value, state: &impl serde::Serialize) -> Result<Begun, PasskeyError> {
        let challenge = challenge_of(&options)?;
        let state = serde_json::to_string(state).map_err(PasskeyError::internal)?;
        Ok(Begun { options, state, challenge })
    }
}

impl RelyingParty {
    /// `None` when passkeys are off (the app URL's host is an IP address, see
    /// `AUTHQL_WEBAUTHN_RP_ID`).
    pub fn from_config(config: &Config) -> Option<RelyingParty> {
        let rp_id = config.webauthn_rp_id.as_deref()?;
        let origin = Url::parse(&config.app_url).ok()?.origin().ascii_serialization();
        let origin = Url::parse(&origin).ok()?;
        // The configuration already checked that the id suits the origin; a refusal here
        // would be a bug, so it turns passkeys off loudly rather than stopping the server.
        match WebauthnBuilder::new(rp_id, &origin).and_then(|b| b.rp_name("authql").timeout(CHALLENGE_TTL).build()) {
            Ok(webauthn) => Some(RelyingParty { webauthn: std::sync::Arc::new(webauthn) }),
            Err(e) => {
                tracing::error!(error = %e, rp_id, %origin, "passkeys are off: the relying party was refused");
                None
            }
        }
    }

    /// PublicKeyCredentialCreationOptions for a new passkey of `user_handle`, leaving out the
    /// credentials the user has (an authenticator holding one refuses to make another).
    pub(crate) fn begin_registration(
        &self,
        user_handle: Uuid,
        email: &str,
        exclude: Vec<CredentialID>,
    ) -> Result<Begun, PasskeyError> {
        let exclude = if exclude.is_empty() { None } else { Some(exclude) };
        let (ccr, state) = self
            .webauthn
            .start_passkey_registration(user_handle, email, email, exclude)
            .map_err(PasskeyError::internal)?;
        let mut options = serde_json::to_value(&ccr).map_err(PasskeyError::internal)?;
        // A passkey signs in without a user name, so the authenticator must keep it
        // (discoverable), and it must verify the user (it is both factors at once).
        options["publicKey"]["authenticatorSelection"] =
            json!({"residentKey": "required", "requireResidentKey": true, "userVerification": "required"});
        Begun::new(options, &state)
    }

    /// The new credential, if the browser's answer meets the registration `state`.
    pub(crate) fn finish_registration(
        &self,
        credential: &RegisterPublicKeyCredential,
        state: &str,
    ) -> Result<Passkey, PasskeyError> {
        let state: PasskeyRegistration = serde_json::from_str(state).map_err(PasskeyError::internal)?;
        self.webauthn.finish_passkey_registration(credential, &state).map_err(refused)
    }

    /// PublicKeyCredentialRequestOptions for any discoverable credential of this relying
    /// party. webauthn-rs asks for conditional mediation; it is dropped so that the page
    /// chooses (a button wants the modal dialog, an autofill field asks for conditional).
    pub(crate) fn begin_sign_in(&self) -> Result<Begun, PasskeyError> {
        let (rcr, state) = self.webauthn.start_discoverable_authentication().map_err(PasskeyError::internal)?;
        let mut options = serde_json::to_value(&rcr).map_err(PasskeyError::internal)?;
        if let Some(map) = options.as_object_mut() {
            map.remove("mediation");
        }
        Begun::new(options, &state)
    }

    /// Verifies an assertion against the sign-in `state` and the stored credential; the
    /// result carries the new counter.
    pub(crate) fn finish_sign_in(
        &self,
        credential: &PublicKeyCredential,
        state: &str,
        passkey: &Passkey,
    ) -> Result<webauthn_rs::prelude::AuthenticationResult, PasskeyError> {
        let state: DiscoverableAuthentication = serde_json::from_str(state).map_err(PasskeyError::internal)?;
        self.webauthn
            .finish_discoverable_authentication(credential, state, &[DiscoverableKey::from(passkey)])
            .map_err(refused)
    }

    /// The user handle an assertion names, if it is one this server could have set.
    pub(crate) fn user_handle(&self, credential: &PublicKeyCredential) -> Option<Uuid> {
        self.webauthn.identify_discoverable_authentication(credential).ok().map(|(handle, _)| handle)
    }
}

/// The challenge the browser will sign over, as it appears in `clientDataJSON`.
fn challenge_of(options: &Value) -> Result<String, PasskeyError> {
    options["publicKey"]["challenge"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| PasskeyError::Internal("options without a challenge".into()))
}

/// The challenge a browser answered, read from the credential's clientDataJSON.
pub(crate) fn answered_challenge(client_data_json: &[u8]) -> Result<String, PasskeyError> {
    let client_data: Value = serde_json::from_slice(client_data_json)
        .map_err(|_| PasskeyError::Invalid("response.clientDataJSON is not JSON".into()))?;
    client_data["challenge"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| PasskeyError::Invalid("response.clientDataJSON has no challenge".into()))
}

/// The form credential ids are stored and compared in.
pub(crate) fn encode_id(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// Why the browser's answer was turned down, in words for people.
fn refused(e: WebauthnError) -> PasskeyError {
    let reason = match e {
        WebauthnError::InvalidRPOrigin => "it was made on another site (origin)",
        WebauthnError::InvalidRPIDHash => "it was made for another relying party id",
        WebauthnError::UserNotVerified => "the authenticator did not verify the user (user verification is required)",
        WebauthnError::UserNotPresent => "the authenticator did not confirm the user's presence",
        WebauthnError::CredentialPossibleCompromise => {
            "its signature counter did not increase, so the authenticator may have been cloned"
        }
        WebauthnError::MismatchedChallenge => "it answers another challenge",
        WebauthnError::InvalidClientDataType => "it is not an answer of the expected kind",
        WebauthnError::CredentialAlteredAlgFromRequest => "it uses an algorithm that was not offered",
        _ => "its data or signature is invalid",
    };
    PasskeyError::Refused(reason.to_string())
}
