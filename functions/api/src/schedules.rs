//! `/v1/schedules` (one-off, cron and rate jobs, cancel by key) and `/v1/recurring`
//! (one recurring job per name and thing). A job is saved, then its timer is armed; a
//! cancel deletes the job first, so a timer that fires meanwhile finds nothing to run.

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use hookline_shared::ports::TimerPayload;
use hookline_shared::ports::{Clock, JobQuery, Page, Queue};
use hookline_shared::schedule::{self, Job, Recurring, When};
use hookline_shared::{validate_event_type, Org, ScheduleId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How many future runs a job's view lists.
const UPCOMING: usize = 5;

/// `at`, `cron`, `rate` as given: exactly one is required.
#[derive(Debug, Default)]
struct WhenInput {
    at: Option<String>,
    cron: Option<String>,
    rate: Option<String>,
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
    /// `pending` while a run is to come, `completed` after the last.
    status: &'static str,
    next_run_at: Option<DateTime<Utc>>,
    /// The next runs (UTC), so a cron and time zone can be checked before the first run.
    upcoming: Vec<DateTime<Utc>>,
    last_run_at: Option<DateTime<Utc>>,
    runs: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl JobView {
    fn new(job: Job) -> Self {
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
            status: if job.next_run_at.is_some() { "pending" } else { "completed" },
            next_run_at: job.next_run_at,
            upcoming,
            last_run_at: job.last_run_at,
            runs: job.runs,
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }
}

/// A page of jobs.
#[derive(Debug, Serialize)]
pub struct JobList {
    data: Vec<JobView>,
    next_cursor: Option<String>,
}

impl From<Page<Job>> for JobList {
    fn from(page: Page<Job>) -> Self {
        Self { data: page.items.into_iter().map(JobView::new).collect(), next_cursor: page.next_cursor }
    }
}

/// Answer to a cancel by key or a `frequency: none`.
#[derive(Debug, Serialize)]
pub struct Cancelled {
    cancelled: usize,
}

fn bad(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{field}: {why}"))
}

fn instant(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad(field, format!("'{text}' is not an RFC 3339 time like 2026-11-24T09:00:00Z")))
}

fn timezone(name: Option<&str>) -> Result<Tz, ApiError> {
    schedule::parse_timezone(name.unwrap_or("UTC")).map_err(|e| bad("timezone", e))
}

/// A job's data: what was given (an object, checked when parsed), else `{}`.
fn data_object(data: Option<serde_json::Value>) -> serde_json::Value {
    data.unwrap_or_else(|| serde_json::json!({}))
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 256 {
        return Err(bad("key", "must be 1-256 characters"));
    }
    Ok(())
}

impl<S: ApiState, Q: Queue + 'static, C: Clock> Api<S, Q, C> {
    fn when(&self, w: &WhenInput, now: DateTime<Utc>) -> Result<When, ApiError> {
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
    fn plan(&self, mut job: Job, now: DateTime<Utc>, fields: (&str, &str)) -> Result<Job, ApiError> {
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

    /// Save a job and point its timer at the next run.
    async fn save(&self, job: &Job, previous: Option<u64>) -> Result<(), ApiError> {
        match previous {
            Some(v) => {
                if !self.store.put_job_if(job, v).await? {
                    return Err(ApiError::Conflict("the schedule changed meanwhile; read it and retry".into()));
                }
            }
            None => self.store.put_job(job).await?,
        }
        if let Err(e) = self.outbound.timer.arm(job, &TimerPayload::for_job(job)).await {
            // A new job without a timer would never run: take it back, so the caller's
            // retry starts clean. (An update keeps its previous timer, which skips the
            // new version; retrying the update re-arms it.)
            if previous.is_none() {
                let _ = self.store.delete_job(&job.org_id, &job.id).await;
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Delete a job, then its timer; true when it was pending.
    async fn cancel(&self, org: &Org, job: &Job) -> Result<bool, ApiError> {
        let deleted = self.store.delete_job(&org.id, &job.id).await?;
        self.outbound.timer.disarm(&job.id).await?;
        Ok(deleted && job.pending())
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
        id: ScheduleId::new(),
        org_id: org.id.clone(),
        version: 1,
        event_type,
        data: data_object(body.data),
        when,
        timezone: tz.name().to_owned(),
        start_at: body.start_at.as_deref().map(|t| instant("start_at", t)).transpose()?,
        end_at: body.end_at.as_deref().map(|t| instant("end_at", t)).transpose()?,
        key: body.key,
        recurring: None,
        next_run_at: None,
        last_run_at: None,
        last_due_at: None,
        runs: 0,
        created_at: now,
        updated_at: now,
    };
    let job = api.plan(job, now, ("start_at", "end_at"))?;
    api.save(&job, None).await?;
    Ok((StatusCode::CREATED, ApiJson(JobView::new(job))))
}

pub(crate) async fn list<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<JobList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(bad("limit", "must be between 1 and 100"));
    }
    let page = api.store.list_jobs(&org.id, &JobQuery { limit, cursor: q.cursor, key: q.key, recurring: None }).await?;
    Ok(ApiJson(JobList::from(page)))
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
    let job = api.plan(job, now, ("start_at", "end_at"))?;
    api.save(&job, Some(old.version)).await?;
    Ok(ApiJson(JobView::new(job)))
}

pub(crate) async fn delete<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let job = load(&api, &org, &id).await?;
    api.cancel(&org, &job).await?;
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
            if api.cancel(&org, job).await? {
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

fn recurring_key(name: String, thing: String) -> Result<Recurring, ApiError> {
    validate_event_type(&name).map_err(|_| bad("name", "must be 1-256 printable ASCII characters without spaces"))?;
    if thing.is_empty() || thing.len() > 256 {
        return Err(bad("thing", "must be 1-256 characters"));
    }
    Ok(Recurring { name, thing })
}

pub(crate) async fn put_recurring<S: ApiState, Q: Queue + 'static, C: Clock>(
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
            Some(job) => usize::from(api.cancel(&org, job).await?),
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
        org_id: org.id.clone(),
        version: existing.as_ref().map_or(1, |j| j.version + 1),
        event_type: r.name.clone(),
        data: data_object(body.data),
        when,
        timezone: tz.name().to_owned(),
        start_at: start,
        end_at: end,
        key: None,
        recurring: Some(r),
        next_run_at: None,
        last_run_at: existing.as_ref().and_then(|j| j.last_run_at),
        last_due_at: None,
        runs: existing.as_ref().map_or(0, |j| j.runs),
        created_at: existing.as_ref().map_or(now, |j| j.created_at),
        updated_at: now,
    };
    let job = api.plan(job, now, ("start", "end"))?;
    api.save(&job, existing.as_ref().map(|j| j.version)).await?;
    let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, ApiJson(JobView::new(job))).into_response())
}

pub(crate) async fn get_recurring<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath((name, thing)): ApiPath<(String, String)>,
) -> Result<ApiJson<JobView>, ApiError> {
    let r = recurring_key(name, thing)?;
    let job = api.store.get_job(&org.id, &Job::recurring_id(&org.id, &r)).await?;
    Ok(ApiJson(JobView::new(job.ok_or(ApiError::NotFound("recurring job"))?)))
}

pub(crate) async fn delete_recurring<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath((name, thing)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let r = recurring_key(name, thing)?;
    let job = api.store.get_job(&org.id, &Job::recurring_id(&org.id, &r)).await?;
    api.cancel(&org, &job.ok_or(ApiError::NotFound("recurring job"))?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /v1/recurring/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

pub(crate) async fn list_recurring<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<RecurringQuery>,
) -> Result<ApiJson<JobList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(bad("limit", "must be between 1 and 100"));
    }
    let page =
        api.store.list_jobs(&org.id, &JobQuery { limit, cursor: q.cursor, key: None, recurring: Some(name) }).await?;
    Ok(ApiJson(JobList::from(page)))
}
