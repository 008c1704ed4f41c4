//! GraphQL over HTTP to the letter (API.md 6.3): the media type follows `Accept`; under
//! `application/graphql-response+json` a request error is 400 without `data`; under
//! `application/json` it is the legacy 200; execution errors are 200 with `data`, except
//! `UNAVAILABLE`, 503. Spoken over a raw socket, so a request can go without `Accept`.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both;
use crate::faults::Relay;
use crate::helpers::{AUTHENTICATE, Backend, TestApp};

const GRJ: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// What came back, as the wire carried it.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The media type, without parameters.
    fn media(&self) -> &str {
        self.header("content-type").and_then(|t| t.split(';').next()).unwrap_or("").trim()
    }

    fn has_data(&self) -> bool {
        self.body.get("data").is_some()
    }

    fn codes(&self) -> Vec<&str> {
        let errors = self.body["errors"].as_array().map(Vec::as_slice).unwrap_or_default();
        errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("(none)")).collect()
    }
}

/// One HTTP/1.1 exchange on a fresh connection: `headers` are sent as given, nothing added
/// but `Host`, `Content-Length` and `Connection: close`.
async fn exchange(app: &TestApp, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let host = app.addr.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).expect("the answer is UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if body.is_empty() { Value::Null } else { serde_json::from_str(body).expect("a JSON body") };
    Answer { status, headers, body }
}

/// POSTs `body` (JSON text) to /graphql with this `Accept`, if any.
async fn post(app: &TestApp, accept: Option<&str>, body: &str) -> Answer {
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(accept.map(|a| ("Accept", a)));
    exchange(app, "POST", "/graphql", &headers, body).await
}

async fn post_json(app: &TestApp, accept: Option<&str>, body: Value) -> Answer {
    post(app, accept, &body.to_string()).await
}

async fn get(app: &TestApp, accept: Option<&str>, query_string: &str) -> Answer {
    let headers: Vec<_> = accept.map(|a| ("Accept", a)).into_iter().collect();
    exchange(app, "GET", &format!("/graphql?{query_string}"), &headers, "").await
}

#[tokio::test]
async fn the_media_type_follows_accept() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let query = json!({ "query": "{ authProviders }" });
    let cases: &[(Option<&str>, u16, &str)] = &[
        (None, 200, JSON),
        (Some("*/*"), 200, JSON),
        (Some("application/*"), 200, JSON),
        (Some("application/json"), 200, JSON),
        (Some("application/json; charset=utf-8"), 200, JSON),
        (Some(GRJ), 200, GRJ),
        // graphql-request 7 and Apollo Client 4 say these: they prefer the new type.
        (Some("application/graphql-response+json, application/json"), 200, GRJ),
        (Some("application/graphql-response+json,application/json;q=0.9"), 200, GRJ),
        // Listed first, or weighed more, wins.
        (Some("application/json, application/graphql-response+json"), 200, JSON),
        (Some("application/graphql-response+json;q=0.5, application/json;q=0.8"), 200, JSON),
        (Some("text/html, application/graphql-response+json;q=0.1"), 200, GRJ),
        // A browser's address bar: */* is in it.
        (Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), 200, JSON),
        // Neither type, nor a range holding one: the spec's recommended 406.
        (Some("text/html"), 406, JSON),
        (Some("application/xml, text/*"), 406, JSON),
        (Some("application/json;q=0"), 406, JSON),
    ];
    for &(accept, status, media) in cases {
        let answer = post_json(&app, accept, query.clone()).await;
        assert_eq!((answer.status, answer.media()), (status, media), "Accept: {accept:?}: {answer:?}");
        assert!(answer.header("content-type").unwrap().contains("charset=utf-8"), "{answer:?}");
        if status == 200 {
            assert_eq!(answer.body["data"]["authProviders"], json!(["emailpass"]), "{answer:?}");
        } else {
            assert!(!answer.has_data(), "{answer:?}");
            assert_eq!(answer.codes(), ["BAD_USER_INPUT"], "{answer:?}");
        }
        // GET negotiates the same way.
        let answer = get(&app, accept, "query=%7BauthProviders%7D").await;
        assert_eq!((answer.status, answer.media()), (status, media), "GET, Accept: {accept:?}: {answer:?}");
    }
}

