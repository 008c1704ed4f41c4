//! The OAuth 2.0 half of the flow, through the `oauth2` crate: the authorization URL (code
//! flow, PKCE S256, nonce) and the exchange of the code at the token endpoint, authenticated
//! the way the issuer advertises.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::auth::flow::Pending;
use crate::auth::provider::InviteRef;
use crate::config::OidcConfig;
use crate::domain::token::{self, NewToken};

use super::discovery::{AuthMethod, Metadata};
use super::error::OidcError;

/// The OpenID Connect addition to a token response.
#[derive(Clone, Deserialize, Serialize)]
pub(super) struct IdTokenField {
    id_token: Option<String>,
}

// An ID token is a credential: keep it out of any debug output.
impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdTokenField([redacted])")
    }
}

impl ExtraTokenFields for IdTokenField {}

type OidcClient = Client<
    BasicErrorResponse,
    StandardTokenResponse<IdTokenField, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Where to send the browser, and what to keep until it comes back.
pub(super) struct Authorization {
    pub url: String,
    pub state: NewToken,
    pub pending: Pending,
}

pub(super) fn authorization(
    config: &OidcConfig,
    metadata: &Metadata,
    redirect_uri: String,
    invite: Option<InviteRef>,
) -> Result<Authorization, OidcError> {
    let client = client(config, metadata, &redirect_uri)?;
    let state = token::generate();
    let nonce = token::random_urlsafe(32);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let csrf = state.token.clone();
    let (url, _) = client
        .authorize_url(move || CsrfToken::new(csrf))
        .add_scopes(config.scopes.iter().map(|s| Scope::new(s.clone())))
        .add_extra_param("nonce", nonce.clone())
        .set_pkce_challenge(challenge)
        .url();
    let pending = Pending { pkce_verifier: SecretString::from(verifier.into_secret()), nonce, redirect_uri, invite };
    Ok(Authorization { url: url.to_string(), state, pending })
}

/// What the token endpoint gave: the ID token (unverified) and the access token, for the
/// UserInfo endpoint.
pub(super) struct Tokens {
    pub id_token: String,
    pub access_token: SecretString,
}

/// Trades the code (with the PKCE verifier) for tokens.
pub(super) async fn exchange(
    http: &reqwest::Client,
    config: &OidcConfig,
    metadata: &Metadata,
    pending: &Pending,
    code: String,
) -> Result<Tokens, OidcError> {
    let client = client(config, metadata, &pending.redirect_uri)?;
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.expose_secret().to_string()))
        .request_async(http)
        .await
        .map_err(token_error)?;
    let id_token = response.extra_fields().id_token.clone().ok_or(OidcError::NoIdToken)?;
    Ok(Tokens { id_token, access_token: SecretString::from(response.access_token().secret().clone()) })
}

fn client(config: &OidcConfig, metadata: &Metadata, redirect_uri: &str) -> Result<OidcClient, OidcError> {
    let auth_url = AuthUrl::new(metadata.authorization_endpoint.clone())
        .map_err(|_| OidcError::BadEndpoint("authorization_endpoint"))?;
    let token_url =
        TokenUrl::new(metadata.token_endpoint.clone()).map_err(|_| OidcError::BadEndpoint("token_endpoint"))?;
    // The configured callback and allow-list were checked as URLs at start-up.
    let redirect_url = RedirectUrl::new(redirect_uri.to_string()).map_err(|_| OidcError::CallbackUrlNotAllowed)?;
    let auth_type = match metadata.auth_method()? {
        AuthMethod::Basic => AuthType::BasicAuth,
        AuthMethod::Post => AuthType::RequestBody,
    };
    let client = Client::new(ClientId::new(config.client_id.clone()))
        .set_auth_uri(auth_url)
        .set_token_uri(token_url)
        .set_redirect_uri(redirect_url)
        .set_auth_type(auth_type);
    Ok(match &config.client_secret {
        Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose_secret().to_string())),
        None => client,
    })
}

/// Sorts a failed exchange; no message carries the code, the secret or a response body.
fn token_error(e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(answer) => OidcError::TokenRefused(answer.error().to_string()),
        RequestTokenError::Request(HttpClientError::Reqwest(e)) => {
            OidcError::TokenUnreachable(e.without_url().to_string())
        }
        RequestTokenError::Request(other) => OidcError::TokenUnreachable(other.to_string()),
        RequestTokenError::Parse(_, _) => OidcError::TokenRefused("unreadable answer".into()),
        RequestTokenError::Other(reason) => OidcError::TokenRefused(reason),
    }
}
