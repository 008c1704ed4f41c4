//! The skeleton: routes, probes, the playground, the schema file, transport rules.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp};

async fn probes_and_playground(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.addr)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let page = get("/graphiql").await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers().get("content-security-policy").expect("CSP").to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/graphiql/assets/graphiql.min.js"));
    let js = get("/graphiql/assets/graphiql.min.js").await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.unwrap().len() > 100_000, "the real GraphiQL bundle is served");
    assert_eq!(get("/graphiql/assets/../Cargo.toml").await.unwrap().status(), 404);
}
both!(probes_and_playground);

async fn auth_providers_lists_the_registry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = app.gql("{ authProviders }", json!({})).await;
    assert_eq!(body["data"]["authProviders"], json!(["emailpass"]));
    // GET serves queries too.
    let resp = app.client.get(format!("{}/graphql?query=%7BauthProviders%7D", app.addr)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["authProviders"], json!(["emailpass"]));
}
both!(auth_providers_lists_the_registry);

#[tokio::test]
async fn mutations_are_refused_over_get() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let url = format!("{}/graphql?query=mutation%7Blogout%7D", app.addr);
    let resp = app.client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    // Named operations: the one selected decides.
    let q = "query%20A%7BauthProviders%7Dmutation%20B%7Blogout%7D";
    let resp = app.client.get(format!("{}/graphql?query={q}&operationName=B", app.addr)).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let resp = app.client.get(format!("{}/graphql?query={q}&operationName=A", app.addr)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn non_json_posts_and_bad_bodies_get_clear_client_errors() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let url = format!("{}/graphql", app.addr);
    let resp = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body(r#"{"query":"{ authProviders }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let resp = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=%7BauthProviders%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let resp = app.client.post(&url).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let big = "x".repeat(200 * 1024);
    let resp = app.client.post(&url).json(&json!({ "query": big })).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    let resp = app.client.delete(&url).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn batches_run_and_are_bounded() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let url = format!("{}/graphql", app.addr);
    let one = json!({ "query": "{ authProviders }" });
    let resp = app.client.post(&url).json(&json!([one, one])).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body.as_array().map(Vec::len), Some(2));
    let resp = app.client.post(&url).json(&Value::Array(vec![one; 11])).send().await.unwrap();
    assert_eq!(resp.status(), 400);
}

#[test]
fn schema_file_matches_the_served_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let served = authql::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &served).expect("write schema.graphql");
    }
    let stored = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        stored == served,
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql` (or UPDATE_SCHEMA=1 cargo test)"
    );
}

#[test]
fn schema_has_the_contract_names() {
    let sdl = authql::graphql::sdl();
    for needle in [
        "scalar DateTime",
        "scalar JSON",
        "enum Role",
        "authenticate(provider: String!, input: JSON!): AuthResult!",
        "validateCallback(provider: String!, input: JSON!): AuthResult!",
        "me: User",
        "session: Session",
        "sessions: [Session!]!",
        "authProviders: [String!]!",
        "logout: Boolean!",
        "revokeSession(id: ID!): Boolean!",
        "revokeAllSessions: Int!",
    ] {
        assert!(sdl.contains(needle), "schema lacks `{needle}`");
    }
    assert!(!sdl.contains("providerMetadata") && !sdl.contains("tokenHash") && !sdl.contains("passwordHash"));
}

/// GraphiQL shows descriptions: every type, field, input field and enum value has one.
#[test]
fn every_type_and_field_is_described() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(authql::graphql::sdl()).expect("the SDL parses");
    let mut missing = Vec::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(t) = def else { continue };
        let t = t.node;
        let name = t.name.node.to_string();
        if t.description.is_none() {
            missing.push(name.clone());
        }
        match t.kind {
            TypeKind::Object(o) => missing.extend(
                o.fields
                    .iter()
                    .filter(|f| f.node.description.is_none())
                    .map(|f| format!("{name}.{}", f.node.name.node)),
            ),
            TypeKind::InputObject(i) => missing.extend(
                i.fields
                    .iter()
                    .filter(|f| f.node.description.is_none())
                    .map(|f| format!("{name}.{}", f.node.name.node)),
            ),
            TypeKind::Enum(e) => missing.extend(
                e.values
                    .iter()
                    .filter(|v| v.node.description.is_none())
                    .map(|v| format!("{name}.{}", v.node.value.node)),
            ),
            _ => {}
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}
