//! `api`: the management and publish API (`/v1/*`), an axum [`Router`] generic over
//! the store, the inbox queue and the clock. Lambda serves it through `lambda_http`,
//! `hookline dev` serves it directly.

mod api_keys;
mod auth;
mod backfill;
pub mod console;
mod error;
mod events;
mod listen;
mod orgs;
mod page;
mod portal;
mod recurring;
mod schedules;
mod sources;
mod stats;
mod trigger;
mod webhooks;

pub use auth::OperatorKeySource;
pub use error::ApiError;
pub use webhooks::API_REQUEST_TIMEOUT;

use axum::routing::{delete, get, post};
use axum::Router;
use hookline_shared::cache::TtlCache;
use hookline_shared::config::WebhookLimits;
use hookline_shared::delivery::Deliveries;
use hookline_shared::outbound::{HttpSender, NetworkPolicy};
use hookline_shared::ports::{
    AttemptStore, Clock, EndpointStore, EventStore, OrgStore, Queue, RejectionStore, ScheduleStore, SourceStore, Timer,
};
use hookline_shared::{Config, KeyHash, Org, Retention, SourceId};
use std::sync::Arc;

/// The store pieces the API uses.
pub trait ApiState:
    OrgStore + SourceStore + EventStore + EndpointStore + AttemptStore + ScheduleStore + RejectionStore + 'static
{
}
impl<T> ApiState for T where
    T: OrgStore + SourceStore + EventStore + EndpointStore + AttemptStore + ScheduleStore + RejectionStore + 'static
{
}

/// Where the API hands work off: `/test` and `/call` send now, `/replay` enqueues
/// deliveries, and schedules set timers.
#[derive(Clone)]
pub struct Handoffs {
    /// The sender (with the SSRF checks).
    pub http: Arc<dyn HttpSender>,
    /// The deliveries queues.
    pub deliveries: Deliveries<Arc<dyn Queue>>,
    /// Timers of scheduled jobs.
    pub timer: Arc<dyn Timer>,
}

impl std::fmt::Debug for Handoffs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handoffs")
    }
}

/// Called after a source is changed or deleted (so a local ingest cache can drop it).
pub type SourceChanged = Arc<dyn Fn(&SourceId) + Send + Sync>;

/// The OpenAPI 3.1 document, served at `GET /v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route the API serves, as (method, path): the OpenAPI document must list exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/openapi.json"),
    ("post", "/v1/orgs"),
    ("get", "/v1/orgs/{id}"),
    ("patch", "/v1/orgs/{id}"),
    ("post", "/v1/orgs/{id}/rotate-key"),
    ("get", "/v1/me"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{id}"),
    ("post", "/v1/sources"),
    ("get", "/v1/sources"),
    ("get", "/v1/sources/{id}"),
    ("patch", "/v1/sources/{id}"),
    ("delete", "/v1/sources/{id}"),
    ("get", "/v1/sources/{id}/rejections"),
    ("post", "/v1/sources/{id}/backfill"),
    ("post", "/v1/events"),
    ("get", "/v1/events"),
    ("get", "/v1/events/{id}"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks"),
    ("get", "/v1/webhooks/{id}"),
    ("patch", "/v1/webhooks/{id}"),
    ("delete", "/v1/webhooks/{id}"),
    ("post", "/v1/webhooks/{id}/test"),
    ("get", "/v1/webhooks/{id}/logs"),
    ("post", "/v1/webhooks/{id}/rotate-secret"),
    ("post", "/v1/webhooks/{id}/replay"),
    ("post", "/v1/webhooks/{id}/enable"),
    ("post", "/v1/webhooks/{id}/pause"),
    ("post", "/v1/webhooks/{id}/resume"),
    ("post", "/v1/webhooks/{id}/call"),
    ("post", "/v1/schedules"),
    ("get", "/v1/schedules"),
    ("delete", "/v1/schedules"),
    ("get", "/v1/schedules/{id}"),
    ("patch", "/v1/schedules/{id}"),
    ("delete", "/v1/schedules/{id}"),
    ("post", "/v1/schedules/{id}/pause"),
    ("post", "/v1/schedules/{id}/resume"),
    ("post", "/v1/listen-sessions"),
    ("delete", "/v1/listen-sessions/{id}"),
    ("get", "/v1/listen-sessions/{id}/deliveries"),
    ("post", "/v1/listen-sessions/{id}/deliveries/{attempt}"),
    ("post", "/v1/sources/{id}/trigger"),
    ("post", "/v1/portal-sessions"),
    ("delete", "/v1/portal-sessions/{id}"),
    ("get", "/v1/stats"),
    ("get", "/v1/recurring/{name}"),
    ("put", "/v1/recurring/{name}/{thing}"),
    ("get", "/v1/recurring/{name}/{thing}"),
    ("delete", "/v1/recurring/{name}/{thing}"),
];

/// The API's dependencies and settings.
pub struct Api<S, Q, C> {
    store: S,
    inbox: Q,
    clock: C,
    operator_key: auth::OperatorKey,
    public_url: String,
    max_body: usize,
    on_source_change: Option<SourceChanged>,
    handoffs: Handoffs,
    webhook_limits: WebhookLimits,
    network: NetworkPolicy,
    min_schedule_rate: std::time::Duration,
    /// How long events are kept unless their org says otherwise.
    retention: Retention,
    /// Where events with an ordering key go (a FIFO queue); none: they are refused.
    ordered_inbox: Option<Q>,
    /// The providers' APIs, for back-fill.
    providers: backfill::ProviderApis,
    /// The inbound path triggers run (ingest's handler); none: triggers are refused.
    inbound: Option<Arc<dyn hookline_ingest::AcceptInbound>>,
    /// Orgs by API key hash, so a burst of calls costs one lookup. A revocation clears its
    /// key here; other instances (Lambda) keep it until the TTL.
    keys: TtlCache<KeyHash, auth::Caller>,
    /// The console's security headers.
    console: console::ConsoleHeaders,
}

impl<S, Q, C> std::fmt::Debug for Api<S, Q, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("public_url", &self.public_url).finish_non_exhaustive()
    }
}

