//! GraphQL over HTTP (the spec's current draft): POST with a JSON body (single or batch), GET
//! for queries only, the answer's media type negotiated from `Accept` ([`media`]).
//!
//! What a client gets:
//!
//! | the request | `application/json` | `application/graphql-response+json` |
//! |---|---|---|
//! | `Accept` names neither type | 406 | 406 |
//! | POST that is not `Content-Type: application/json` | 415 | 415 |
//! | not well-formed ([`wire::Malformed`]), or over a limit of the whole request | 400 | 400 |
//! | a mutation over GET | 405 | 405 |
//! | a request error: the document does not parse or validate, names no operation, its variables do not coerce ([`coerce`]), it is over a limit of its own | 200 | 400 |
//! | it ran (resolver errors such as `UNAUTHENTICATED` included) | 200 | 200 |
//! | it ran into `UNAVAILABLE` (database unreachable, hashing workers overloaded) | 503 + `Retry-After` | 503 + `Retry-After` |
//!
//! `Retry-After` is the longest `extensions.retryAfter` among the answer's `UNAVAILABLE`
//! errors: a client that waits that long has waited long enough for every one of them.
//!
//! A request error's answer has `errors` and no `data` key in either type (the GraphQL spec:
//! no `data` when nothing ran), and so has a 503: the spec allows a non-2xx answer only
//! without `data`, and the client is to retry the whole request anyway. Every error carries
//! `extensions.code`, `BAD_USER_INPUT` for request errors.
//!
//! A batch (our extension: a JSON array of 1 to [`MAX_BATCH`] requests) is answered with an
//! array, each document's answer in its place as above. A batch with one bad document still
//! runs the others: it is 200, or 400 under `application/graphql-response+json` only when
//! no document of it ran; 503 when any ran into `UNAVAILABLE`. A batch with a malformed item,
//! or over a limit of the whole request, is refused whole (400).
//!
//! Every request passes [`limits`] before async-graphql sees it: the raw JSON and query text
//! are scanned for nesting and length, then each document is parsed once and measured with
//! its fragments expanded. A request over a limit of its own is answered 400; a document over
//! a limit of its own (depth, complexity) gets an error in its place, as validation would give,
//! and is never run.

mod coerce;
pub mod media;
pub mod wire;

use std::collections::BTreeMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError};

use crate::graphql::AuthqlSchema;
use crate::graphql::context::RequestContext;
use crate::graphql::error::{UNAVAILABLE, UNAVAILABLE_RETRY_AFTER};
use crate::graphql::limits::{Budget, LimitError, Refusal as LimitRefusal};
use crate::http::caller;
use crate::state::AppState;
use media::MediaType;
use wire::Refusal;

pub use crate::graphql::limits::MAX_ALIASES;
pub use wire::MAX_BATCH;
/// An answer lists at most this many errors (graphql-js stops validating at 100 too): a
/// request of 10,000 tokens can otherwise provoke thousands, a response far larger than it.
pub const MAX_ERRORS: usize = 100;

pub async fn post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    schema: web::Data<AuthqlSchema>,
) -> HttpResponse {
    let media = match media::negotiate(req.headers()) {
        Ok(media) => media,
        Err(e) => return error_response(StatusCode::NOT_ACCEPTABLE, MediaType::Json, &e.to_string()),
    };
    if !caller::is_json(&req) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "POST /graphql takes Content-Type: application/json",
        );
    }
    let mut batch = match wire::from_body(&body) {
        Ok(batch) => batch,
        Err(e) => return refuse(media, &e),
    };
    let refusals = match admit(&mut batch) {
        Ok(refusals) => refusals,
        Err(e) => return refuse(media, &e.into()),
    };
    execute(&req, &state, &schema, media, batch, refusals).await
}

