//! Configuration, read once at start-up from the environment.

use crate::domain::Secret;
use std::time::Duration;

/// The most a single SQS message holds (1 MiB), minus room for the JSON envelope.
pub const MAX_QUEUE_MESSAGE_BYTES: usize = 1024 * 1024;
/// Envelope room kept free in a queue message besides the body.
const ENVELOPE_BYTES: usize = 16 * 1024;
/// The largest event data kept. An event is one DynamoDB item (400 KB at most), and so
/// is an attempt that keeps its job for replay; this leaves room for the rest of them.
pub const MAX_EVENT_DATA_BYTES: usize = 350_000;
/// The largest body limit that can be configured (and the default): a body that is not
/// JSON is kept base64-encoded, and must still fit in an event. JSON bodies are kept as
/// parsed, and bodies whose kept form is larger are refused with 413 all the same.
pub const MAX_BODY_LIMIT: usize = 256 * 1024;
// A body at the limit, base64-encoded in `{"raw": …}`, fits in an event, and in one queue
// message with its envelope (a JSON body quoted in the inbox message grows up to 2×).
const _: () = assert!(MAX_BODY_LIMIT.div_ceil(3) * 4 + 10 <= MAX_EVENT_DATA_BYTES);
const _: () = assert!(2 * MAX_BODY_LIMIT + ENVELOPE_BYTES <= MAX_QUEUE_MESSAGE_BYTES);

/// Settings shared by every function.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest accepted inbound body (`HOOKLINE_MAX_BODY_BYTES`, default and most 256 KiB).
    pub max_body_bytes: usize,
    /// How long ingest trusts a cached source (`HOOKLINE_SOURCE_CACHE_SECS`, default 30 s).
    pub source_cache_ttl: Duration,
    /// How long `deliver` in Lambda reuses an endpoint it read (`HOOKLINE_ENDPOINT_CACHE_SECS`,
    /// default 5 s; 0 reads it for every delivery).
    pub endpoint_cache_ttl: Duration,
    /// The operator key that may create orgs (`HOOKLINE_OPERATOR_KEY`).
    pub operator_key: Option<Secret>,
    /// Public base URL used in `ingest_url` (`HOOKLINE_PUBLIC_URL`); relative when unset.
    pub public_url: Option<String>,
    /// Webhooks allowed per org by plan (`HOOKLINE_WEBHOOKS_FREE`, `_STARTER`, `_PRO`; `unlimited` or a number).
    pub webhook_limits: WebhookLimits,
    /// Outbound `http://` allowed (`HOOKLINE_ALLOW_HTTP=1`; `hookline dev` allows it).
    pub allow_http: bool,
    /// Outbound loopback allowed (`HOOKLINE_ALLOW_LOOPBACK=1`; `hookline dev` allows it).
    pub allow_loopback: bool,
    /// Private networks deliveries may reach anyway (`HOOKLINE_ALLOW_NETS`, comma-separated CIDRs).
    pub allow_nets: Vec<crate::outbound::IpNet>,
    /// The shortest `rate` a schedule may have (`HOOKLINE_MIN_SCHEDULE_RATE_SECS`, default 60;
    /// EventBridge Scheduler's own minimum is one minute, so only `hookline dev` goes lower).
    pub min_schedule_rate: Duration,
    /// The longest continuation chain (`HOOKLINE_MAX_CHAIN_ITERATIONS`, default 10,000).
    pub max_chain_iterations: u64,
    /// How long events and their attempts are kept unless an org has its own
    /// (`HOOKLINE_RETENTION_DAYS`, default 30, 7 to 3650).
    pub retention: crate::Retention,
    /// Where Stripe's API is (`HOOKLINE_STRIPE_API_BASE`, default `https://api.stripe.com`):
    /// fetch-back and back-fill ask it for events.
    pub stripe_api_base: String,
    /// Where GitHub's API is (`HOOKLINE_GITHUB_API_BASE`, default `https://api.github.com`;
    /// a GitHub Enterprise Server's `https://HOST/api/v3`): back-fill asks it for deliveries.
    pub github_api_base: String,
    /// Who may frame the console (a CSP `frame-ancestors` source list): `'none'` unless
    /// `HOOKLINE_CONSOLE_FRAME_ANCESTORS` names origins, so a portal can be embedded only there.
    pub console_frame_ancestors: String,
}

