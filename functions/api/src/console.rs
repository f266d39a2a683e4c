//! `/console/`: the web console and customer portal, static files built into the binary
//! (`functions/api/console/`), served with a policy that lets them run only their own
//! scripts and talk only to this origin.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Every file of the console: (name, content type, body).
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../console/index.html")),
    ("style.css", "text/css; charset=utf-8", include_str!("../console/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../console/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../console/api.js")),
    ("ui.js", "text/javascript; charset=utf-8", include_str!("../console/ui.js")),
    ("chart.js", "text/javascript; charset=utf-8", include_str!("../console/chart.js")),
    ("overview.js", "text/javascript; charset=utf-8", include_str!("../console/overview.js")),
    ("sources.js", "text/javascript; charset=utf-8", include_str!("../console/sources.js")),
    ("endpoints.js", "text/javascript; charset=utf-8", include_str!("../console/endpoints.js")),
    ("events.js", "text/javascript; charset=utf-8", include_str!("../console/events.js")),
    ("schedules.js", "text/javascript; charset=utf-8", include_str!("../console/schedules.js")),
];

/// The console's address on this origin.
pub const ENTRY: &str = "/console/index.html";

/// The headers every console file is sent with.
#[derive(Debug, Clone)]
pub(crate) struct ConsoleHeaders {
    csp: HeaderValue,
    frame_options: Option<HeaderValue>,
}

impl ConsoleHeaders {
    /// The policy for a console that `frame_ancestors` (a checked source list) may frame.
    pub(crate) fn new(frame_ancestors: &str) -> Self {
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}"
        );
        // For browsers without frame-ancestors; it cannot name other origins.
        let frame_options = match frame_ancestors {
            "'none'" => Some(HeaderValue::from_static("DENY")),
            "'self'" => Some(HeaderValue::from_static("SAMEORIGIN")),
            _ => None,
        };
        Self {
            csp: HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
            frame_options,
        }
    }

    fn serve(&self, name: &str) -> Response {
        let Some((_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
            return crate::ApiError::NoRoute.into_response();
        };
        let mut res = (StatusCode::OK, *body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Some(v) = &self.frame_options {
            h.insert(header::X_FRAME_OPTIONS, v.clone());
        }
        res
    }
}

/// The console's routes.
pub(crate) fn routes(headers: ConsoleHeaders) -> Router {
    let index = headers.clone();
    Router::new()
        // API Gateway routes `/console` and `/console/{proxy+}`, not `/console/`, so the
        // page's own address names its file.
        .route("/console", get(|| async { Redirect::permanent(ENTRY) }))
        .route("/console/", get(move || async move { index.serve("index.html") }))
        .route("/console/{file}", get(move |Path(file): Path<String>| async move { headers.serve(&file) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_small_and_every_file_it_loads_is_served() {
        let total: usize = ASSETS.iter().map(|(_, _, b)| b.len()).sum();
        assert!(total <= 300 * 1024, "the console is {total} bytes");
        let names: Vec<&str> = ASSETS.iter().map(|(n, _, _)| *n).collect();
        for (name, _, body) in ASSETS {
            // Every `./x` a file refers to (imports, the page's script and style) is served.
            for part in body.split("\"./").skip(1).chain(body.split("'./").skip(1)) {
                let target: String = part.chars().take_while(|c| !matches!(c, '"' | '\'')).collect();
                if !target.is_empty() {
                    assert!(names.contains(&target.as_str()), "{name} refers to ./{target}, which is not served");
                }
            }
            assert!(!body.contains("innerHTML") && !body.contains("insertAdjacentHTML"), "{name} writes HTML");
            // Nothing is loaded from elsewhere (the CSP would refuse it; this says where).
            for from in
                ["from \"http", "import(\"http", "src=\"http", "href=\"http", "url(http", "fetch(\"http", "//cdn"]
            {
                assert!(!body.contains(from), "{name} loads from another origin: {from}");
            }
        }
    }

    #[test]
    fn the_policy_names_who_may_frame_it() {
        let h = ConsoleHeaders::new("'none'");
        let res = h.serve("index.html");
        let csp = res.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");
        let h = ConsoleHeaders::new("https://app.example.com");
        let res = h.serve("app.js");
        assert!(res.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().ends_with("https://app.example.com"));
        assert!(res.headers().get(header::X_FRAME_OPTIONS).is_none());
        assert_eq!(h.serve("../lib.rs").status(), StatusCode::NOT_FOUND);
    }
}