/// A well-formed request whose document cannot run, each kind of it: under
/// `application/graphql-response+json` 400 without `data`, under `application/json` 200
/// without `data`; `BAD_USER_INPUT` either way.
#[tokio::test]
async fn request_errors_are_400_without_data_under_graphql_response_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let deep = format!("{{ {} b {} }}", "a { ".repeat(20), "} ".repeat(20));
    let cases = [
        ("a document that does not parse", json!({ "query": "{" })),
        ("an empty document", json!({ "query": "" })),
        ("a validation error", json!({ "query": "{ noSuchField }" })),
        ("an unused variable", json!({ "query": "query($id: ID!) { authProviders }", "variables": { "id": "1" } })),
        ("an unknown operation", json!({ "query": "query A { authProviders }", "operationName": "B" })),
        ("no operation chosen", json!({ "query": "query A { authProviders } query B { authProviders }" })),
        ("a required variable not given", json!({ "query": "query($n: Int!) { users(take: $n) { totalCount } }" })),
        (
            "a non-null variable given null",
            json!({ "query": "query($n: Int!) { users(take: $n) { totalCount } }", "variables": { "n": null } }),
        ),
        (
            "a variable of the wrong scalar",
            json!({ "query": "query($n: Int) { users(take: $n) { totalCount } }", "variables": { "n": "ten" } }),
        ),
        (
            "a Boolean variable given a string",
            json!({ "query": "query($b: Boolean!) { authProviders @include(if: $b) }", "variables": { "b": "yes" } }),
        ),
        ("a document over the depth limit", json!({ "query": deep })),
    ];
    for (label, body) in cases {
        let strict = post_json(&app, Some(GRJ), body.clone()).await;
        assert_eq!((strict.status, strict.media()), (400, GRJ), "{label}: {strict:?}");
        assert!(!strict.has_data(), "{label}: no data key: {strict:?}");
        assert!(
            !strict.codes().is_empty() && strict.codes().iter().all(|c| *c == "BAD_USER_INPUT"),
            "{label}: {strict:?}"
        );
        let legacy = post_json(&app, Some(JSON), body).await;
        assert_eq!((legacy.status, legacy.media()), (200, JSON), "{label}: {legacy:?}");
        assert!(!legacy.has_data(), "{label}: {legacy:?}");
        assert_eq!(legacy.body["errors"], strict.body["errors"], "{label}: the same errors either way");
    }
    // A mutation whose variables do not coerce is refused before it runs.
    let sign_up = json!({ "query": AUTHENTICATE, "variables": { "provider": "emailpass" } });
    let answer = post_json(&app, Some(GRJ), sign_up).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body["errors"][0]["message"].as_str().unwrap().contains("$input"), "{answer:?}");
}