/// Stripe's API.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";
/// GitHub's API.
pub const GITHUB_API_BASE: &str = "https://api.github.com";

/// How many webhooks each plan may have; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookLimits {
    /// Free plan (default 0).
    pub free: Option<usize>,
    /// Starter plan (default 3).
    pub starter: Option<usize>,
    /// Pro plan (default unlimited).
    pub pro: Option<usize>,
}

impl Default for WebhookLimits {
    fn default() -> Self {
        Self { free: Some(0), starter: Some(3), pro: None }
    }
}

impl WebhookLimits {
    /// The limit of `plan`.
    pub fn of(&self, plan: crate::domain::Plan) -> Option<usize> {
        match plan {
            crate::domain::Plan::Free => self.free,
            crate::domain::Plan::Starter => self.starter,
            crate::domain::Plan::Pro => self.pro,
        }
    }
}

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: MAX_BODY_LIMIT,
            source_cache_ttl: Duration::from_secs(30),
            endpoint_cache_ttl: Duration::from_secs(5),
            operator_key: None,
            public_url: None,
            webhook_limits: WebhookLimits::default(),
            allow_http: false,
            allow_loopback: false,
            allow_nets: Vec::new(),
            min_schedule_rate: Duration::from_secs(60),
            max_chain_iterations: 10_000,
            retention: crate::Retention::default(),
            stripe_api_base: STRIPE_API_BASE.to_owned(),
            github_api_base: GITHUB_API_BASE.to_owned(),
            console_frame_ancestors: "'none'".to_owned(),
        }
    }
}

impl Config {
    /// Read the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Config::default();
        if let Some(v) = number(&get, "HOOKLINE_MAX_BODY_BYTES")? {
            if v == 0 || v as usize > MAX_BODY_LIMIT {
                return Err(ConfigError {
                    name: "HOOKLINE_MAX_BODY_BYTES",
                    reason: format!("must be between 1 and {MAX_BODY_LIMIT}"),
                });
            }
            c.max_body_bytes = v as usize;
        }
        if let Some(v) = number(&get, "HOOKLINE_SOURCE_CACHE_SECS")? {
            c.source_cache_ttl = Duration::from_secs(v);
        }
        if let Some(v) = number(&get, "HOOKLINE_ENDPOINT_CACHE_SECS")? {
            c.endpoint_cache_ttl = Duration::from_secs(v);
        }
        c.operator_key = get("HOOKLINE_OPERATOR_KEY").filter(|k| !k.is_empty()).map(Secret::new);
        c.public_url = get("HOOKLINE_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned());
        for (name, slot) in
            [("HOOKLINE_STRIPE_API_BASE", &mut c.stripe_api_base), ("HOOKLINE_GITHUB_API_BASE", &mut c.github_api_base)]
        {
            if let Some(base) = get(name).filter(|b| !b.is_empty()) {
                if url::Url::parse(&base).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
                    return Err(ConfigError { name, reason: "must be an http(s) URL".into() });
                }
                *slot = base.trim_end_matches('/').to_owned();
            }
        }
        for (name, slot) in [
            ("HOOKLINE_WEBHOOKS_FREE", &mut c.webhook_limits.free),
            ("HOOKLINE_WEBHOOKS_STARTER", &mut c.webhook_limits.starter),
            ("HOOKLINE_WEBHOOKS_PRO", &mut c.webhook_limits.pro),
        ] {
            if let Some(v) = get(name) {
                *slot =
                    match v.trim() {
                        "unlimited" => None,
                        n => Some(n.parse().map_err(|_| ConfigError {
                            name,
                            reason: format!("`{v}` is not a number or `unlimited`"),
                        })?),
                    };
            }
        }
        if let Some(v) = get("HOOKLINE_CONSOLE_FRAME_ANCESTORS").filter(|v| !v.trim().is_empty()) {
            c.console_frame_ancestors = frame_ancestors(&v)
                .map_err(|reason| ConfigError { name: "HOOKLINE_CONSOLE_FRAME_ANCESTORS", reason })?;
        }
        c.allow_http = flag(&get, "HOOKLINE_ALLOW_HTTP");
        c.allow_loopback = flag(&get, "HOOKLINE_ALLOW_LOOPBACK");
        if let Some(v) = get("HOOKLINE_ALLOW_NETS") {
            c.allow_nets = v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.parse().map_err(|reason| ConfigError { name: "HOOKLINE_ALLOW_NETS", reason }))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = number(&get, "HOOKLINE_MIN_SCHEDULE_RATE_SECS")? {
            c.min_schedule_rate = Duration::from_secs(v.max(1));
        }
        if let Some(v) = number(&get, "HOOKLINE_MAX_CHAIN_ITERATIONS")? {
            c.max_chain_iterations = v;
        }
        if let Some(v) = number(&get, "HOOKLINE_RETENTION_DAYS")? {
            let days = u32::try_from(v).unwrap_or(u32::MAX);
            c.retention = crate::Retention::days(days)
                .map_err(|reason| ConfigError { name: "HOOKLINE_RETENTION_DAYS", reason })?;
        }
        Ok(c)
    }

    /// The outbound network policy these settings describe.
    pub fn network_policy(&self) -> crate::outbound::NetworkPolicy {
        crate::outbound::NetworkPolicy {
            allow_http: self.allow_http,
            allow_loopback: self.allow_loopback,
            allow: self.allow_nets.clone(),
        }
    }
}