impl<S: ApiState, Q: Queue + 'static, C: Clock> Api<S, Q, C> {
    /// An API on `store` publishing to `inbox`, handing work to `handoffs`, configured from `config`.
    pub fn new(store: S, inbox: Q, handoffs: Handoffs, clock: C, config: &Config) -> Self {
        Self {
            store,
            inbox,
            clock,
            operator_key: auth::OperatorKey::given(config.operator_key.as_ref()),
            public_url: config.public_url.clone().unwrap_or_default(),
            max_body: config.max_body_bytes,
            on_source_change: None,
            handoffs,
            webhook_limits: config.webhook_limits,
            network: config.network_policy(),
            min_schedule_rate: config.min_schedule_rate,
            retention: config.retention,
            ordered_inbox: None,
            providers: backfill::ProviderApis::new(config),
            inbound: None,
            // Trusted as long as ingest trusts a cached source.
            keys: TtlCache::new(config.source_cache_ttl),
            console: console::ConsoleHeaders::new(&config.console_frame_ancestors),
        }
    }

    /// Read the operator key from `source` when an operator request first needs it,
    /// instead of the configured one.
    pub fn read_operator_key_from(mut self, source: OperatorKeySource) -> Self {
        self.operator_key = auth::OperatorKey::read_from(source);
        self
    }

    /// Send events with an ordering key to `queue`, a FIFO queue verify reads in order.
    pub fn ordered_inbox(mut self, queue: Q) -> Self {
        self.ordered_inbox = Some(queue);
        self
    }

    /// Run triggers through `inbound`, the ingest handler (one that records no refusals).
    pub fn inbound(mut self, inbound: Arc<dyn hookline_ingest::AcceptInbound>) -> Self {
        self.inbound = Some(inbound);
        self
    }

    /// Call `f` whenever a source changes.
    pub fn on_source_change(mut self, f: SourceChanged) -> Self {
        self.on_source_change = Some(f);
        self
    }

    /// How long `org`'s events and attempts are kept.
    pub(crate) fn retention_of(&self, org: &Org) -> Retention {
        Retention::of_org(org, self.retention)
    }

    /// Drop `org` from the key cache after a change, so this instance's next request
    /// sees the change.
    pub(crate) fn forget_org(&self, org: &hookline_shared::OrgId) {
        self.keys.remove_where(|c| &c.org.id == org);
    }

    /// Where this API is reached: the configured public URL, else the scheme and host the
    /// request came through (API Gateway and proxies set `X-Forwarded-Proto`).
    pub(crate) fn base_url(&self, headers: &http::HeaderMap) -> String {
        if !self.public_url.is_empty() {
            return self.public_url.clone();
        }
        let value = |name| headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok());
        let proto = value("x-forwarded-proto").filter(|p| matches!(*p, "http" | "https")).unwrap_or("http");
        format!("{proto}://{}", value(http::header::HOST.as_str()).unwrap_or("localhost"))
    }

    pub(crate) fn source_changed(&self, id: &SourceId) {
        if let Some(f) = &self.on_source_change {
            f(id);
        }
    }
}

