//! The HTTP client providers use to call identity providers (discovery, keys, token
//! endpoints), and a bounded JSON fetch on top of it.

use std::time::Duration;

use serde::de::DeserializeOwned;

/// No call to an identity provider may hold a sign-in longer than this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Discovery documents and key sets are a few KiB; anything far larger is not one.
const MAX_BODY: usize = 1024 * 1024;

/// Builds the shared client. Redirects are not followed: a token endpoint that redirects
/// could otherwise send the code and client secret somewhere else.
pub(crate) fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("authql/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("unreachable: {0}")]
    Unreachable(reqwest::Error),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answer larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("answer is not the expected JSON: {0}")]
    Body(serde_json::Error),
}

/// GETs `url` and parses its JSON body.
pub(crate) async fn get_json<T: DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T, FetchError> {
    send_json(http.get(url).header("accept", "application/json")).await
}

/// Sends `request` (built on the shared client, so under its timeouts) and parses its JSON
/// body, read up to a bound; any status but 2xx is an error.
pub(crate) async fn send_json<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, FetchError> {
    let unreachable = |e: reqwest::Error| FetchError::Unreachable(e.without_url());
    let mut resp = request.send().await.map_err(unreachable)?;
    if !resp.status().is_success() {
        return Err(FetchError::Status(resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(FetchError::Body)
}