/// A `frame-ancestors` source list: `'none'`, `'self'`, or http(s) origins (a host may
/// start with `*.`), separated by spaces; nothing that could end the directive.
fn frame_ancestors(v: &str) -> Result<String, String> {
    let sources: Vec<&str> = v.split_whitespace().collect();
    for s in &sources {
        let origin_ok = || {
            let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"))?;
            let host = rest.strip_prefix("*.").unwrap_or(rest);
            let ok = !host.is_empty()
                && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
                && url::Url::parse(&format!("http://{host}")).is_ok();
            ok.then_some(())
        };
        if !matches!(*s, "'none'" | "'self'") && origin_ok().is_none() {
            return Err(format!("`{s}` is not 'self', 'none' or an http(s) origin"));
        }
    }
    if sources.len() > 1 && sources.contains(&"'none'") {
        return Err("'none' stands alone".into());
    }
    Ok(sources.join(" "))
}

fn flag(get: &impl Fn(&str) -> Option<String>, name: &str) -> bool {
    matches!(get(name).as_deref().map(str::trim), Some("1" | "true" | "yes"))
}

fn number(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<Option<u64>, ConfigError> {
    get(name)
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| ConfigError { name, reason: format!("`{v}` is not a whole number") })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_and_overrides() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.max_body_bytes, 256 * 1024);
        assert!(c.operator_key.is_none());
        let c = cfg(&[("HOOKLINE_MAX_BODY_BYTES", "1024"), ("HOOKLINE_OPERATOR_KEY", "op")]).unwrap();
        assert_eq!(c.max_body_bytes, 1024);
        assert_eq!(c.operator_key.unwrap().expose(), "op");
    }

    #[test]
    fn body_limit_is_bounded_by_one_queue_message() {
        assert!(cfg(&[("HOOKLINE_MAX_BODY_BYTES", "2000000")]).is_err());
        assert!(cfg(&[("HOOKLINE_MAX_BODY_BYTES", "many")]).is_err());
    }

    #[test]
    fn retention_is_thirty_days_unless_set_and_never_below_a_week() {
        assert_eq!(cfg(&[]).unwrap().retention.whole_days(), 30);
        assert_eq!(cfg(&[("HOOKLINE_RETENTION_DAYS", "90")]).unwrap().retention.whole_days(), 90);
        let err = cfg(&[("HOOKLINE_RETENTION_DAYS", "3")]).unwrap_err();
        assert_eq!(err.name, "HOOKLINE_RETENTION_DAYS");
    }

    #[test]
    fn the_console_may_be_framed_only_where_named() {
        assert_eq!(cfg(&[]).unwrap().console_frame_ancestors, "'none'");
        let c = cfg(&[("HOOKLINE_CONSOLE_FRAME_ANCESTORS", " https://app.example.com  https://*.example.org:8443 ")]);
        assert_eq!(c.unwrap().console_frame_ancestors, "https://app.example.com https://*.example.org:8443");
        for bad in ["https://a.example; script-src *", "*", "javascript:x", "'none' https://a.example", "https://"] {
            let e = cfg(&[("HOOKLINE_CONSOLE_FRAME_ANCESTORS", bad)]).unwrap_err();
            assert_eq!(e.name, "HOOKLINE_CONSOLE_FRAME_ANCESTORS", "{bad}");
        }
    }
}
