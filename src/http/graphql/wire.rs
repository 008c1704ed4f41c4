//! What a well-formed GraphQL-over-HTTP request is, and turning one into async-graphql's.
//!
//! A POST body is a JSON object (or, our extension, an array of 1 to [`MAX_BATCH`] of them)
//! whose `query` is a string, `operationName` a string, `variables` and `extensions` objects;
//! each of the last three may be absent or null, and other keys are ignored. A GET carries
//! the same as URL parameters, `variables` and `extensions` as JSON text. Anything else is
//! [`Malformed`], answered 400 whatever the media type: the spec's "invalid parameters".

use async_graphql::{BatchRequest, Request};
use serde_json::{Map, Value};

use crate::graphql::limits::{self, LimitError};

/// More operations than this in one batch are refused: each could be a password check.
pub const MAX_BATCH: usize = 10;

/// Why a request is not a well-formed GraphQL-over-HTTP request. Each message is meant for
/// the person who wrote the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("The body is not JSON")]
    NotJson,
    #[error("The body is not a GraphQL request: a JSON object with a query (or an array of them)")]
    NotARequest,
    #[error("A batch holds 1 to {MAX_BATCH} operations")]
    BatchSize,
    #[error("The request has no query")]
    NoQuery,
    #[error("query must be a string holding a GraphQL document")]
    Query,
    #[error("operationName must be a string or null")]
    OperationName,
    #[error("variables must be a JSON object or null")]
    Variables,
    #[error("extensions must be a JSON object or null")]
    Extensions,
    #[error("Expected ?query=...&operationName=...&variables={{...}}")]
    Get,
}

/// Why a request was refused before any of its documents was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error(transparent)]
    Limit(#[from] LimitError),
}

/// A POST body: one request or a batch.
pub fn from_body(body: &[u8]) -> Result<BatchRequest, Refusal> {
    limits::scan_json(body)?;
    match serde_json::from_slice(body).map_err(|_| Malformed::NotJson)? {
        Value::Object(fields) => Ok(BatchRequest::Single(request(fields)?)),
        Value::Array(items) => {
            if items.is_empty() || items.len() > MAX_BATCH {
                return Err(Malformed::BatchSize.into());
            }
            let requests = items.into_iter().map(|item| match item {
                Value::Object(fields) => request(fields),
                _ => Err(Malformed::NotARequest),
            });
            Ok(BatchRequest::Batch(requests.collect::<Result<_, _>>()?))
        }
        _ => Err(Malformed::NotARequest.into()),
    }
}

/// GraphQL over HTTP's GET parameters.
#[derive(serde::Deserialize)]
struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// A GET's query string: one request.
pub fn from_query_string(query_string: &str) -> Result<Request, Refusal> {
    let params = actix_web::web::Query::<GetParams>::from_query(query_string).map_err(|_| Malformed::Get)?.into_inner();
    let mut fields = Map::new();
    fields.insert("query".into(), params.query.map_or(Value::Null, Value::String));
    if let Some(name) = params.operation_name {
        fields.insert("operationName".into(), Value::String(name));
    }
    for (key, text) in [("variables", params.variables), ("extensions", params.extensions)] {
        let Some(text) = text.filter(|t| !t.is_empty()) else { continue };
        limits::scan_json(text.as_bytes())?;
        let value = serde_json::from_str(&text).map_err(|_| Malformed::Get)?;
        fields.insert(key.into(), value);
    }
    Ok(request(fields)?)
}

