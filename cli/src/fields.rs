//! `PATH=VALUE` assignments (`-d`, `--set`): a value that parses as JSON is that JSON,
//! anything else a string; dots in the path nest into objects.

use anyhow::Context as _;
use serde_json::{Map, Value};

/// Apply `PATH=VALUE` to `target`, creating objects on the way.
pub fn assign(target: &mut Value, assignment: &str) -> anyhow::Result<()> {
    let (path, raw) = assignment.split_once('=').with_context(|| format!("`{assignment}`: expected PATH=VALUE"))?;
    if path.is_empty() || path.split('.').any(str::is_empty) {
        anyhow::bail!("`{assignment}`: the path has an empty part");
    }
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    let mut at = target;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !at.is_object() {
            if at.is_null() {
                *at = Value::Object(Map::new());
            } else {
                anyhow::bail!("`{assignment}`: `{}` is not an object", parts[..i].join("."));
            }
        }
        let Value::Object(map) = at else { unreachable!("made an object above") };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return Ok(());
        }
        at = map.entry((*part).to_owned()).or_insert(Value::Null);
    }
    Ok(())
}

/// The body of `--body` (JSON, or `@FILE`) with every `-d` applied; `{}` when neither.
pub fn body(json: Option<&str>, fields: &[String]) -> anyhow::Result<Value> {
    let mut v = match json {
        None => Value::Object(Map::new()),
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
                None => text.to_owned(),
            };
            let v: Value = serde_json::from_str(&text).context("--body is not JSON")?;
            if !v.is_object() {
                anyhow::bail!("--body must be a JSON object");
            }
            v
        }
    };
    for f in fields {
        assign(&mut v, f)?;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assignments_parse_json_nest_and_refuse_what_cannot_be_set() {
        let mut v = json!({"data": {"object": {"amount": 1}}});
        assign(&mut v, "data.object.customer=cus_42").unwrap();
        assign(&mut v, "data.object.amount=2500").unwrap();
        assign(&mut v, r#"events=["order.*"]"#).unwrap();
        assign(&mut v, "note=a=b").unwrap();
        assert_eq!(
            v,
            json!({"data": {"object": {"amount": 2500, "customer": "cus_42"}}, "events": ["order.*"], "note": "a=b"})
        );
        assert!(assign(&mut v, "data.object.amount.x=1").is_err(), "a number has no fields");
        assert!(assign(&mut v, "nothing").is_err());
        assert!(assign(&mut v, "a..b=1").is_err());
    }
}
