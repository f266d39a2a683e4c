//! Pieces of the HTTP surface that `api` and `ingest` share.

use serde::Serialize;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

/// The JSON error body every endpoint answers with: `{"error": {"code", "message"}}`.
pub fn error_json(code: &str, message: &str) -> String {
    serde_json::to_string(&ErrorBody { error: ErrorDetail { code, message } })
        .unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"internal error"}}"#.to_owned())
}

/// The API key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
pub fn presented_key(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(k) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(k.trim()).filter(|k| !k.is_empty());
        }
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_escapes() {
        let v: serde_json::Value = serde_json::from_str(&error_json("bad", "a \"quoted\" word")).unwrap();
        assert_eq!(v["error"]["code"], "bad");
        assert_eq!(v["error"]["message"], "a \"quoted\" word");
    }

    #[test]
    fn key_from_either_header() {
        let mut h = http::HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", "k1".parse().unwrap());
        assert_eq!(presented_key(&h), Some("k1"));
        h.insert("authorization", "Bearer k2".parse().unwrap());
        assert_eq!(presented_key(&h), Some("k2"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(presented_key(&h), Some("k1"));
    }
}
