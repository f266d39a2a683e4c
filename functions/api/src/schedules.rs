//! `/v1/schedules`: one-off, cron and rate jobs, and cancel by key. Jobs are saved and
//! cancelled with their timers through `schedule::JobTimers`; the views and the rules
//! for times here serve `/v1/recurring` too.

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::page::{page_limit, PageView};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use hookline_shared::ports::{Clock, JobQuery, Queue};
use hookline_shared::schedule::{self, Job, JobTimers, When};
use hookline_shared::{validate_event_type, Org, ScheduleId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How many future runs a job's view lists.
const UPCOMING: usize = 5;

/// `at`, `cron`, `rate` as given: exactly one is required.
#[derive(Debug, Default)]
pub(crate) struct WhenInput {
    pub(crate) at: Option<String>,
    pub(crate) cron: Option<String>,
    pub(crate) rate: Option<String>,
}

impl WhenInput {
    fn given(&self) -> bool {
        self.at.is_some() || self.cron.is_some() || self.rate.is_some()
    }
}

/// Body of `POST /v1/schedules` (where `type` and one of `at`, `cron`, `rate` are
/// required) and of `PATCH /v1/schedules/{id}` (what is given replaces what was).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    #[serde(rename = "type")]
    event_type: Option<String>,
    #[serde(default, deserialize_with = "hookline_shared::json::event_data_option")]
    data: Option<serde_json::Value>,
    at: Option<String>,
    cron: Option<String>,
    rate: Option<String>,
    timezone: Option<String>,
    start_at: Option<String>,
    end_at: Option<String>,
    key: Option<String>,
}

/// Query of `GET` and `DELETE /v1/schedules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    key: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A job as the API shows it.
#[derive(Debug, Serialize)]
pub struct JobView {
    id: ScheduleId,
    #[serde(rename = "type")]
    event_type: String,
    data: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<String>,
    timezone: String,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thing: Option<String>,
    /// `pending` while a run is to come, `paused` while paused (no next run, no
    /// upcoming), `completed` after the last.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    paused_at: Option<DateTime<Utc>>,
    next_run_at: Option<DateTime<Utc>>,
    /// The next runs (UTC), so a cron and time zone can be checked before the first run.
    upcoming: Vec<DateTime<Utc>>,
    last_run_at: Option<DateTime<Utc>>,
    runs: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl JobView {
    pub(crate) fn new(job: Job) -> Self {
        let upcoming = match job.next_run_at {
            Some(next) => job.upcoming(next, UPCOMING),
            None => Vec::new(),
        };
        let (at, cron, rate) = match &job.when {
            When::At { at } => (Some(*at), None, None),
            When::Cron { cron } => (None, Some(cron.clone()), None),
            When::Rate { every_secs } => (None, None, Some(schedule::rate_text(*every_secs))),
        };
        let (name, thing) = job.recurring.map(|r| (r.name, r.thing)).unzip();
        Self {
            id: job.id,
            event_type: job.event_type,
            data: job.data,
            at,
            cron,
            rate,
            timezone: job.timezone,
            start_at: job.start_at,
            end_at: job.end_at,
            key: job.key,
            name,
            thing,
            status: match (job.paused_at, job.next_run_at) {
                (Some(_), _) => "paused",
                (None, Some(_)) => "pending",
                (None, None) => "completed",
            },
            paused_at: job.paused_at,
            next_run_at: job.next_run_at,
            upcoming,
            last_run_at: job.last_run_at,
            runs: job.runs,
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }
}

/// Answer to a cancel by key or a `frequency: none`.
#[derive(Debug, Serialize)]
pub struct Cancelled {
    pub(crate) cancelled: usize,
}

pub(crate) fn bad(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{field}: {why}"))
}

pub(crate) fn instant(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad(field, format!("'{text}' is not an RFC 3339 time like 2026-11-24T09:00:00Z")))
}

pub(crate) fn timezone(name: Option<&str>) -> Result<Tz, ApiError> {
    schedule::parse_timezone(name.unwrap_or("UTC")).map_err(|e| bad("timezone", e))
}

/// A job's data: what was given (an object, checked when parsed), else `{}`.
pub(crate) fn data_object(data: Option<serde_json::Value>) -> serde_json::Value {
    data.unwrap_or_else(|| serde_json::json!({}))
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 256 {
        return Err(bad("key", "must be 1-256 characters"));
    }
    Ok(())
}

impl<S: ApiState, Q: Queue + 'static, C: Clock> Api<S, Q, C> {
    pub(crate) fn when(&self, w: &WhenInput, now: DateTime<Utc>) -> Result<When, ApiError> {
        match (&w.at, &w.cron, &w.rate) {
            (Some(at), None, None) => {
                let at = instant("at", at)?;
                if at <= now {
                    return Err(bad("at", "is in the past"));
                }
                Ok(When::At { at })
            }
            (None, Some(cron), None) => {
                Ok(When::Cron { cron: schedule::Cron::canonical(cron).map_err(|e| bad("cron", e))? })
            }
            (None, None, Some(rate)) => {
                let every = schedule::parse_rate(rate, self.min_schedule_rate).map_err(|e| bad("rate", e))?;
                Ok(When::Rate { every_secs: every.as_secs() })
            }
            _ => Err(ApiError::BadRequest("exactly one of at, cron and rate is required".into())),
        }
    }