/// One request object, its fields checked against the spec.
fn request(mut fields: Map<String, Value>) -> Result<Request, Malformed> {
    match fields.get("query") {
        Some(Value::String(_)) => {}
        None | Some(Value::Null) => return Err(Malformed::NoQuery),
        Some(_) => return Err(Malformed::Query),
    }
    let optional = [
        ("operationName", Malformed::OperationName),
        ("variables", Malformed::Variables),
        ("extensions", Malformed::Extensions),
    ];
    for (key, error) in optional {
        match fields.get(key) {
            None => {}
            // Absent and null mean the same; an empty name is no name (as over GET).
            Some(Value::Null) => {
                fields.remove(key);
            }
            Some(Value::String(s)) if key == "operationName" && s.is_empty() => {
                fields.remove(key);
            }
            Some(Value::String(_)) if key == "operationName" => {}
            Some(Value::Object(_)) if key != "operationName" => {}
            Some(_) => return Err(error),
        }
    }
    // Every field is of the type async-graphql reads it as: this only fails on a value it
    // cannot hold (a number beyond f64), which is as malformed as any.
    serde_json::from_value(Value::Object(fields)).map_err(|_| Malformed::NotARequest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> Refusal {
        match from_body(body.as_bytes()) {
            Ok(_) => panic!("{body} was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn well_formed_requests() {
        let Ok(BatchRequest::Single(r)) =
            from_body(br#"{"query":"query Q($a: Int) { x }","operationName":"Q","variables":{"a":1},"extensions":{"e":true},"id":7}"#)
        else {
            panic!("not one request")
        };
        assert_eq!(r.operation_name.as_deref(), Some("Q"));
        assert_eq!(r.variables.get(&async_graphql::Name::new("a")), Some(&async_graphql::Value::from(1)));
        assert!(r.extensions.get("e").is_some());
        let nulls = from_body(br#"{"query":"{ x }","operationName":null,"variables":null,"extensions":null}"#);
        assert!(matches!(nulls, Ok(BatchRequest::Single(_))));
        assert!(
            matches!(from_body(br#"[{"query":"{ x }"},{"query":"{ y }"}]"#), Ok(BatchRequest::Batch(b)) if b.len() == 2)
        );
    }

    #[test]
    fn malformed_requests() {
        use Malformed::*;
        let cases = [
            ("{\"query\":", NotJson),
            ("", NotJson),
            ("\"{ x }\"", NotARequest),
            ("[]", BatchSize),
            ("[1]", NotARequest),
            ("{}", NoQuery),
            (r#"{"qeury":"{ x }"}"#, NoQuery),
            (r#"{"query":null}"#, NoQuery),
            (r#"{"query":{"obj":"ect"}}"#, Query),
            (r#"{"query":0}"#, Query),
            (r#"{"query":["{ x }"]}"#, Query),
            (r#"{"query":"{ x }","operationName":false}"#, OperationName),
            (r#"{"query":"{ x }","variables":"{}"}"#, Variables),
            (r#"{"query":"{ x }","variables":[7]}"#, Variables),
            (r#"{"query":"{ x }","extensions":0}"#, Extensions),
            (r#"[{"query":"{ x }"},{"qeury":"{ x }"}]"#, NoQuery),
        ];
        for (body, expected) in cases {
            assert_eq!(refused(body), Refusal::Malformed(expected), "{body}");
        }
        let eleven = format!("[{}]", [r#"{"query":"{ x }"}"#; MAX_BATCH + 1].join(","));
        assert_eq!(refused(&eleven), Refusal::Malformed(BatchSize));
    }

    #[test]
    fn get_parameters() {
        let r = from_query_string("query=query%20Q%20%7B%20x%20%7D&operationName=Q&variables=%7B%22a%22%3A1%7D")
            .expect("ok");
        assert_eq!(r.operation_name.as_deref(), Some("Q"));
        assert!(from_query_string("query=%7Bx%7D&variables=&operationName=").is_ok());
        assert_eq!(from_query_string("operationName=Q").err(), Some(Refusal::Malformed(Malformed::NoQuery)));
        assert_eq!(
            from_query_string("query=%7Bx%7D&variables=%5B7%5D").err(),
            Some(Refusal::Malformed(Malformed::Variables))
        );
        assert_eq!(from_query_string("query=%7Bx%7D&variables=%7B").err(), Some(Refusal::Malformed(Malformed::Get)));
    }
}
