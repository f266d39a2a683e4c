//! Continuations: an endpoint's answer that asks for the same event type again.

use serde::Deserialize;
use std::time::Duration;

/// What an endpoint asks for when it answers a delivery with
/// `{"continue": {"data": {…}, "delay"?: "30s"}}`: the same event type again, with new data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Continuation {
    /// The next iteration's data.
    #[serde(default = "empty_object")]
    pub data: serde_json::Value,
    /// How long to wait first (`30s`, `5 minutes`, `2h`, `1d`).
    #[serde(default)]
    pub delay: Option<String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

impl Continuation {
    /// The continuation a 2xx answer asks for, if any.
    pub fn from_answer(body: &str) -> Option<Self> {
        // Most answers are `{}` or a short acknowledgement: a substring test spares
        // parsing them on every successful delivery.
        if !body.contains("\"continue\"") {
            return None;
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "continue")]
            next: Option<Continuation>,
        }
        serde_json::from_str::<Answer>(body).ok()?.next
    }

    /// The delay, parsed; at most 30 days.
    pub fn delay(&self) -> Result<Duration, String> {
        let Some(text) = self.delay.as_deref().map(str::trim) else { return Ok(Duration::ZERO) };
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (n, unit) = text.split_at(split);
        let n: u64 = n.parse().map_err(|_| format!("delay '{text}' must start with a whole number"))?;
        let unit_secs = match unit.trim() {
            "" | "s" | "sec" | "second" | "seconds" => 1,
            "m" | "min" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            u => return Err(format!("delay '{text}' has an unknown unit '{u}' (s, m, h or d)")),
        };
        let d = Duration::from_secs(n.saturating_mul(unit_secs));
        if d > Duration::from_secs(30 * 86_400) {
            return Err(format!("delay '{text}' is longer than 30 days"));
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_are_read_from_answers_that_ask_for_one() {
        assert_eq!(Continuation::from_answer("{}"), None);
        assert_eq!(Continuation::from_answer("not json, continue"), None);
        assert_eq!(Continuation::from_answer(r#"{"continue": null}"#), None);
        let c = Continuation::from_answer(r#"{"ok": true, "continue": {"data": {"page": 2}, "delay": "5m"}}"#).unwrap();
        assert_eq!(c.data, serde_json::json!({"page": 2}));
        assert_eq!(c.delay(), Ok(Duration::from_secs(300)));
        let bare = Continuation::from_answer(r#"{"continue": {}}"#).unwrap();
        assert_eq!((bare.delay(), bare.data), (Ok(Duration::ZERO), serde_json::json!({})));
    }

    #[test]
    fn continuation_delays_parse_with_units_and_a_bound() {
        let delay = |d: &str| Continuation { data: serde_json::json!({}), delay: Some(d.into()) }.delay();
        assert_eq!(delay("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(delay("45"), Ok(Duration::from_secs(45)));
        assert_eq!(delay("2 hours"), Ok(Duration::from_secs(7200)));
        assert_eq!(delay("1d"), Ok(Duration::from_secs(86_400)));
        assert!(delay("31 days").unwrap_err().contains("longer than 30 days"));
        assert!(delay("5 fortnights").unwrap_err().contains("unknown unit"));
        assert!(delay("soon").unwrap_err().contains("whole number"));
    }
}
