//! Scheduled jobs on the AWS adapters against moto, through the `api` router as the
//! Lambda adapter hands it requests: each job is one EventBridge Scheduler schedule with
//! the job's expression, time zone, group and target input; an update updates it and a
//! cancel deletes it, and so does a pause until the resume; the `schedule` handler, given
//! that input, publishes the run and does nothing for an outdated version or after a
//! cancel.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use aws_sdk_scheduler::types::FlexibleTimeWindowMode;
use hookline_api::{Api, Handoffs};
use hookline_schedule::{Fired, Schedule};
use hookline_shared::aws::SqsQueue;
use hookline_shared::delivery::Deliveries;
use hookline_shared::outbound::{ReqwestSender, SystemLookup};
use hookline_shared::ports::{ManualClock, Queue, QueueConsumer, SystemClock};
use hookline_shared::{Config, InboxMessage, Secret};
use hookline_tests::{apigw_event, call, SCHEDULE_FUNCTION_ARN};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn each_job_is_one_scheduler_schedule_and_the_handler_honours_cancels() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    let inbox = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let deliveries = Deliveries {
        urgent: SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap()),
        regular: SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap()),
    };
    let (scheduler, group, timer) = hookline_tests::scheduler_timer(&sdk).await.unwrap();
    let config = Config { operator_key: Some(Secret::new("op-key")), ..Config::default() };
    let handoffs = Handoffs {
        http: Arc::new(ReqwestSender::new(config.network_policy(), Arc::new(SystemLookup)).unwrap()),
        deliveries: Deliveries {
            urgent: Arc::new(deliveries.urgent.clone()) as Arc<dyn Queue>,
            regular: Arc::new(deliveries.regular.clone()) as Arc<dyn Queue>,
        },
        timer: Arc::new(timer.clone()),
    };
    let api = hookline_api::router(Api::new(store.clone(), inbox.clone(), handoffs, SystemClock, &config));
    let (status, org) = call(
        &api,
        apigw_event("POST", "/v1/orgs", &[("authorization", "Bearer op-key")], r#"{"name":"Acme","plan":"pro"}"#),
    )
    .await;
    assert_eq!(status, 201, "{org}");
    let auth = format!("Bearer {}", org["api_key"].as_str().unwrap());
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let request = |method: &'static str, path: String, body: Value| {
        let api = api.clone();
        async move { call(&api, apigw_event(method, &path, &headers, &body.to_string())).await }
    };
    let schedule_of = |name: String| {
        let (scheduler, group) = (scheduler.clone(), group.clone());
        async move { scheduler.get_schedule().group_name(group).name(name).send().await }
    };

    // A cron job in New York: one schedule with that expression, zone, group and input.
    let (status, job) = request(
        "POST",
        "/v1/schedules".into(),
        json!({"type": "report.weekly", "data": {"n": 1}, "cron": "0 9 ? * MON *", "timezone": "America/New_York", "key": "acct_1"}),
    )
    .await;
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let s = schedule_of(id.clone()).await.unwrap();
    assert_eq!(s.schedule_expression.as_deref(), Some("cron(0 9 ? * MON *)"));
    assert_eq!(s.schedule_expression_timezone.as_deref(), Some("America/New_York"));
    assert_eq!(s.group_name.as_deref(), Some(group.as_str()));
    assert_eq!(s.flexible_time_window.unwrap().mode, FlexibleTimeWindowMode::Off);
    let target = s.target.unwrap();
    assert_eq!(target.arn, SCHEDULE_FUNCTION_ARN);
    let input: Value = serde_json::from_str(target.input.as_deref().unwrap()).unwrap();
    assert_eq!(input["kind"], "job");
    assert_eq!(input["schedule_id"], id.as_str());
    assert_eq!(input["version"], 1);
    assert_eq!(input["scheduled_time"], "<aws.scheduler.scheduled-time>");
    let v1_input = target.input.unwrap();

    // Rate and one-off jobs map to rate() and at() expressions.
    let at = (chrono::Utc::now() + chrono::Duration::days(2)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for (body, expr, zone) in [
        (json!({"type": "x", "rate": "5 minutes"}), "rate(5 minutes)".to_owned(), "UTC"),
        (json!({"type": "x", "at": at}), format!("at({})", &at[..19]), "UTC"),
    ] {
        let (status, j) = request("POST", "/v1/schedules".into(), body).await;
        assert_eq!(status, 201, "{j}");
        let s = schedule_of(j["id"].as_str().unwrap().to_owned()).await.unwrap();
        assert_eq!((s.schedule_expression.unwrap(), s.schedule_expression_timezone.unwrap().as_str()), (expr, zone));
    }

    // A recurring weekly job at 09:00 Berlin time starts on its first run.
    let (status, weekly) = request(
        "PUT",
        "/v1/recurring/newsletter/user_42".into(),
        json!({"frequency": "weekly", "start": "2027-03-22T09:00", "timezone": "Europe/Berlin"}),
    )
    .await;
    assert_eq!(status, 201, "{weekly}");
    let s = schedule_of(weekly["id"].as_str().unwrap().to_owned()).await.unwrap();
    assert_eq!(s.schedule_expression.as_deref(), Some("cron(0 9 ? * 2 *)"));
    assert_eq!(s.schedule_expression_timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        s.start_date.unwrap().secs(),
        "2027-03-22T08:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap().timestamp()
    );

    // A pause deletes the recurring job's schedule; a resume creates it again, for a new
    // version (a timer of the paused one is skipped).
    let weekly_id = weekly["id"].as_str().unwrap().to_owned();
    let (status, paused) = request("POST", format!("/v1/schedules/{weekly_id}/pause"), Value::Null).await;
    assert_eq!((status, paused["status"].as_str()), (200, Some("paused")), "{paused}");
    assert!(schedule_of(weekly_id.clone()).await.is_err(), "no schedule while paused");
    let (status, resumed) = request("POST", format!("/v1/schedules/{weekly_id}/resume"), Value::Null).await;
    assert_eq!((status, resumed["status"].as_str()), (200, Some("pending")), "{resumed}");
    let s = schedule_of(weekly_id).await.unwrap();
    assert_eq!(s.schedule_expression.as_deref(), Some("cron(0 9 ? * 2 *)"));
    assert!(s.target.unwrap().input.unwrap().contains(r#""version":3"#));

    // An update updates the schedule.
    let (status, updated) =
        request("PATCH", format!("/v1/schedules/{id}"), json!({"cron": "30 10 ? * MON-FRI *"})).await;
    assert_eq!(status, 200, "{updated}");
    let s = schedule_of(id.clone()).await.unwrap();
    assert_eq!(s.schedule_expression.as_deref(), Some("cron(30 10 ? * MON-FRI *)"));
    let v2_input = s.target.unwrap().input.unwrap();
    assert!(v2_input.contains(r#""version":2"#), "{v2_input}");

    // Scheduler invokes `schedule` with the input, its placeholder filled in.
    let fired_at = "2027-11-01T14:30:00Z";
    let filled = |input: &str| input.replace("<aws.scheduler.scheduled-time>", fired_at);
    let handler = Schedule::new(
        store.clone(),
        inbox.clone(),
        deliveries.clone(),
        timer.clone(),
        ManualClock::at(fired_at.parse().unwrap()),
    );
    let now = chrono::Utc::now();
    assert_eq!(
        handler.handle(&filled(&v1_input), now).await.unwrap(),
        Fired::Skipped("changed since the timer was set")
    );
    let Fired::Ran(event_id) = handler.handle(&filled(&v2_input), now).await.unwrap() else { panic!("did not run") };
    let msgs = inbox.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(msgs.len(), 1);
    let InboxMessage::Publish(p) = serde_json::from_str(&msgs[0].body).unwrap() else { panic!("not a publish") };
    assert_eq!((p.event_id, p.event_type.as_str(), p.data), (event_id, "report.weekly", json!({"n": 1})));
    inbox.ack(&msgs[0].receipt).await.unwrap();
    let (_, shown) = request("GET", format!("/v1/schedules/{id}"), Value::Null).await;
    assert_eq!((shown["runs"].as_u64(), shown["last_run_at"].is_string()), (Some(1), true));

    // Cancel by key deletes the schedule; the handler then does nothing.
    let (status, cancelled) = request("DELETE", "/v1/schedules?key=acct_1".into(), Value::Null).await;
    assert_eq!((status, cancelled), (200, json!({"cancelled": 1})));
    let gone = schedule_of(id.clone()).await.unwrap_err();
    assert!(gone.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{gone:?}");
    let later = filled(&v2_input).replace(fired_at, "2027-11-02T14:30:00Z");
    assert_eq!(handler.handle(&later, now).await.unwrap(), Fired::Skipped("cancelled"));
    assert!(inbox.receive(10, Duration::from_secs(30)).await.unwrap().is_empty());

    // frequency none deletes the recurring job's schedule.
    let (status, v) = request("PUT", "/v1/recurring/newsletter/user_42".into(), json!({"frequency": "none"})).await;
    assert_eq!((status, v), (200, json!({"cancelled": 1})));
    assert!(schedule_of(weekly["id"].as_str().unwrap().to_owned()).await.is_err());
}
