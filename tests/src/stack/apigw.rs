//! API Gateway's HTTP API in front of the functions: the template's routes, each request
//! turned into the payload format 2.0 event and the function's answer back into HTTP.

use super::function::Function;
use super::meter::{Meter, Tally};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// One route: `POST /in/{source}` or `ANY /v1/{proxy+}`; or `ANY *`, a Function URL.
#[derive(Debug, Clone)]
pub struct Route {
    /// `POST`, or `ANY`.
    pub method: String,
    /// The path template.
    pub path: String,
    /// The integrated function.
    pub function: Arc<Function>,
}

impl Route {
    /// The route key API Gateway reports (`POST /in/{source}`).
    fn key(&self) -> String {
        if self.path == "*" {
            return "$default".into();
        }
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters when `path` matches this route.
    fn matches(&self, method: &Method, path: &str) -> Option<Map<String, Value>> {
        if self.method != "ANY" && self.method != method.as_str() {
            return None;
        }
        if self.path == "*" {
            return Some(Map::new());
        }
        let mut params = Map::new();
        let mut got = path.trim_start_matches('/').split('/');
        let want: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        for (i, w) in want.iter().enumerate() {
            if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix("+}")) {
                let rest: Vec<&str> = got.by_ref().collect();
                if rest.is_empty() || rest == [""] {
                    return None;
                }
                // A greedy `{proxy+}` is reported as `proxy`.
                params.insert(name.to_owned(), json!(rest.join("/")));
                return (i == want.len() - 1).then_some(params);
            }
            let g = got.next()?;
            match w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                Some(name) if !g.is_empty() => {
                    params.insert(name.to_owned(), json!(g));
                }
                Some(_) => return None,
                None if *w == g => {}
                None => return None,
            }
        }
        got.next().is_none().then_some(params)
    }
}

/// Text bodies travel as text; everything else base64-encoded, as HTTP APIs pass them.
fn is_text(headers: &HeaderMap, body: &[u8]) -> bool {
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let textual = ct.is_empty()
        || ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("x-www-form-urlencoded");
    textual && std::str::from_utf8(body).is_ok()
}

/// The event API Gateway sends for this request on route `route_key` (`POST /in/{source}`).
pub fn event(
    route_key: &str,
    params: Map<String, Value>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Value {
    let mut hs = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(v.split(';').map(|c| json!(c.trim())));
            continue;
        }
        let entry = hs.entry(name.as_str().to_owned()).or_insert_with(|| json!(""));
        let joined = match entry.as_str() {
            Some("") => v,
            Some(prev) => format!("{prev},{v}"),
            None => v,
        };
        *entry = json!(joined);
    }
    // API Gateway says where a request came in, as a proxy does; this one serves plain
    // HTTP on the loopback.
    let port = headers.get("host").and_then(|h| h.to_str().ok()).and_then(|h| h.rsplit_once(':')).map(|(_, p)| p);
    for (name, value) in
        [("x-forwarded-for", "127.0.0.1"), ("x-forwarded-proto", "http"), ("x-forwarded-port", port.unwrap_or("80"))]
    {
        hs.insert(name.to_owned(), json!(value));
    }
    let raw_query = uri.query().unwrap_or("");
    let mut query = Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        let entry = query.entry(k.into_owned()).or_insert_with(|| json!(""));
        *entry = match entry.as_str() {
            Some("") => json!(v),
            Some(prev) => json!(format!("{prev},{v}")),
            None => json!(v),
        };
    }
    let text = is_text(headers, body);
    let now = chrono::Utc::now();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "cookies": if cookies.is_empty() { Value::Null } else { Value::Array(cookies) },
        "headers": hs,
        "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
        "pathParameters": if params.is_empty() { Value::Null } else { Value::Object(params) },
        "requestContext": {
            "accountId": super::template::ACCOUNT_ID,
            "apiId": "local",
            "domainName": headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": ulid::Ulid::new().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": if body.is_empty() { Value::Null } else if text {
            json!(String::from_utf8_lossy(body))
        } else {
            json!(base64::engine::general_purpose::STANDARD.encode(body))
        },
        "isBase64Encoded": !text && !body.is_empty(),
    })
}

/// The function's answer as API Gateway returns it.
pub fn response(answer: Value) -> Response {
    // An answer without `statusCode` is a JSON body with 200 (payload format 2.0).
    let Some(status) = answer.get("statusCode").and_then(Value::as_u64) else {
        return (StatusCode::OK, [("content-type", "application/json")], answer.to_string()).into_response();
    };
    let body = match answer.get("body").and_then(Value::as_str) {
        Some(b) if answer["isBase64Encoded"].as_bool() == Some(true) => {
            base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default()
        }
        Some(b) => b.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let mut res = (StatusCode::from_u16(status as u16).unwrap_or(StatusCode::BAD_GATEWAY), body).into_response();
    for (k, v) in answer.get("headers").and_then(Value::as_object).into_iter().flatten() {
        if let (Ok(k), Some(Ok(v))) = (HeaderName::try_from(k.as_str()), v.as_str().map(HeaderValue::from_str)) {
            res.headers_mut().insert(k, v);
        }
    }
    for c in answer.get("cookies").and_then(Value::as_array).into_iter().flatten() {
        if let Some(Ok(v)) = c.as_str().map(HeaderValue::from_str) {
            res.headers_mut().append("set-cookie", v);
        }
    }
    res
}

/// Serve `routes` on `listener` until the task is dropped, counting each request as
/// `who` (`apigw`, billed per 512 KiB, or `function-url`, not billed) on `meter`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: Vec<Route>,
    (who, meter): (&str, Meter),
) -> std::io::Result<()> {
    let routes = Arc::new(routes);
    let who = who.to_owned();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (routes, who, meter) = (routes.clone(), who.clone(), meter.clone());
        async move {
            meter.add(&who, "request", Tally::requests(body.len().div_ceil(512 * 1024).max(1) as f64));
            let Some((route, params)) = routes.iter().find_map(|r| r.matches(&method, uri.path()).map(|p| (r, p)))
            else {
                return (StatusCode::NOT_FOUND, [("content-type", "application/json")], r#"{"message":"Not Found"}"#)
                    .into_response();
            };
            match route.function.invoke(event(&route.key(), params, &method, &uri, &headers, &body)).await {
                Ok(answer) => response(answer),
                Err(e) => {
                    tracing::error!(error = %e, "integration failed");
                    let body = r#"{"message":"Internal Server Error"}"#;
                    (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "application/json")], body).into_response()
                }
            }
        }
    });
    axum::serve(listener, app).await
}