/// Not a well-formed request at all (the spec's "JSON parsing failure" and "invalid
/// parameters"), or over a limit of the whole request: 400 whatever `Accept` says.
#[tokio::test]
async fn malformed_requests_are_400_in_either_media_type() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let aliases = format!("{{ {} }}", (0..31).map(|i| format!("a{i}: authProviders")).collect::<Vec<_>>().join(" "));
    let cases = [
        ("JSON that does not parse", "{ \"not a JSON".to_string()),
        ("no body", String::new()),
        ("a string", json!("{ authProviders }").to_string()),
        ("no query", json!({ "qeury": "{ authProviders }" }).to_string()),
        ("a null query", json!({ "query": null }).to_string()),
        ("a query that is an object", json!({ "query": { "obj": "ect" } }).to_string()),
        ("an operationName that is a number", json!({ "query": "{ authProviders }", "operationName": 0 }).to_string()),
        ("variables that are a list", json!({ "query": "{ authProviders }", "variables": [7] }).to_string()),
        ("variables that are a string", json!({ "query": "{ authProviders }", "variables": "{}" }).to_string()),
        ("extensions that are a boolean", json!({ "query": "{ authProviders }", "extensions": false }).to_string()),
        ("an empty batch", "[]".to_string()),
        ("a batch with a malformed item", json!([{ "query": "{ authProviders }" }, { "qeury": "x" }]).to_string()),
        ("too many aliases", json!({ "query": aliases }).to_string()),
    ];
    for (label, body) in cases {
        for accept in [None, Some(JSON), Some(GRJ)] {
            let answer = post(&app, accept, &body).await;
            let media = if accept == Some(GRJ) { GRJ } else { JSON };
            assert_eq!((answer.status, answer.media()), (400, media), "{label}, Accept {accept:?}: {answer:?}");
            assert!(!answer.has_data(), "{label}: {answer:?}");
            assert_eq!(answer.codes(), ["BAD_USER_INPUT"], "{label}: {answer:?}");
        }
    }
    // Null optional parameters are no parameters.
    let nulls = json!({ "query": "{ authProviders }", "operationName": null, "variables": null, "extensions": null });
    let answer = post_json(&app, Some(GRJ), nulls).await;
    assert_eq!((answer.status, &answer.body["data"]["authProviders"]), (200, &json!(["emailpass"])), "{answer:?}");
}

/// What the spec leaves as it was: a mutation over GET is 405, a POST that is not JSON 415,
/// another method 405; each in the negotiated type.
#[tokio::test]
async fn get_mutations_and_non_json_posts_are_still_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for accept in [None, Some(GRJ)] {
        let media = accept.unwrap_or(JSON);
        let answer = get(&app, accept, "query=mutation%7Blogout%7D").await;
        assert_eq!((answer.status, answer.media(), answer.header("allow")), (405, media, Some("POST")), "{answer:?}");
        assert_eq!(answer.codes(), ["BAD_USER_INPUT"]);
        let mut headers = vec![("Content-Type", "text/plain")];
        headers.extend(accept.map(|a| ("Accept", a)));
        let answer = exchange(&app, "POST", "/graphql", &headers, r#"{"query":"{ authProviders }"}"#).await;
        assert_eq!((answer.status, answer.media()), (415, media), "{answer:?}");
        let answer = exchange(&app, "POST", "/graphql", &headers[1..], r#"{"query":"{ authProviders }"}"#).await;
        assert_eq!(answer.status, 415, "no Content-Type: {answer:?}");
        let answer = exchange(&app, "PUT", "/graphql", &headers[1..], "").await;
        assert_eq!((answer.status, answer.header("allow")), (405, Some("GET, POST")), "{answer:?}");
    }
    // GET: the same request errors, the same statuses.
    let answer = get(&app, Some(GRJ), "query=%7BnoSuchField%7D").await;
    assert_eq!((answer.status, answer.has_data()), (400, false), "{answer:?}");
    let answer = get(&app, Some(JSON), "query=%7BnoSuchField%7D").await;
    assert_eq!((answer.status, answer.has_data()), (200, false), "{answer:?}");
    let answer = get(&app, Some(GRJ), "operationName=A").await;
    assert_eq!((answer.status, answer.codes()), (400, vec!["BAD_USER_INPUT"]), "{answer:?}");
    let q = "query=query(%24n%3A%20Int!)%7BauthProviders%20users(take%3A%20%24n)%7BtotalCount%7D%7D";
    let answer = get(&app, Some(GRJ), q).await;
    assert_eq!((answer.status, answer.has_data()), (400, false), "a variable not given: {answer:?}");
}

/// Errors met while running are the result's business: 200 with `data` in either type,
/// and what resolvers set (the session cookie) still reaches the client.
async fn execution_errors_are_200_with_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for accept in [None, Some(JSON), Some(GRJ)] {
        let answer = post_json(&app, accept, json!({ "query": "{ users { totalCount } }" })).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.has_data() && answer.body["data"].is_null(), "{answer:?}");
        assert_eq!(answer.codes(), ["UNAUTHENTICATED"]);
    }
    let sign_in = |password: &str| json!({ "query": AUTHENTICATE, "variables": { "provider": "emailpass", "input": { "email": "tess@example.com", "password": password } } });
    let answer = post_json(&app, Some(GRJ), sign_in("tess's pass phrase")).await;
    assert_eq!((answer.status, &answer.body["data"]["authenticate"]["success"]), (200, &json!(true)), "{answer:?}");
    assert!(answer.header("set-cookie").is_some_and(|c| c.starts_with("authql_session=")), "{answer:?}");
    for _ in 0..5 {
        let answer = post_json(&app, Some(GRJ), sign_in("a wrong guess 1")).await;
        assert_eq!(answer.body["data"]["authenticate"]["success"], false, "{answer:?}");
    }
    let answer = post_json(&app, Some(GRJ), sign_in("a wrong guess 1")).await;
    assert_eq!((answer.status, answer.codes()), (200, vec!["RATE_LIMITED"]), "{answer:?}");
    assert!(answer.has_data(), "{answer:?}");
}
both!(execution_errors_are_200_with_data);