/// The `/v1` router.
pub fn router<S: ApiState, Q: Queue + 'static, C: Clock>(api: Api<S, Q, C>) -> Router {
    let max_body = api.max_body;
    let console = console::routes(api.console.clone());
    let api = Arc::new(api);
    let routes = Router::new()
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/orgs", post(orgs::create::<S, Q, C>))
        .route("/v1/orgs/{id}", get(orgs::get::<S, Q, C>).patch(orgs::change::<S, Q, C>))
        .route("/v1/orgs/{id}/rotate-key", post(orgs::rotate_key::<S, Q, C>))
        .route("/v1/me", get(orgs::me::<S, Q, C>))
        .route("/v1/api-keys", post(api_keys::create::<S, Q, C>).get(api_keys::list::<S, Q, C>))
        .route("/v1/api-keys/{id}", delete(api_keys::delete::<S, Q, C>))
        .route("/v1/sources", post(sources::create::<S, Q, C>).get(sources::list::<S, Q, C>))
        .route(
            "/v1/sources/{id}",
            get(sources::get::<S, Q, C>).patch(sources::update::<S, Q, C>).delete(sources::delete::<S, Q, C>),
        )
        .route("/v1/sources/{id}/rejections", get(sources::rejections::<S, Q, C>))
        .route("/v1/sources/{id}/backfill", post(backfill::backfill::<S, Q, C>))
        .route("/v1/sources/{id}/trigger", post(trigger::trigger::<S, Q, C>))
        .route("/v1/events", post(events::publish::<S, Q, C>).get(events::list::<S, Q, C>))
        .route("/v1/events/{id}", get(events::get::<S, Q, C>))
        .route("/v1/webhooks", post(webhooks::create::<S, Q, C>).get(webhooks::list::<S, Q, C>))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get::<S, Q, C>).patch(webhooks::update::<S, Q, C>).delete(webhooks::delete::<S, Q, C>),
        )
        .route("/v1/webhooks/{id}/test", post(webhooks::test::<S, Q, C>))
        .route("/v1/webhooks/{id}/logs", get(webhooks::logs::<S, Q, C>))
        .route("/v1/webhooks/{id}/rotate-secret", post(webhooks::rotate_secret::<S, Q, C>))
        .route("/v1/webhooks/{id}/replay", post(webhooks::replay::<S, Q, C>))
        .route("/v1/webhooks/{id}/enable", post(webhooks::enable::<S, Q, C>))
        .route("/v1/webhooks/{id}/pause", post(webhooks::pause::<S, Q, C>))
        .route("/v1/webhooks/{id}/resume", post(webhooks::resume::<S, Q, C>))
        .route("/v1/webhooks/{id}/call", post(webhooks::call::<S, Q, C>))
        .route(
            "/v1/schedules",
            post(schedules::create::<S, Q, C>)
                .get(schedules::list::<S, Q, C>)
                .delete(schedules::cancel_by_key::<S, Q, C>),
        )
        .route(
            "/v1/schedules/{id}",
            get(schedules::get::<S, Q, C>).patch(schedules::update::<S, Q, C>).delete(schedules::delete::<S, Q, C>),
        )
        .route("/v1/schedules/{id}/pause", post(schedules::pause::<S, Q, C>))
        .route("/v1/schedules/{id}/resume", post(schedules::resume::<S, Q, C>))
        .route("/v1/listen-sessions", post(listen::open::<S, Q, C>))
        .route("/v1/listen-sessions/{id}", delete(listen::close::<S, Q, C>))
        .route("/v1/listen-sessions/{id}/deliveries", get(listen::poll::<S, Q, C>))
        .route("/v1/listen-sessions/{id}/deliveries/{attempt}", post(listen::answer::<S, Q, C>))
        .route("/v1/portal-sessions", post(portal::open::<S, Q, C>))
        .route("/v1/portal-sessions/{id}", delete(portal::close::<S, Q, C>))
        .route("/v1/stats", get(stats::stats::<S, Q, C>))
        .route("/v1/recurring/{name}", get(recurring::list::<S, Q, C>))
        .route(
            "/v1/recurring/{name}/{thing}",
            get(recurring::get::<S, Q, C>).put(recurring::put::<S, Q, C>).delete(recurring::delete::<S, Q, C>),
        )
        .with_state(api)
        .merge(console);
    routes
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Leave room for the JSON envelope around the largest accepted payload.
        .layer(axum::extract::DefaultBodyLimit::max(max_body + 16 * 1024))
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}
