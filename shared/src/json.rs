//! Limits on JSON from outside.

/// The deepest nesting of arrays and objects accepted in a body. Below `serde_json`'s
/// own recursion limit, so whatever ingest accepts, verify can parse.
pub const MAX_JSON_DEPTH: usize = 100;

/// Whether no array or object in `text` nests deeper than [`MAX_JSON_DEPTH`]. A scan
/// of the brackets outside strings, with no parse: `text` is checked to be JSON apart.
pub fn within_depth(text: &str) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// How deep arrays and objects nest in `v` (a scalar is 0).
fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(fields) => 1 + fields.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Event `data` in a request body (`#[serde(deserialize_with)]`): a JSON object nested
/// no deeper than [`MAX_JSON_DEPTH`], so the message that carries it can be read back.
pub fn event_data<'de, D: serde::Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
    let v = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
    if !v.is_object() {
        return Err(serde::de::Error::custom("data: must be a JSON object"));
    }
    if depth(&v) > MAX_JSON_DEPTH {
        return Err(serde::de::Error::custom(format!("data: nested deeper than {MAX_JSON_DEPTH} levels")));
    }
    Ok(v)
}

/// [`event_data`] for an optional field (use with `#[serde(default)]`).
pub fn event_data_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    event_data(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("{}{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn depth_is_counted_outside_strings() {
        assert!(within_depth(&nested(MAX_JSON_DEPTH)));
        assert!(!within_depth(&nested(MAX_JSON_DEPTH + 1)));
        let in_string = format!(r#"{{"a":"{}\"{}"}}"#, "[".repeat(500), "{".repeat(500));
        assert!(within_depth(&in_string));
        let mixed = format!("{}{}", r#"{"a":"#.repeat(MAX_JSON_DEPTH + 1), "}".repeat(MAX_JSON_DEPTH + 1));
        assert!(!within_depth(&mixed));
        // Whatever is within the limit, serde_json parses, and finds as deep.
        let v: serde_json::Value = serde_json::from_str(&nested(MAX_JSON_DEPTH)).unwrap();
        assert_eq!(depth(&v), MAX_JSON_DEPTH);
        assert_eq!(depth(&serde_json::json!({"a": [1, {"b": []}], "c": 2})), 4);
        assert_eq!(depth(&serde_json::json!("s")), 0);
    }
}
