//! `/v1/recurring`: one recurring job per name and thing (a weekly newsletter per user,
//! at the user's local time), created or replaced with `PUT`.

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::page::{page_limit, PageView};
use crate::schedules::{bad, data_object, timezone, Cancelled, JobView, WhenInput};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::ports::{Clock, JobQuery, Queue};
use hookline_shared::schedule::{self, Job, Recurring, When};
use hookline_shared::validate_event_type;
use serde::Deserialize;
use std::sync::Arc;

/// Body of `PUT /v1/recurring/{name}/{thing}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRecurring {
    frequency: Option<String>,
    cron: Option<String>,
    rate: Option<String>,
    /// Local wall-clock time of the first run (`2026-11-24T09:00`).
    start: Option<String>,
    /// Local wall-clock time after which it stops.
    end: Option<String>,
    timezone: Option<String>,
    #[serde(default, deserialize_with = "hookline_shared::json::event_data_option")]
    data: Option<serde_json::Value>,
}

/// Query of `GET /v1/recurring/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

fn recurring_key(name: String, thing: String) -> Result<Recurring, ApiError> {
    validate_event_type(&name).map_err(|_| bad("name", "must be 1-256 printable ASCII characters without spaces"))?;
    if thing.is_empty() || thing.len() > 256 {
        return Err(bad("thing", "must be 1-256 characters"));
    }
    Ok(Recurring { name, thing })
}

pub(crate) async fn put<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath((name, thing)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PutRecurring>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let now = api.clock.now();
    let r = recurring_key(name, thing)?;
    let id = Job::recurring_id(&org.id, &r);
    let existing = api.store.get_job(&org.id, &id).await?;
    if body.frequency.as_deref() == Some("none") {
        let PutRecurring { cron: None, rate: None, start: None, end: None, timezone: None, data: None, .. } = body
        else {
            return Err(bad("frequency", "`none` cancels the job and takes no other field"));
        };
        let cancelled = match &existing {
            Some(job) => usize::from(api.cancel(job).await?),
            None => 0,
        };
        return Ok(ApiJson(Cancelled { cancelled }).into_response());
    }
    let tz = timezone(body.timezone.as_deref())?;
    let start = body.start.as_deref().map(|s| schedule::local_time(s, tz).map_err(|e| bad("start", e))).transpose()?;
    let end = body.end.as_deref().map(|s| schedule::local_time(s, tz).map_err(|e| bad("end", e))).transpose()?;
    let when = match (&body.frequency, &body.cron, &body.rate) {
        (Some(f), None, None) => {
            let start =
                start.ok_or_else(|| bad("start", "is required with a frequency (the first run's local time)"))?;
            When::Cron { cron: schedule::frequency_cron(f, start, tz).map_err(|e| bad("frequency", e))? }
        }
        (None, cron, rate) if cron.is_some() != rate.is_some() => {
            api.when(&WhenInput { at: None, cron: cron.clone(), rate: rate.clone() }, now)?
        }
        _ => return Err(ApiError::BadRequest("exactly one of frequency, cron and rate is required".into())),
    };
    let job = Job {
        id,
        version: existing.as_ref().map_or(1, |j| j.version + 1),
        start_at: start,
        end_at: end,
        recurring: Some(r.clone()),
        last_run_at: existing.as_ref().and_then(|j| j.last_run_at),
        runs: existing.as_ref().map_or(0, |j| j.runs),
        created_at: existing.as_ref().map_or(now, |j| j.created_at),
        ..Job::new(org.id.clone(), r.name, data_object(body.data), when, tz, now)
    };
    let mut job = api.plan(job, now, ("start", "end"))?;
    if let Some(old) = &existing {
        job = job.paused_as(old);
    }
    api.save(&job, existing.as_ref().map(|j| j.version)).await?;
    let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, ApiJson(JobView::new(job))).into_response())
}

pub(crate) async fn get<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath((name, thing)): ApiPath<(String, String)>,
) -> Result<ApiJson<JobView>, ApiError> {
    let r = recurring_key(name, thing)?;
    let job = api.store.get_job(&org.id, &Job::recurring_id(&org.id, &r)).await?;
    Ok(ApiJson(JobView::new(job.ok_or(ApiError::NotFound("recurring job"))?)))
}

pub(crate) async fn delete<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath((name, thing)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let r = recurring_key(name, thing)?;
    let job = api.store.get_job(&org.id, &Job::recurring_id(&org.id, &r)).await?;
    api.cancel(&job.ok_or(ApiError::NotFound("recurring job"))?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<RecurringQuery>,
) -> Result<ApiJson<PageView<JobView>>, ApiError> {
    let limit = page_limit(q.limit)?;
    let page =
        api.store.list_jobs(&org.id, &JobQuery { limit, cursor: q.cursor, key: None, recurring: Some(name) }).await?;
    Ok(ApiJson(PageView::of(page, JobView::new)))
}
