//! GraphQL over HTTP: POST with a JSON body (single or batch), GET for queries only.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use async_graphql::parser::types::{DocumentOperations, OperationType, Selection, SelectionSet};
use async_graphql::{BatchRequest, BatchResponse, Request};
use async_graphql_actix_web::GraphQLResponse;
use serde_json::json;

use crate::graphql::AuthqlSchema;
use crate::graphql::context::RequestContext;
use crate::graphql::error::{UNAVAILABLE, UNAVAILABLE_RETRY_AFTER};
use crate::http::credentials;
use crate::state::AppState;

/// More operations than this in one batch are refused: each could be a password check.
pub const MAX_BATCH: usize = 10;
/// More aliased fields than this in one document are refused: aliases are how one request
/// asks for the same expensive field many times.
pub const MAX_ALIASES: usize = 30;

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
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(_) => return error_response(StatusCode::BAD_REQUEST, "The body is not a GraphQL request in JSON"),
    };
    if let BatchRequest::Batch(items) = &batch
        && (items.is_empty() || items.len() > MAX_BATCH)
    {
        return error_response(StatusCode::BAD_REQUEST, &format!("A batch holds 1 to {MAX_BATCH} operations"));
    }
    execute(&req, &state, &schema, batch).await
}

/// GraphQL over HTTP's GET parameters (`operationName`, `variables` as JSON text).
#[derive(serde::Deserialize)]
struct GetParams {
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
}

fn parse_get(query_string: &str) -> Option<Request> {
    let params: GetParams = web::Query::<GetParams>::from_query(query_string).ok()?.into_inner();
    let mut request = Request::new(params.query);
    if let Some(name) = params.operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.variables.filter(|v| !v.is_empty()) {
        let value: serde_json::Value = serde_json::from_str(&vars).ok()?;
        request = request.variables(async_graphql::Variables::from_json(value));
    }
    Some(request)
}

pub async fn get(req: HttpRequest, state: web::Data<AppState>, schema: web::Data<AuthqlSchema>) -> HttpResponse {
    let Some(request) = parse_get(req.query_string()) else {
        return error_response(StatusCode::BAD_REQUEST, "Expected ?query=...&operationName=...&variables={...}");
    };
    if is_mutation(&request) {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "POST"))
            .json(error_body("Mutations are only accepted over POST"));
    }
    execute(&req, &state, &schema, BatchRequest::Single(request)).await
}

pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, POST"))
        .json(error_body("GraphQL is served over GET and POST"))
}

async fn execute(req: &HttpRequest, state: &AppState, schema: &AuthqlSchema, batch: BatchRequest) -> HttpResponse {
    if batch.iter().any(|r| too_many_aliases(&r.query)) {
        return error_response(StatusCode::BAD_REQUEST, &format!("A request may use at most {MAX_ALIASES} aliases"));
    }
    let token = credentials::session_token(req, state);
    let mut client = credentials::client_info(req, state);
    client.flow_binding = credentials::flow_binding(req);
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(r.data(RequestContext::new(token, client))),
        BatchRequest::Batch(items) => BatchRequest::Batch(
            items.into_iter().map(|r| r.data(RequestContext::new(token.clone(), client.clone()))).collect(),
        ),
    };
    let mut response = schema.execute_batch(batch).await;
    give_every_error_a_code(&mut response);
    let unavailable = is_unavailable(&response);
    let mut http = GraphQLResponse::from(response).respond_to(req);
    http.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    if unavailable {
        *http.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        http.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(UNAVAILABLE_RETRY_AFTER));
    }
    http
}

fn is_unavailable(response: &BatchResponse) -> bool {
    let unavailable = async_graphql::Value::from(UNAVAILABLE);
    let flagged = |r: &async_graphql::Response| {
        r.errors.iter().any(|e| e.extensions.as_ref().and_then(|x| x.get("code")) == Some(&unavailable))
    };
    match response {
        BatchResponse::Single(r) => flagged(r),
        BatchResponse::Batch(rs) => rs.iter().any(flagged),
    }
}

/// Errors raised by async-graphql itself (parse, validation, limits, argument coercion)
/// carry no code; every error of ours does (they all pass through `ApiError`). The contract
/// says every error has one, and these are all about the request's shape.
fn give_every_error_a_code(response: &mut BatchResponse) {
    let fix = |r: &mut async_graphql::Response| {
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

fn too_many_aliases(query: &str) -> bool {
    // Every alias needs a colon: most documents are ruled out without parsing.
    if query.bytes().filter(|b| *b == b':').count() <= MAX_ALIASES {
        return false;
    }
    let Ok(doc) = async_graphql::parser::parse_query(query) else { return false };
    let mut aliases = 0;
    let mut stack: Vec<&SelectionSet> = doc.operations.iter().map(|(_, op)| &op.node.selection_set.node).collect();
    stack.extend(doc.fragments.values().map(|f| &f.node.selection_set.node));
    while let Some(set) = stack.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    aliases += usize::from(f.node.alias.is_some());
                    stack.push(&f.node.selection_set.node);
                }
                Selection::InlineFragment(f) => stack.push(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    aliases > MAX_ALIASES
}

fn is_mutation(request: &Request) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else { return false };
    let is_mut = |ty: OperationType| ty == OperationType::Mutation;
    match doc.operations {
        DocumentOperations::Single(op) => is_mut(op.node.ty),
        DocumentOperations::Multiple(ops) => match &request.operation_name {
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
