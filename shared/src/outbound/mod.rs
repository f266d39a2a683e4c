//! Outbound HTTP for deliveries: no redirects, a timeout per request, and a check of
//! every address at connect time so a webhook can never reach private, loopback,
//! link-local or metadata addresses unless the operator allows them.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One outbound request.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// Absolute URL.
    pub url: String,
    /// Headers to send.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Bytes,
    /// Give up after this long.
    pub timeout: Duration,
    /// Read at most this much of the response body.
    pub max_response_bytes: usize,
}

/// What the endpoint answered.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundResponse {
    /// Status code.
    pub status: u16,
    /// `Retry-After`, when given.
    pub retry_after: Option<Duration>,
    /// The start of the body (up to `max_response_bytes`).
    pub body: String,
    /// How long the exchange took.
    pub duration: Duration,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// The URL or its address is not allowed: no request was made.
    #[error("refused: {0}")]
    Refused(String),
    /// No answer within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Could not connect or the exchange broke.
    #[error("connection failed: {0}")]
    Connect(String),
}

/// Sends deliveries.
#[async_trait]
pub trait HttpSender: Send + Sync + 'static {
    /// Send one request.
    async fn send(&self, req: OutboundRequest) -> Result<OutboundResponse, SendError>;
}

/// An IP network in CIDR form, for the operator's allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.trim().parse().map_err(|_| format!("`{s}` is not an address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() { max } else { p.trim().parse().map_err(|_| format!("bad prefix in `{s}`"))? };
        if prefix > max {
            return Err(format!("bad prefix in `{s}`"));
        }
        Ok(Self { addr, prefix })
    }
}

impl IpNet {
    /// True when `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// Which destinations deliveries may reach.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    /// Allow `http://` (otherwise https only).
    pub allow_http: bool,
    /// Allow loopback addresses (for local receivers in `hookline dev`).
    pub allow_loopback: bool,
    /// Networks allowed even though they are private.
    pub allow: Vec<IpNet>,
}

/// Forms that carry an IPv4 address inside an IPv6 one are judged by the IPv4 address:
/// IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, 6to4 `2002:aabb:ccdd::/48`,
/// and NAT64 `64:ff9b::/96` and `64:ff9b:1::/48` (RFC 6052's layouts for those lengths).
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let o = v6.octets();
    let v4 = |a: u8, b: u8, c: u8, d: u8| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
        v4(o[12], o[13], o[14], o[15])
    } else if s[0] == 0x2002 {
        v4(o[2], o[3], o[4], o[5])
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        v4(o[12], o[13], o[14], o[15])
    } else if s[..3] == [0x64, 0xff9b, 1] {
        // A /48 prefix: the IPv4 address takes bits 48-63 and 72-87 (bits 64-71 are zero).
        v4(o[6], o[7], o[9], o[10])
    } else {
        ip
    }
}

impl NetworkPolicy {
    /// Why `ip` may not be reached, or `None` when it may.
    pub fn forbidden(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = canonical(ip);
        if self.allow.iter().any(|n| n.contains(ip)) {
            return None;
        }
        let why = match ip {
            IpAddr::V4(v4) => forbidden_v4(v4),
            IpAddr::V6(v6) => forbidden_v6(v6),
        };
        match why {
            Some("loopback address") if self.allow_loopback => None,
            other => other,
        }
    }

    /// Check a URL's scheme and, for a literal address, the address.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), SendError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(SendError::Refused(format!("scheme {other} is not allowed (https only)"))),
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err(SendError::Refused("URL has no host".into())),
        };
        match self.forbidden(ip) {
            Some(why) => Err(SendError::Refused(format!("{ip} is a {why}"))),
            None => Ok(()),
        }
    }
}

/// True when `url` would reach the server at `own` (the same host and port; every name
/// for this machine counts as one host), so a delivery there would feed Hookline its own
/// events.
pub fn points_at(url: &reqwest::Url, own: &reqwest::Url) -> bool {
    fn this_machine(h: &str) -> bool {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<IpAddr>().is_ok_and(|ip| {
                let ip = canonical(ip);
                ip.is_loopback() || ip.is_unspecified()
            })
    }
    let (Some(host), Some(own_host)) = (url.host_str(), own.host_str()) else { return false };
    url.port_or_known_default() == own.port_or_known_default()
        && (host.eq_ignore_ascii_case(own_host) || (this_machine(host) && this_machine(own_host)))
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback address")
    } else if ip.is_private() {
        Some("private address")
    } else if ip.is_link_local() {
        Some("link-local or metadata address")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified address")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("shared (CGNAT) address")
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        Some("benchmarking address")
    } else if o[..3] == [192, 0, 0] {
        Some("protocol assignment address")
    } else if matches!(o[..3], [192, 0, 2] | [198, 51, 100] | [203, 0, 113]) {
        Some("documentation address")
    } else if ip.is_broadcast() || ip.is_multicast() || o[0] >= 240 {
        Some("reserved address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s0 = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback address")
    } else if ip.is_unspecified() {
        Some("unspecified address")
    } else if (s0 & 0xfe00) == 0xfc00 {
        Some("unique-local address")
    } else if (s0 & 0xffc0) == 0xfe80 {
        Some("link-local address")
    } else if (s0 & 0xffc0) == 0xfec0 {
        Some("site-local address")
    } else if s0 == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation address")
    } else if ip.is_multicast() {
        Some("reserved address")
    } else {
        None
    }
}

