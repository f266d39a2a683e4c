//! `GET /v1/stats`: attempts per time bucket by outcome, each endpoint's health over the
//! same window, and (for org keys) events received per source. Read from the attempt
//! log, newest first, up to [`SCAN_PER_ENDPOINT`] attempts per endpoint and
//! [`SCAN_EVENTS`] events; past that the answer says `truncated` and covers the newest.

use crate::auth::EndpointAuth;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::webhooks::each_attempt;
use crate::{Api, ApiState};
use axum::extract::State;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use hookline_shared::delivery::stats::{Bucket, Health, Outcomes, Series};
use hookline_shared::delivery::{parse_delay, Endpoint, EndpointStatus};
use hookline_shared::ports::{Clock, EventQuery, Queue};
use hookline_shared::{EndpointId, OrgId, SourceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The most attempts read per endpoint for one answer.
pub const SCAN_PER_ENDPOINT: usize = 5_000;
/// The most events read for the per-source counts.
pub const SCAN_EVENTS: usize = 5_000;
/// The longest window, and the most buckets in one answer.
const MAX_WINDOW: chrono::Duration = chrono::Duration::days(7);
const MAX_BUCKETS: i64 = 2_016;
const PAGE: usize = 100;
/// Endpoints read at once.
const PARALLEL: usize = 8;

/// Query of `GET /v1/stats`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// The window's start (24 hours ago when absent; at most 7 days ago).
    since: Option<DateTime<Utc>>,
    /// The bucket's width: `1m` (default), `5m`, `1h`...
    bucket: Option<String>,
    /// Only this endpoint (and no per-source counts).
    endpoint: Option<String>,
    /// Only one part: the attempts (`endpoints`) or the events per source (`sources`).
    only: Option<Part>,
}

/// A part of the answer, read from its own listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The series and the endpoints' health, from the attempt log.
    Endpoints,
    /// Events received per source, from the event listing.
    Sources,
}

/// An endpoint's health as listed, the most failing first.
#[derive(Debug, Serialize)]
pub struct EndpointStats {
    id: EndpointId,
    url: String,
    #[serde(flatten)]
    status: EndpointStatus,
    failing_since: Option<DateTime<Utc>>,
    #[serde(flatten)]
    health: Health,
    /// More attempts were made in the window than were read.
    truncated: bool,
}

/// Events a source received in the window.
#[derive(Debug, Serialize)]
pub struct SourceStats {
    id: SourceId,
    received: u64,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct Stats {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket_secs: u64,
    /// The buckets with attempts, oldest first.
    series: Vec<Bucket>,
    totals: Outcomes,
    endpoints: Vec<EndpointStats>,
    /// For org keys only.
    #[serde(skip_serializing_if = "Option::is_none")]
    sources: Option<Vec<SourceStats>>,
    /// Some endpoint or the event count had more in the window than was read.
    truncated: bool,
}

pub(crate) async fn stats<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, portal }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<ApiJson<Stats>, ApiError> {
    let until = api.clock.now();
    let since = q.since.unwrap_or(until - chrono::Duration::hours(24));
    if since > until || until - since > MAX_WINDOW {
        return Err(ApiError::BadRequest("since: within the last 7 days".into()));
    }
    let bucket = match &q.bucket {
        None => Duration::from_secs(60),
        Some(b) => parse_delay(b).map_err(|e| ApiError::BadRequest(format!("bucket: {e}")))?,
    };
    let bucket_secs = bucket.as_secs();
    if bucket_secs < 60 || (until - since).num_seconds() / bucket_secs as i64 > MAX_BUCKETS {
        return Err(ApiError::BadRequest(format!("bucket: at least 1m, and at most {MAX_BUCKETS} buckets")));
    }
    let mut series = Series::new(since, bucket);
    let since = series.since();
    let endpoints: Vec<Endpoint> = match &q.endpoint {
        _ if q.only == Some(Part::Sources) => Vec::new(),
        Some(id) => {
            let id: EndpointId = id.parse().map_err(|_| ApiError::NotFound("webhook"))?;
            let ep = api.store.get_endpoint(&org.id, &id).await?.filter(|e| e.listen.is_none());
            vec![ep.ok_or(ApiError::NotFound("webhook"))?]
        }
        None => api.store.list_endpoints(&org.id).await?.into_iter().filter(|e| e.listen.is_none()).collect(),
    };
    // Each endpoint's attempts are counted page by page, so only a page per endpoint in
    // flight is held, whatever the window holds.
    let scans: Vec<(Endpoint, Series, Health, bool)> = futures::stream::iter(endpoints)
        .map(|ep| async {
            let (mut counted, mut health) = (Series::new(since, bucket), Health::default());
            let cut = each_attempt(&*api, &org.id, &ep.id, &[], Some(since), SCAN_PER_ENDPOINT, |a| {
                counted.add(&a);
                health.add(since, &a);
            })
            .await?;
            Ok::<_, ApiError>((ep, counted, health, cut))
        })
        .buffered(PARALLEL)
        .try_collect()
        .await?;
    let mut listed = Vec::with_capacity(scans.len());
    let mut truncated = false;
    for (ep, counted, health, cut) in scans {
        series.merge(&counted);
        truncated |= cut;
        listed.push(EndpointStats {
            id: ep.id,
            url: ep.url,
            status: ep.status,
            failing_since: ep.failure.failing_since,
            health,
            truncated: cut,
        });
    }
    // The most in trouble first: disabled, then by failed attempts, then by failure rate.
    let disabled = |e: &EndpointStats| matches!(e.status, EndpointStatus::Disabled { .. });
    let rate = |e: &EndpointStats| e.health.success_rate.unwrap_or(1.0);
    listed.sort_by(|a, b| {
        disabled(b)
            .cmp(&disabled(a))
            .then(b.health.failures().cmp(&a.health.failures()))
            .then(rate(a).total_cmp(&rate(b)))
    });
    let sources = if portal || q.endpoint.is_some() || q.only == Some(Part::Endpoints) {
        None
    } else {
        let (counts, cut) = received_per_source(&*api, &org.id, since).await?;
        truncated |= cut;
        Some(counts)
    };
    Ok(ApiJson(Stats {
        since,
        until,
        bucket_secs,
        series: series.buckets(),
        totals: series.totals(),
        endpoints: listed,
        sources,
        truncated,
    }))
}

/// Events received from each source since `since` (newest first, up to the scan limit).
async fn received_per_source<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &OrgId,
    since: DateTime<Utc>,
) -> Result<(Vec<SourceStats>, bool), ApiError> {
    let mut counts: BTreeMap<SourceId, u64> = BTreeMap::new();
    let (mut read, mut cursor) = (0, None);
    // Newest first: stop at the first event older than the window.
    let cut = loop {
        let query = EventQuery { limit: PAGE, cursor, event_type: None, from: None };
        let page = api.store.list_events(org, &query).await?;
        read += page.items.len();
        let mut reached_older = false;
        for e in page.items {
            if e.created_at < since {
                reached_older = true;
                break;
            }
            if let Some(s) = e.source {
                *counts.entry(s).or_default() += 1;
            }
        }
        match page.next_cursor {
            Some(next) if !reached_older && read < SCAN_EVENTS => cursor = Some(next),
            next => break next.is_some() && !reached_older,
        }
    };
    Ok((counts.into_iter().map(|(id, received)| SourceStats { id, received }).collect(), cut))
}