    /// Check the window and compute the first run; `fields` are the request's names for
    /// the start and end times (`start_at`/`end_at`, or `start`/`end` for recurring jobs).
    pub(crate) fn plan(&self, mut job: Job, now: DateTime<Utc>, fields: (&str, &str)) -> Result<Job, ApiError> {
        let (start, end) = fields;
        if let (Some(s), Some(e)) = (job.start_at, job.end_at) {
            if e <= s {
                return Err(bad(end, "is before the start"));
            }
        }
        if job.end_at.is_some_and(|e| e <= now) {
            return Err(bad(end, "is in the past"));
        }
        if matches!(job.when, When::At { .. }) && (job.start_at.is_some() || job.end_at.is_some()) {
            return Err(bad(start, "start_at and end_at apply to cron and rate only"));
        }
        job.next_run_at = job.next_from(now);
        if job.next_run_at.is_none() {
            return Err(bad(start, "the job would never run"));
        }
        Ok(job)
    }

    /// The store's jobs with their timers.
    fn jobs(&self) -> JobTimers<'_, S, dyn hookline_shared::ports::Timer> {
        JobTimers::new(&self.store, &*self.handoffs.timer)
    }

    /// Save a job and point its timer at the next run.
    pub(crate) async fn save(&self, job: &Job, previous: Option<u64>) -> Result<(), ApiError> {
        if !self.jobs().save(job, previous).await? {
            return Err(ApiError::Conflict("the schedule changed meanwhile; read it and retry".into()));
        }
        Ok(())
    }

    /// Delete a job, then its timer; true when it was pending.
    pub(crate) async fn cancel(&self, job: &Job) -> Result<bool, ApiError> {
        Ok(self.jobs().cancel(job).await?)
    }
}

async fn load<S: ApiState, Q: Queue + 'static, C: Clock>(
    api: &Api<S, Q, C>,
    org: &Org,
    id: &str,
) -> Result<Job, ApiError> {
    let id: ScheduleId = id.parse().map_err(|_| ApiError::NotFound("schedule"))?;
    api.store.get_job(&org.id, &id).await?.ok_or(ApiError::NotFound("schedule"))
}

pub(crate) async fn create<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> Result<(StatusCode, ApiJson<JobView>), ApiError> {
    let now = api.clock.now();
    let event_type = body.event_type.ok_or_else(|| bad("type", "is required"))?;
    validate_event_type(&event_type).map_err(ApiError::BadRequest)?;
    if let Some(k) = &body.key {
        check_key(k)?;
    }
    let tz = timezone(body.timezone.as_deref())?;
    let when = api.when(&WhenInput { at: body.at, cron: body.cron, rate: body.rate }, now)?;
    let job = Job {
        start_at: body.start_at.as_deref().map(|t| instant("start_at", t)).transpose()?,
        end_at: body.end_at.as_deref().map(|t| instant("end_at", t)).transpose()?,
        key: body.key,
        ..Job::new(org.id.clone(), event_type, data_object(body.data), when, tz, now)
    };
    let job = api.plan(job, now, ("start_at", "end_at"))?;
    api.save(&job, None).await?;
    Ok((StatusCode::CREATED, ApiJson(JobView::new(job))))
}

