//! The web app (`examples/web`): one HTML page answered at `/` and at each of the app's own
//! paths (the page routes itself in the browser), and its files under `/app/`. The files are
//! built into the binary, as GraphiQL's are, so the server needs nothing on disk and the
//! browser loads nothing from anywhere else. Served when `AUTHQL_UI` is true.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// The paths the app answers in the browser. Links in e-mails point at some of them
/// (`AUTHQL_APP_URL/reset-password?token=...`), and google sends people back to
/// `/auth/callback`. Any other path stays a 404: a typo in an API URL should not get a
/// 200 with HTML.
pub(crate) const PAGES: &[&str] = &["/", "/auth/callback", "/invite", "/reset-password", "/security", "/verify-email"];

const INDEX: &str = include_str!("../../examples/web/index.html");

const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/api.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/dom.js")),
    ("links.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/links.js")),
    ("providers.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/providers.js")),
    ("router.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/router.js")),
    ("second-factor.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/second-factor.js")),
    ("security.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/security.js")),
    ("qr.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/qr.js")),
    ("passkeys.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/passkeys.js")),
    ("webauthn.js", "text/javascript; charset=utf-8", include_bytes!("../../examples/web/webauthn.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../examples/web/app.css")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../../examples/web/favicon.svg")),
];

/// Everything comes from this origin and nothing runs inline, so an injected `<script>` or
/// `style=` has no effect; `connect-src 'self'` keeps the session's requests on /graphql here.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    for page in PAGES {
        cfg.route(page, web::get().to(index));
    }
    cfg.route("/app/{file}", web::get().to(asset));
}

// `nosniff`, `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer` (the app's URLs carry
// one-time tokens) come from http::middleware, on every response.
async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(INDEX)
}

async fn asset(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == file.as_str()) {
        // The file names carry no version, so a browser must revalidate them after an upgrade.
        Some((_, mime, body)) => {
            HttpResponse::Ok().content_type(*mime).insert_header((header::CACHE_CONTROL, "no-cache")).body(*body)
        }
        None => HttpResponse::NotFound().content_type("text/plain").body("not found"),
    }
}