pub async fn get(req: HttpRequest, state: web::Data<AppState>, schema: web::Data<AuthqlSchema>) -> HttpResponse {
    let media = match media::negotiate(req.headers()) {
        Ok(media) => media,
        Err(e) => return error_response(StatusCode::NOT_ACCEPTABLE, MediaType::Json, &e.to_string()),
    };
    let mut batch = match wire::from_query_string(req.query_string()) {
        Ok(request) => BatchRequest::Single(request),
        Err(e) => return refuse(media, &e),
    };
    let refusals = match admit(&mut batch) {
        Ok(refusals) => refusals,
        Err(e) => return refuse(media, &e.into()),
    };
    let runs_a_mutation = batch.iter_mut().zip(&refusals).any(|(r, refused)| refused.is_none() && is_mutation(r));
    if runs_a_mutation {
        let mut response =
            error_response(StatusCode::METHOD_NOT_ALLOWED, media, "Mutations are only accepted over POST");
        response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    execute(&req, &state, &schema, media, batch, refusals).await
}

/// Holds every document of the request to [`limits`], one budget for the whole batch. `Err`
/// refuses the request; otherwise each document's own refusal, if any, in batch order.
fn admit(batch: &mut BatchRequest) -> Result<Vec<Option<ServerError>>, LimitError> {
    let mut budget = Budget::default();
    let mut refusals = Vec::new();
    for request in batch.iter_mut() {
        match budget.admit(request) {
            Ok(()) => refusals.push(None),
            Err(LimitRefusal::Request(e)) => return Err(e),
            Err(LimitRefusal::Document(e)) => refusals.push(Some(e)),
        }
    }
    Ok(refusals)
}

/// A request refused whole before any document was looked at: 400 in either media type.
fn refuse(media: MediaType, e: &Refusal) -> HttpResponse {
    tracing::debug!(reason = %e, "request refused");
    error_response(StatusCode::BAD_REQUEST, media, &e.to_string())
}

pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let media = media::negotiate(req.headers()).unwrap_or(MediaType::Json);
    let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, media, "GraphQL is served over GET and POST");
    response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
    response
}

/// One document's answer, and whether it is a request error: nothing of it ran.
struct Answer {
    response: Response,
    request_error: bool,
}

impl Answer {
    fn request_error(errors: Vec<ServerError>) -> Answer {
        Answer { response: Response::from_errors(errors), request_error: true }
    }

    /// What async-graphql answered. It reports every request error (parse, validation, no
    /// such operation) from before execution, without data and without a path; execution
    /// always yields data, or an error with the path of the field that failed.
    fn ran(response: Response) -> Answer {
        let request_error = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        Answer { response, request_error }
    }
}

/// Runs a batch that [`admit`] let through (its documents at once, as async-graphql runs a
/// batch). A document refused by a limit of its own, or whose variables do not coerce, is
/// answered with that request error in its place and never runs.
async fn execute(
    req: &HttpRequest,
    state: &AppState,
    schema: &AuthqlSchema,
    media: MediaType,
    batch: BatchRequest,
    refusals: Vec<Option<ServerError>>,
) -> HttpResponse {
    let token = caller::session_token(req, state);
    let mut client = caller::client_info(req, state);
    client.flow_binding = caller::flow_binding(req);
    let with_context = |r: Request| r.data(RequestContext::new(token.clone(), client.clone()));
    let (requests, is_batch) = match batch {
        BatchRequest::Single(r) => (vec![r], false),
        BatchRequest::Batch(items) => (items, true),
    };
    let mut refused = Vec::with_capacity(requests.len());
    let mut admitted = Vec::with_capacity(requests.len());
    for (mut request, limit) in requests.into_iter().zip(refusals) {
        let checked = match limit {
            Some(e) => Err(vec![e]),
            None => coerce::check(&mut request),
        };
        match checked {
            Ok(()) => {
                refused.push(None);
                admitted.push(with_context(request));
            }
            Err(errors) => refused.push(Some(Answer::request_error(errors))),
        }
    }
    let mut ran = match admitted.len() {
        0 => Vec::new(),
        _ => match schema.execute_batch(BatchRequest::Batch(admitted)).await {
            BatchResponse::Batch(responses) => responses,
            BatchResponse::Single(one) => vec![one],
        },
    }
    .into_iter();
    let answers = refused.into_iter().map(|r| r.unwrap_or_else(|| Answer::ran(ran.next().unwrap_or_default())));
    respond(media, answers.collect(), is_batch)
}

/// The HTTP answer to documents that reached [`execute`]: see the module's table.
fn respond(media: MediaType, mut answers: Vec<Answer>, is_batch: bool) -> HttpResponse {
    answers.iter_mut().for_each(|a| give_every_error_a_code(&mut a.response));
    let unavailable: Vec<Option<u64>> = answers.iter().map(|a| unavailable_retry_after(&a.response)).collect();
    let retry_after = unavailable.iter().flatten().max().copied();
    let status = if retry_after.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else if media == MediaType::GraphQLResponse && answers.iter().all(|a| a.request_error) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut bodies =
        answers.iter().zip(&unavailable).map(|(a, u)| render(&a.response, !(a.request_error || u.is_some())));
    let body = match is_batch {
        true => format!("[{}]", bodies.collect::<Vec<_>>().join(",")),
        false => bodies.next().unwrap_or_default(),
    };
    let mut http = graphql_response(status, media, body);
    if let Some(secs) = retry_after {
        http.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    // What resolvers set (Set-Cookie), every value from every document: async-graphql's
    // http types, not actix's.
    for (name, value) in answers.iter().flat_map(|a| a.response.http_headers.iter()) {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_str().as_bytes()),
            header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            http.headers_mut().append(name, value);
        }
    }
    http
}