pub(crate) async fn list<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<PageView<JobView>>, ApiError> {
    let limit = page_limit(q.limit)?;
    let page = api.store.list_jobs(&org.id, &JobQuery { limit, cursor: q.cursor, key: q.key, recurring: None }).await?;
    Ok(ApiJson(PageView::of(page, JobView::new)))
}

pub(crate) async fn get<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<JobView>, ApiError> {
    let job = load(&api, &org, &id).await?;
    Ok(ApiJson(JobView::new(job)))
}

pub(crate) async fn update<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> Result<ApiJson<JobView>, ApiError> {
    let now = api.clock.now();
    let old = load(&api, &org, &id).await?;
    if old.recurring.is_some() {
        return Err(ApiError::BadRequest("a recurring job is changed with PUT /v1/recurring/{name}/{thing}".into()));
    }
    let mut job = old.clone();
    if let Some(t) = body.event_type {
        validate_event_type(&t).map_err(ApiError::BadRequest)?;
        job.event_type = t;
    }
    if body.data.is_some() {
        job.data = data_object(body.data);
    }
    if let Some(tz) = body.timezone.as_deref() {
        job.timezone = timezone(Some(tz))?.name().to_owned();
    }
    let given = WhenInput { at: body.at, cron: body.cron, rate: body.rate };
    if given.given() {
        job.when = api.when(&given, now)?;
    }
    if let Some(t) = body.start_at.as_deref() {
        job.start_at = Some(instant("start_at", t)?);
    }
    if let Some(t) = body.end_at.as_deref() {
        job.end_at = Some(instant("end_at", t)?);
    }
    if let Some(k) = body.key {
        check_key(&k)?;
        job.key = Some(k);
    }
    job.version = old.version + 1;
    job.updated_at = now;
    let job = api.plan(job, now, ("start_at", "end_at"))?.paused_as(&old);
    api.save(&job, Some(old.version)).await?;
    Ok(ApiJson(JobView::new(job)))
}

/// Pause a job (a recurring one too): no run, and an empty `upcoming`, until it resumes.
pub(crate) async fn pause<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<JobView>, ApiError> {
    let old = load(&api, &org, &id).await?;
    if old.paused_at.is_some() {
        return Ok(ApiJson(JobView::new(old)));
    }
    if !old.pending() {
        return Err(ApiError::Conflict("the schedule has completed".into()));
    }
    let job = old.clone().pause(api.clock.now());
    api.save(&job, Some(old.version)).await?;
    Ok(ApiJson(JobView::new(job)))
}

/// Resume a paused job from its next run after now; the runs it missed are skipped.
pub(crate) async fn resume<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<JobView>, ApiError> {
    let old = load(&api, &org, &id).await?;
    if old.paused_at.is_none() {
        return Err(ApiError::Conflict("the schedule is not paused".into()));
    }
    let job = old.clone().resume(api.clock.now());
    api.save(&job, Some(old.version)).await?;
    Ok(ApiJson(JobView::new(job)))
}

pub(crate) async fn delete<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let job = load(&api, &org, &id).await?;
    api.cancel(&job).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/schedules?key=…`: cancel every pending job with that key.
pub(crate) async fn cancel_by_key<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<Cancelled>, ApiError> {
    let key = q.key.ok_or_else(|| bad("key", "is required to cancel by key"))?;
    check_key(&key)?;
    let mut cancelled = 0;
    let mut cursor = None;
    loop {
        let query = JobQuery { limit: 100, cursor, key: Some(key.clone()), recurring: None };
        let page = api.store.list_jobs(&org.id, &query).await?;
        for job in page.items.iter().filter(|j| j.pending()) {
            if api.cancel(job).await? {
                cancelled += 1;
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(ApiJson(Cancelled { cancelled }))
}