/// A batch answers each document in its place: one bad document does not stop the others,
/// and the batch is 400 under `application/graphql-response+json` only when none ran.
#[tokio::test]
async fn batches_answer_each_document_in_its_place() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let good = json!({ "query": "{ authProviders }" });
    let bad = json!({ "query": "{ noSuchField }" });
    let uncoerced = json!({ "query": "query($n: Int!) { users(take: $n) { totalCount } }" });
    let answer = post_json(&app, Some(GRJ), json!([good, bad, uncoerced, good])).await;
    assert_eq!((answer.status, answer.media()), (200, GRJ), "{answer:?}");
    let items = answer.body.as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["data"]["authProviders"], json!(["emailpass"]));
    assert!(items[1].get("data").is_none() && items[1]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT");
    assert!(items[2].get("data").is_none() && items[2]["errors"][0]["message"].as_str().unwrap().contains("$n"));
    assert_eq!(items[3]["data"]["authProviders"], json!(["emailpass"]));
    let answer = post_json(&app, Some(GRJ), json!([bad, uncoerced])).await;
    assert_eq!(answer.status, 400, "none ran: {answer:?}");
    assert!(answer.body.as_array().unwrap().iter().all(|i| i.get("data").is_none()), "{answer:?}");
    let answer = post_json(&app, Some(JSON), json!([bad, uncoerced])).await;
    assert_eq!((answer.status, answer.media()), (200, JSON), "{answer:?}");
}

/// `UNAVAILABLE` keeps its 503 and `Retry-After` in either type, and the answer has no
/// `data`: the spec allows a non-2xx answer only without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_503_in_either_media_type() {
    let (relay, app) = Relay::app_behind().await;
    let (token, _) = app.sign_up("olga@example.com", "olga's pass phrase").await;
    relay.cut();
    let bearer = format!("Bearer {token}");
    for accept in [None, Some(JSON), Some(GRJ)] {
        let mut headers = vec![("Content-Type", "application/json"), ("Authorization", bearer.as_str())];
        headers.extend(accept.map(|a| ("Accept", a)));
        let single = json!({ "query": "{ me { email } authProviders }" }).to_string();
        let answer = exchange(&app, "POST", "/graphql", &headers, &single).await;
        assert_eq!((answer.status, answer.media()), (503, accept.unwrap_or(JSON)), "{answer:?}");
        assert_eq!(answer.header("retry-after"), Some("2"), "{answer:?}");
        assert_eq!(answer.codes(), ["UNAVAILABLE"], "{answer:?}");
        assert!(!answer.has_data(), "{answer:?}");
        let batch = json!([{ "query": "{ authProviders }" }, { "query": "{ me { email } }" }]).to_string();
        let answer = exchange(&app, "POST", "/graphql", &headers, &batch).await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert_eq!(answer.body[0]["data"]["authProviders"], json!(["emailpass"]), "{answer:?}");
        assert!(answer.body[1].get("data").is_none(), "{answer:?}");
    }
}