/// One document's answer as JSON text, with its `data` or without the key.
fn render(response: &Response, with_data: bool) -> String {
    /// A GraphQL response without `data`: what is left when nothing ran.
    #[derive(serde::Serialize)]
    struct WithoutData<'a> {
        errors: &'a [ServerError],
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        extensions: &'a BTreeMap<String, async_graphql::Value>,
    }
    let text = match with_data {
        true => serde_json::to_string(response),
        false => serde_json::to_string(&WithoutData { errors: &response.errors, extensions: &response.extensions }),
    };
    text.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a GraphQL response did not serialize");
        r#"{"errors":[{"message":"Internal error","extensions":{"code":"INTERNAL"}}]}"#.to_string()
    })
}

/// The longest `retryAfter` of the response's `UNAVAILABLE` errors (each has one; the
/// database's default for one that had not); `None` when it has no such error.
fn unavailable_retry_after(response: &Response) -> Option<u64> {
    let unavailable = async_graphql::Value::from(UNAVAILABLE);
    let seconds = |v: &async_graphql::Value| match v {
        async_graphql::Value::Number(n) => n.as_u64(),
        _ => None,
    };
    response
        .errors
        .iter()
        .filter_map(|e| e.extensions.as_ref())
        .filter(|x| x.get("code") == Some(&unavailable))
        .map(|x| x.get("retryAfter").and_then(seconds).unwrap_or(UNAVAILABLE_RETRY_AFTER))
        .max()
}

/// Errors raised by async-graphql itself (parse, validation, limits, argument coercion)
/// carry no code; every error of ours does (they all pass through `ApiError`). The contract
/// says every error has one, and these are all about the request's shape. Past
/// [`MAX_ERRORS`], one error says the rest were left out.
fn give_every_error_a_code(r: &mut Response) {
    if r.errors.len() > MAX_ERRORS {
        r.errors.truncate(MAX_ERRORS);
        r.errors.push(ServerError::new(format!("Too many errors: only the first {MAX_ERRORS} are shown"), None));
    }
    for e in &mut r.errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
    }
}

/// Whether the operation that would run is a mutation; only admitted documents, parsed
/// already, are asked.
fn is_mutation(request: &mut Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else { return false };
    let is_mut = |ty: OperationType| ty == OperationType::Mutation;
    match &doc.operations {
        DocumentOperations::Single(op) => is_mut(op.node.ty),
        DocumentOperations::Multiple(ops) => match &name {
            Some(name) => ops.iter().any(|(n, op)| n.as_str() == name && is_mut(op.node.ty)),
            None => ops.values().any(|op| is_mut(op.node.ty)),
        },
    }
}

/// An answer with the `/graphql` headers: the media type, and never cached.
fn graphql_response(status: StatusCode, media: MediaType, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, media.content_type()))
        .insert_header((header::CACHE_CONTROL, header::HeaderValue::from_static("no-store")))
        .body(body)
}

/// A request error of the transport's own: `errors` alone, its code `BAD_USER_INPUT`.
fn error_response(status: StatusCode, media: MediaType, message: &str) -> HttpResponse {
    let mut response = Response::from_errors(vec![ServerError::new(message, None)]);
    give_every_error_a_code(&mut response);
    graphql_response(status, media, render(&response, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::ErrorExtensionValues;

    fn error(code: &str, retry_after: Option<u64>) -> ServerError {
        let mut e = ServerError::new("x", None);
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", code);
        if let Some(secs) = retry_after {
            ext.set("retryAfter", secs);
        }
        e.extensions = Some(ext);
        e
    }

    #[test]
    fn retry_after_is_the_longest_unavailable_wait() {
        let answer = |errors| Answer { response: Response::from_errors(errors), request_error: false };
        let http = respond(
            MediaType::Json,
            vec![
                answer(vec![error("UNAVAILABLE", Some(7)), error("RATE_LIMITED", Some(60))]),
                answer(vec![error("UNAVAILABLE", Some(2))]),
            ],
            true,
        );
        assert_eq!(http.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(http.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("7"));
        let http = respond(MediaType::Json, vec![answer(vec![error("UNAVAILABLE", None)])], false);
        assert_eq!(http.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("2"));
        let http = respond(MediaType::Json, vec![answer(vec![error("RATE_LIMITED", Some(60))])], false);
        assert_eq!(http.status(), StatusCode::OK);
        assert!(http.headers().get(header::RETRY_AFTER).is_none());
    }
}