/// Name resolution, pluggable so tests can make a name resolve where they need.
#[async_trait]
pub trait Lookup: std::fmt::Debug + Send + Sync + 'static {
    /// The addresses of `host`.
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

#[async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0)).await?.map(|a| a.ip()).collect())
    }
}

/// Fixed answers (tests).
#[derive(Debug, Clone, Default)]
pub struct StaticLookup(pub HashMap<String, Vec<IpAddr>>);

#[async_trait]
impl Lookup for StaticLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.0.get(host).cloned().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
    }
}

/// reqwest's resolver hook: the addresses a connection may use are filtered here, at
/// connect time, so a name that resolves to a forbidden address is never connected to.
struct CheckedResolver {
    lookup: Arc<dyn Lookup>,
    policy: Arc<NetworkPolicy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let ips = lookup.lookup(&host).await?;
            let allowed: Vec<SocketAddr> =
                ips.iter().filter(|ip| policy.forbidden(**ip).is_none()).map(|ip| SocketAddr::new(*ip, 0)).collect();
            if allowed.is_empty() {
                let why = ips.first().and_then(|ip| policy.forbidden(*ip)).unwrap_or("unresolvable host");
                return Err(Box::new(RefusedAddress(format!("{host} resolves to a {why}"))) as _);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[derive(Debug)]
struct RefusedAddress(String);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedAddress {}

/// The real sender: reqwest with rustls, redirects off, the checked resolver.
#[derive(Clone)]
pub struct ReqwestSender {
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    /// URLs as parsed: deliveries go to the same few URLs over and over, and parsing
    /// one showed up in the delivery profile.
    urls: Arc<crate::cache::TtlCache<String, reqwest::Url>>,
}

impl std::fmt::Debug for ReqwestSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqwestSender").field("policy", &self.policy).finish()
    }
}

impl ReqwestSender {
    /// A sender under `policy`, resolving names with `lookup`.
    pub fn new(policy: NetworkPolicy, lookup: Arc<dyn Lookup>) -> Result<Self, SendError> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment (HTTPS_PROXY, …) would connect on our behalf
            // to addresses the resolver never checked.
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { lookup, policy: policy.clone() }))
            .user_agent(concat!("Hookline/", env!("CARGO_PKG_VERSION")))
            // As many idle connections as deliveries can be in flight at once, so a burst
            // to one receiver does not end in closing and reopening connections.
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| SendError::Connect(e.to_string()))?;
        Ok(Self { client, policy, urls: Arc::new(crate::cache::TtlCache::new(Duration::from_secs(3600))) })
    }

    /// The policy in force (for validating URLs up front).
    pub fn policy(&self) -> &NetworkPolicy {
        &self.policy
    }
}

/// Find our refusal inside reqwest's error chain.
fn refused_in(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<RefusedAddress>() {
            return Some(r.0.clone());
        }
        cur = err.source();
    }
    None
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(&v.replace("GMT", "+0000")).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

#[async_trait]
impl HttpSender for ReqwestSender {
    async fn send(&self, req: OutboundRequest) -> Result<OutboundResponse, SendError> {
        let url = match self.urls.get(&req.url) {
            Some(url) => url,
            None => {
                let url = reqwest::Url::parse(&req.url).map_err(|e| SendError::Refused(format!("invalid URL: {e}")))?;
                self.urls.put(req.url.clone(), url.clone());
                url
            }
        };
        self.policy.check_url(&url)?;
        let mut builder = self.client.post(url).timeout(req.timeout).body(req.body);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let started = Instant::now();
        let classify = |e: reqwest::Error| {
            if let Some(why) = refused_in(&e) {
                SendError::Refused(why)
            } else if e.is_timeout() {
                SendError::Timeout(req.timeout)
            } else {
                SendError::Connect(
                    std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string()),
                )
            }
        };
        let mut res = builder.send().await.map_err(classify)?;
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let mut body = Vec::new();
        // Read only what we keep; the rest of a large answer is dropped with the connection.
        while body.len() < req.max_response_bytes {
            match tokio::time::timeout(req.timeout.saturating_sub(started.elapsed()), res.chunk()).await {
                Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
                Ok(Ok(None)) => break,
                Ok(Err(_)) | Err(_) => break,
            }
        }
        body.truncate(req.max_response_bytes);
        Ok(OutboundResponse {
            status,
            retry_after,
            body: String::from_utf8_lossy(&body).into_owned(),
            duration: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests;
