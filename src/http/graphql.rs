//! GraphQL over HTTP: POST with a JSON body (single or batch), GET for queries only.
//!
//! Every request passes [`limits`] before async-graphql sees it: the raw JSON and query text
//! are scanned for nesting and length, then each document is parsed once and measured with
//! its fragments expanded. A request over a limit of its own is answered 400; a document over
//! a limit of its own (depth, complexity) gets an error in its place, as validation would give,
//! and is never run. Either way the code is `BAD_USER_INPUT`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError};
use async_graphql_actix_web::GraphQLResponse;
use serde_json::json;

use crate::graphql::AuthqlSchema;
use crate::graphql::context::RequestContext;
use crate::graphql::error::UNAVAILABLE_FLAG;
use crate::graphql::limits::{self, Budget, LimitError, Refusal};
use crate::http::credentials;
use crate::server::AppState;

/// More operations than this in one batch are refused: each could be a password check.
pub const MAX_BATCH: usize = 10;
pub use crate::graphql::limits::MAX_ALIASES;
/// An answer lists at most this many errors (graphql-js stops validating at 100 too): a
/// request of 10,000 tokens can otherwise provoke thousands, a response far larger than it.
pub const MAX_ERRORS: usize = 100;

pub async fn post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    schema: web::Data<AuthqlSchema>,
) -> HttpResponse {
    if !credentials::is_json(&req) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST /graphql takes Content-Type: application/json",
        );
    }
    if let Err(e) = limits::scan_json(&body) {
        return refuse(&e);
    }
    let mut batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(_) => return error_response(StatusCode::BAD_REQUEST, "The body is not a GraphQL request in JSON"),
    };
    if let BatchRequest::Batch(items) = &batch
        && (items.is_empty() || items.len() > MAX_BATCH)
    {
        return error_response(StatusCode::BAD_REQUEST, &format!("A batch holds 1 to {MAX_BATCH} operations"));
    }
    let refusals = match admit(&mut batch) {
        Ok(refusals) => refusals,
        Err(e) => return refuse(&e),
    };
    execute(&req, &state, &schema, batch, refusals).await
}

/// GraphQL over HTTP's GET parameters (`operationName`, `variables` as JSON text).
#[derive(serde::Deserialize)]
struct GetParams {
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
}

/// Why a GET could not become a request.
enum GetError {
    Malformed,
    Limit(LimitError),
}

fn parse_get(query_string: &str) -> Result<Request, GetError> {
    let params = web::Query::<GetParams>::from_query(query_string).map_err(|_| GetError::Malformed)?.into_inner();
    let mut request = Request::new(params.query);
    if let Some(name) = params.operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.variables.filter(|v| !v.is_empty()) {
        limits::scan_json(vars.as_bytes()).map_err(GetError::Limit)?;
        let value: serde_json::Value = serde_json::from_str(&vars).map_err(|_| GetError::Malformed)?;
        request = request.variables(async_graphql::Variables::from_json(value));
    }
    Ok(request)
}

pub async fn get(req: HttpRequest, state: web::Data<AppState>, schema: web::Data<AuthqlSchema>) -> HttpResponse {
    let mut batch = match parse_get(req.query_string()) {
        Ok(request) => BatchRequest::Single(request),
        Err(GetError::Limit(e)) => return refuse(&e),
        Err(GetError::Malformed) => {
            return error_response(StatusCode::BAD_REQUEST, "Expected ?query=...&operationName=...&variables={...}");
        }
    };
    let refusals = match admit(&mut batch) {
        Ok(refusals) => refusals,
        Err(e) => return refuse(&e),
    };
    let runs_a_mutation = batch.iter_mut().zip(&refusals).any(|(r, refused)| refused.is_none() && is_mutation(r));
    if runs_a_mutation {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "POST"))
            .json(error_body("Mutations are only accepted over POST"));
    }
    execute(&req, &state, &schema, batch, refusals).await
}

/// Holds every document of the request to [`limits`], one budget for the whole batch. `Err`
/// refuses the request; otherwise each document's own refusal, if any, in batch order.
fn admit(batch: &mut BatchRequest) -> Result<Vec<Option<ServerError>>, LimitError> {
    let mut budget = Budget::default();
    let mut refusals = Vec::new();
    for request in batch.iter_mut() {
        match budget.admit(request) {
            Ok(()) => refusals.push(None),
            Err(Refusal::Request(e)) => return Err(e),
            Err(Refusal::Document(e)) => refusals.push(Some(e)),
        }
    }
    Ok(refusals)
}

fn refuse(e: &LimitError) -> HttpResponse {
    tracing::debug!(reason = %e, "request refused by a limit");
    error_response(StatusCode::BAD_REQUEST, &e.to_string())
}

pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, POST"))
        .json(error_body("GraphQL is served over GET and POST"))
}

/// Runs a batch that [`admit`] let through (its documents at once, as async-graphql runs a
/// batch); a refused document is answered with its refusal in its place and never runs.
async fn execute(
    req: &HttpRequest,
    state: &AppState,
    schema: &AuthqlSchema,
    batch: BatchRequest,
    refusals: Vec<Option<ServerError>>,
) -> HttpResponse {
    let token = credentials::session_token(req, state);
    let client = credentials::client_info(req, state);
    let with_context = |r: Request| r.data(RequestContext::new(token.clone(), client.clone()));
    let refused = |e: &ServerError| Response::from_errors(vec![e.clone()]);
    let mut response = match batch {
        BatchRequest::Single(r) => match refusals.first().and_then(Option::as_ref) {
            Some(e) => BatchResponse::Single(refused(e)),
            None => schema.execute_batch(BatchRequest::Single(with_context(r))).await,
        },
        BatchRequest::Batch(items) => {
            let admitted = items.into_iter().zip(&refusals).filter(|(_, e)| e.is_none()).map(|(r, _)| with_context(r));
            let mut ran = match schema.execute_batch(BatchRequest::Batch(admitted.collect())).await {
                BatchResponse::Batch(responses) => responses.into_iter(),
                BatchResponse::Single(one) => vec![one].into_iter(),
            };
            let answers = refusals.iter().map(|e| match e {
                Some(e) => refused(e),
                None => ran.next().unwrap_or_default(),
            });
            BatchResponse::Batch(answers.collect())
        }
    };
    give_every_error_a_code(&mut response);
    let unavailable = is_unavailable(&response);
    let mut http = GraphQLResponse::from(response).respond_to(req);
    http.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    if unavailable {
        *http.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    http
}

fn is_unavailable(response: &BatchResponse) -> bool {
    let flagged = |r: &async_graphql::Response| {
        r.errors.iter().any(|e| e.extensions.as_ref().is_some_and(|x| x.get(UNAVAILABLE_FLAG).is_some()))
    };
    match response {
        BatchResponse::Single(r) => flagged(r),
        BatchResponse::Batch(rs) => rs.iter().any(flagged),
    }
}

/// Errors raised by async-graphql itself (parse, validation, limits, argument coercion)
/// carry no code; every error of ours does (they all pass through `ApiError`). The contract
/// says every error has one, and these are all about the request's shape. Past
/// [`MAX_ERRORS`], one error says the rest were left out.
fn give_every_error_a_code(response: &mut BatchResponse) {
    let fix = |r: &mut async_graphql::Response| {
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
    };
    match response {
        BatchResponse::Single(r) => fix(r),
        BatchResponse::Batch(rs) => rs.iter_mut().for_each(fix),
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

fn error_body(message: &str) -> serde_json::Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_USER_INPUT" } }] })
}

fn error_response(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(error_body(message))
}
