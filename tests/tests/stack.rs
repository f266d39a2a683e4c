//! The stack run: the functions' real binaries, started as Lambda starts them, wired as
//! `template.yaml` wires them (API Gateway, SQS event source mappings, Scheduler), over
//! moto. Each flow goes in at the edge and comes out at a receiver on 127.0.0.1.

use chrono::Datelike as _;
use hookline_tests::fake_stripe::{stripe_event, FakeStripe};
use hookline_tests::stack::{Stack, StackOptions};
use hookline_tests::{moto, peer, python, until, verify_with_library, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn send(&self, method: reqwest::Method, key: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, key: &str, path: &str, body: Value) -> Value {
        let (status, v) = self.send(reqwest::Method::POST, key, path, Some(body.clone())).await;
        assert!((200..300).contains(&status), "POST {path} {body}: {status} {v}");
        v
    }

    async fn get(&self, key: &str, path: &str) -> Value {
        let (status, v) = self.send(reqwest::Method::GET, key, path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }
}

/// A started stack with an org (its API key) and a receiver on 127.0.0.1.
struct Run {
    stack: Stack,
    c: Client,
    key: String,
    receiver: Receiver,
}

async fn start() -> Option<Run> {
    start_with(Vec::new()).await
}

/// A stack with these template parameters.
async fn start_with(params: Vec<(String, String)>) -> Option<Run> {
    let (sdk, py) = (moto().await?, python()?);
    let mut opts = StackOptions::for_tests(py).expect("stack options");
    opts.params.extend(params);
    let stack = Stack::start(&sdk, opts).await.expect("the stack starts");
    let c = Client { http: reqwest::Client::new(), url: stack.url.clone() };
    let org = c.post(&stack.operator_key, "/v1/orgs", json!({"name": "Acme", "plan": "pro"})).await;
    let key = org["api_key"].as_str().expect("api key").to_owned();
    Some(Run { stack, c, key, receiver: Receiver::start().await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stripe_webhook_goes_through_every_function_and_reaches_the_endpoint_signed() {
    let Some(Run { stack, c, key, receiver }) = start().await else { return };
    let py = python().expect("python");
    let secret = "whsec_stack_stripe_secret_0001";
    let source =
        c.post(&key, "/v1/sources", json!({"name": "stripe", "provider": "stripe", "secrets": [secret]})).await;
    let hook =
        c.post(&key, "/v1/webhooks", json!({"url": format!("{}/hook", receiver.url), "events": ["stripe.*"]})).await;

    let body =
        json!({"id": "evt_stack_1", "type": "charge.failed", "data": {"object": {"customer": "cus_42"}}}).to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = peer(&py, &["stripe", secret, &ts], body.as_bytes()).await.expect("peer").expect("signed");
    let ingest = format!("{}/in/{}", stack.url, source["id"].as_str().expect("id"));
    let res = c
        .http
        .post(&ingest)
        .header("Stripe-Signature", sig)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("ingest");
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());

    let got = receiver.wait_for("/hook", 1, 60).await;
    assert_eq!(got.len(), 1, "one delivery");
    let delivered = got[0].json();
    assert_eq!(delivered["type"], "stripe.charge.failed");
    assert_eq!(delivered["data"]["data"]["object"]["customer"], "cus_42");
    let hook_secret = hook["secret"].as_str().expect("secret").to_owned();
    assert_eq!(verify_with_library(&py, &[(hook_secret, got[0].clone())]).await, Vec::<String>::new());

    // The same request again (a provider's retry) is recorded once and delivered once.
    let sig = peer(&py, &["stripe", secret, &ts], body.as_bytes()).await.expect("peer").expect("signed");
    let res = c.http.post(&ingest).header("Stripe-Signature", sig).body(body).send().await.expect("ingest");
    assert_eq!(res.status(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.got("/hook").len(), 1, "a repeat is not delivered again");
    let events = c.get(&key, "/v1/events").await;
    assert_eq!(events["data"].as_array().map(Vec::len), Some(1), "{events}");
    // The permission check sees what each function asked of AWS.
    let verify = stack.actions("VerifyFunction");
    for action in ["dynamodb:PutItem", "dynamodb:Query", "sqs:SendMessage", "kms:Decrypt"] {
        assert!(verify.contains(action), "verify used {action}: {verify:?}");
    }
    assert!(stack.actions("IngestFunction").contains("sqs:SendMessage"));
    assert_eq!(stack.denied(), Vec::<String>::new(), "every AWS request allowed by its role");
}

async fn webhook(c: &Client, key: &str, url: String) -> String {
    let hook = c.post(key, "/v1/webhooks", json!({"url": url, "events": ["*"], "urgency": "urgent"})).await;
    hook["secret"].as_str().expect("secret").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_published_event_fans_out_to_ten_endpoints_each_signed_with_its_own_secret() {
    let Some(Run { stack, c, key, receiver }) = start().await else { return };
    let py = python().expect("python");
    let mut secrets = Vec::new();
    for i in 0..10 {
        secrets.push(webhook(&c, &key, format!("{}/e{i}", receiver.url)).await);
    }
    c.post(&key, "/v1/events", json!({"type": "user.created", "data": {"id": "u1"}})).await;
    let mut checks = Vec::new();
    for (i, secret) in secrets.into_iter().enumerate() {
        let got = receiver.wait_for(&format!("/e{i}"), 1, 60).await;
        assert_eq!(got.len(), 1, "endpoint {i} got its delivery");
        assert_eq!(got[0].json()["data"]["id"], "u1");
        checks.push((secret, got[0].clone()));
    }
    assert_eq!(verify_with_library(&py, &checks).await, Vec::<String>::new());
    assert_eq!(stack.denied(), Vec::<String>::new(), "every AWS request allowed by its role");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_answering_500_500_200_gets_three_attempts_all_logged() {
    let Some(Run { stack, c, key, receiver }) = start().await else { return };
    receiver.script("/flaky", &[(500, "no"), (500, "no"), (200, "ok")]);
    webhook(&c, &key, format!("{}/flaky", receiver.url)).await;
    c.post(&key, "/v1/events", json!({"type": "invoice.paid", "data": {"n": 1}})).await;
    let got = receiver.wait_for("/flaky", 3, 60).await;
    assert_eq!(got.len(), 3, "two retries after two 500s");
    let ids: Vec<_> = got.iter().map(|g| g.headers.get("webhook-id").cloned()).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one message id across attempts: {ids:?}");
    let hooks = c.get(&key, "/v1/webhooks").await;
    let id = hooks["data"][0]["id"].as_str().expect("webhook id").to_owned();
    let statuses = |logs: &Value| -> Vec<String> {
        logs["data"].as_array().into_iter().flatten().filter_map(|a| a["status"].as_str().map(str::to_owned)).collect()
    };
    let logs = until(10, || async {
        let logs = c.get(&key, &format!("/v1/webhooks/{id}/logs")).await;
        if statuses(&logs).len() == 3 {
            Ok(logs)
        } else {
            Err(logs)
        }
    })
    .await
    .unwrap_or_else(|last| last);
    assert_eq!(statuses(&logs).iter().filter(|s| *s == "delivered").count(), 1, "{logs}");
    assert_eq!(statuses(&logs).len(), 3, "{logs}");
    assert_eq!(stack.denied(), Vec::<String>::new(), "every AWS request allowed by its role");
}

/// A retry further off than a queue can delay (15 minutes) waits on a one-off Scheduler
/// schedule: deliver creates it, Scheduler fires it into `schedule` a minute early,
/// `schedule` puts the job back on its queue for the rest, and the schedule is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_twenty_minutes_off_waits_on_a_schedule_and_comes_back_through_schedule() {
    let Some(Run { stack, c, key, receiver }) = start().await else { return };
    receiver.script("/later", &[(503, "busy"), (200, "ok")]);
    receiver.retry_after("/later", 1200);
    // Regular urgency: its policy lets an endpoint ask for up to 4 hours.
    let url = format!("{}/later", receiver.url);
    c.post(&key, "/v1/webhooks", json!({"url": url, "events": ["*"], "urgency": "regular"})).await;
    c.post(&key, "/v1/events", json!({"type": "invoice.paid", "data": {"n": 1}})).await;
    assert_eq!(receiver.wait_for("/later", 1, 60).await.len(), 1);

    let scheduler = aws_sdk_scheduler::Client::new(&moto().await.expect("moto"));
    let group = stack.reference("ScheduleGroup").to_owned();
    let list = || async {
        let out = scheduler.list_schedules().group_name(&group).send().await.expect("list schedules");
        out.schedules.into_iter().filter_map(|s| s.name).collect::<Vec<_>>()
    };
    let Ok(name) = until(30, || async { list().await.pop().ok_or_else(String::new) }).await else {
        let hooks = c.get(&key, "/v1/webhooks").await;
        let logs = c.get(&key, &format!("/v1/webhooks/{}/logs", hooks["data"][0]["id"].as_str().unwrap_or(""))).await;
        panic!("no schedule was created for the retry: {logs}");
    };
    let s = scheduler.get_schedule().group_name(&group).name(&name).send().await.expect("get schedule");
    let at: chrono::NaiveDateTime = s
        .schedule_expression()
        .and_then(|e| e.strip_prefix("at(")?.strip_suffix(')')?.parse().ok())
        .expect("an at() expression");
    let ahead = at.and_utc() - chrono::Utc::now();
    assert!(ahead > chrono::Duration::minutes(15), "the retry waits on the timer: {ahead}");
    assert_eq!(s.target().map(|t| t.arn()), Some(stack.functions["ScheduleFunction"].spec.arn.as_str()));
    assert_eq!(receiver.got("/later").len(), 1, "nothing before its time");

    // Scheduler's clock reaches the schedule; the last minute rides on a queue delay.
    stack.scheduler_clock.advance(ahead.to_std().expect("ahead") + Duration::from_secs(1));
    let got = receiver.wait_for("/later", 2, 150).await;
    assert_eq!(got.len(), 2, "the retry came back");
    assert_eq!(got[0].headers.get("webhook-id"), got[1].headers.get("webhook-id"), "the same message");
    assert!(list().await.is_empty(), "the one-off schedule deleted itself after it fired");
    assert_eq!(stack.denied(), Vec::<String>::new(), "every AWS request allowed by its role");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_message_ends_in_the_dead_letter_queue_while_its_batch_is_delivered() {
    let Some(Run { stack, c, key, receiver }) = start().await else { return };
    let sqs = aws_sdk_sqs::Client::new(&moto().await.expect("moto"));
    webhook(&c, &key, format!("{}/ok", receiver.url)).await;
    sqs.send_message()
        .queue_url(stack.reference("InboxQueue"))
        .message_body("not an inbox message")
        .send()
        .await
        .expect("send");
    for n in 0..5 {
        c.post(&key, "/v1/events", json!({"type": "order.placed", "data": {"n": n}})).await;
    }
    assert_eq!(receiver.wait_for("/ok", 5, 60).await.len(), 5, "the good messages are delivered");
    // Visibility 2 s in the stack run, five receives, then moto's redrive.
    let dlq = stack.reference("InboxDeadLetterQueue").to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let body = loop {
        let out = sqs.receive_message().queue_url(&dlq).wait_time_seconds(1).send().await.expect("receive");
        if let Some(m) = out.messages.unwrap_or_default().into_iter().next() {
            break m.body.unwrap_or_default();
        }
        assert!(tokio::time::Instant::now() < deadline, "the poison message never reached the DLQ");
    };
    assert_eq!(body, "not an inbox message");
    assert_eq!(receiver.got("/ok").len(), 5, "nothing delivered twice");
    assert_eq!(stack.denied(), Vec::<String>::new(), "every AWS request allowed by its role");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_weekly_job_at_nine_in_berlin_is_fired_by_scheduler_and_delivered() {
    let Some(Run { stack, c, key, receiver }) = start().await else { return };
    webhook(&c, &key, format!("{}/news", receiver.url)).await;
    // Next week's Monday, 09:00 in Berlin.
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().expect("zone");
    let today = chrono::Utc::now().with_timezone(&berlin).date_naive();
    let monday = today + chrono::Duration::days(7 - i64::from(today.weekday().num_days_from_monday()));
    let start = format!("{monday}T09:00");
    let job = c
        .send(
            reqwest::Method::PUT,
            &key,
            "/v1/recurring/newsletter/user_42",
            Some(json!({"frequency": "weekly", "start": start, "timezone": "Europe/Berlin", "data": {"issue": 7}})),
        )
        .await;
    assert_eq!(job.0, 201, "{}", job.1);
    let first: chrono::DateTime<chrono::Utc> =
        job.1["next_run_at"].as_str().expect("next run").parse().expect("a time");
    assert_eq!(first.with_timezone(&berlin).format("%a %H:%M").to_string(), "Mon 09:00");
    assert!(receiver.wait_for("/news", 1, 2).await.is_empty(), "nothing before its time");

    // Scheduler's clock reaches the first run; the function sees Scheduler's scheduled time.
    stack.scheduler_clock.advance((first - chrono::Utc::now()).to_std().expect("ahead") + Duration::from_secs(1));
    let got = receiver.wait_for("/news", 1, 60).await;
    assert_eq!(got.len(), 1, "the first run is delivered");
    let event = got[0].json();
    assert_eq!(event["type"], "newsletter");
    assert_eq!(event["data"], json!({"thing": "user_42", "issue": 7}));
    let after = c.get(&key, "/v1/recurring/newsletter/user_42").await;
    let next: chrono::DateTime<chrono::Utc> = after["next_run_at"].as_str().expect("next").parse().expect("a time");
    assert_eq!(next.with_timezone(&berlin).format("%a %H:%M").to_string(), "Mon 09:00");
    let local_days = next.with_timezone(&berlin).date_naive() - first.with_timezone(&berlin).date_naive();
    assert_eq!(local_days.num_days(), 7, "a week later, at nine in Berlin whatever the offset");
    assert_eq!(stack.denied(), Vec::<String>::new(), "every AWS request allowed by its role");
}

/// The AWS requests a delivery costs, counted on the stack as deployed (see the README's
/// cost table). Per delivery, DynamoDB sees one write for the event (shared by its
/// fan-out) and one for the attempt; reads are the endpoint list per event and what the
/// caches let through. A read or a write added per delivery anywhere fails this.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_delivery_costs_one_attempt_write_and_its_share_of_the_event() {
    use hookline_tests::stack::load::{self, Entry, Scenario};
    let (Some(sdk), Some(py)) = (moto().await, python()) else { return };
    let mut opts = StackOptions::for_tests(py).expect("stack options");
    opts.params.push(("IngestFunctionUrl".into(), "true".into()));
    let stack = Stack::start(&sdk, opts).await.expect("the stack starts");
    let receiver = Receiver::start().await;
    // (run, DynamoDB writes per delivery, reads per delivery below)
    for (s, writes, reads) in [
        (Scenario { name: "api1", events: 40, fan_out: 1, entry: Entry::Api }, 2.0, 1.5),
        (Scenario { name: "api10", events: 10, fan_out: 10, entry: Entry::Api }, 1.1, 0.6),
        (Scenario { name: "stripe", events: 40, fan_out: 1, entry: Entry::StripeFunctionUrl }, 2.0, 1.5),
    ] {
        let r = load::run(&stack, &receiver, s).await.expect("the run");
        let lines: Vec<String> = r.lines.iter().map(|l| format!("{} {} {:?}", l.who, l.what, l.tally)).collect();
        let (w, rd) = r.dynamodb_requests_per_delivery();
        assert!((w - writes).abs() < 1e-9, "{}: {w} DynamoDB writes per delivery, not {writes}: {lines:#?}", s.name);
        assert!(rd < reads, "{}: {rd} DynamoDB reads per delivery, {reads} at most: {lines:#?}", s.name);
    }
    assert_eq!(stack.denied(), Vec::<String>::new(), "every AWS request allowed by its role");
}

/// Least privilege the other way. A tour of every path that writes: a Stripe event in;
/// both urgencies with a retry each; a retry and a continuation too far off for a queue,
/// on timers; endpoints disabled by a 410, enabled and replayed; ordered events; a
/// webhook changed, tested and deleted; a job created, changed, cancelled, and another run by Scheduler. After it, each write
/// a role grants has been made at least once, or the grant is one too many.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_write_a_role_grants_is_one_its_function_makes() {
    let stripe_key = "rk_test_51StackTourFetch0001";
    let stripe_api = FakeStripe::start(stripe_key).await;
    let params = vec![("StripeApiBase".to_owned(), stripe_api.url.clone())];
    let Some(Run { stack, c, key, receiver }) = start_with(params).await else { return };
    let py = python().expect("python");
    let hook = |path: &str, urgency: &str| json!({"url": format!("{}{path}", receiver.url), "events": ["*"], "urgency": urgency});
    receiver.script("/flaky-urgent", &[(500, "no"), (200, "ok")]);
    receiver.script("/flaky-regular", &[(500, "no"), (200, "ok")]);
    receiver.script("/later", &[(503, "busy"), (200, "ok")]);
    receiver.retry_after("/later", 1200);
    receiver.script("/chain", &[(200, r#"{"continue": {"delay": "20m", "data": {"page": 2}}}"#)]);
    receiver.script("/gone-urgent", &[(410, "gone")]);
    receiver.script("/gone-regular", &[(410, "gone")]);
    let mut ids = Vec::new();
    for (path, urgency) in [
        ("/gone-urgent", "urgent"),
        ("/gone-regular", "regular"),
        ("/flaky-urgent", "urgent"),
        ("/flaky-regular", "regular"),
        ("/later", "regular"),
        ("/chain", "urgent"),
    ] {
        ids.push(c.post(&key, "/v1/webhooks", hook(path, urgency)).await["id"].as_str().expect("id").to_owned());
    }
    // A rate-limited endpoint claims a send slot per delivery.
    let paced = json!({"url": format!("{}/paced", receiver.url), "events": ["*"], "rate_limit": 1});
    assert_eq!(c.post(&key, "/v1/webhooks", paced).await["rate_limit"], 1);
    // A paused endpoint's delivery is held, then sent on by its resume.
    let paused =
        c.post(&key, "/v1/webhooks", json!({"url": format!("{}/paused", receiver.url), "events": ["stripe.*"]})).await;
    let paused = format!("/v1/webhooks/{}", paused["id"].as_str().expect("id"));
    let (status, v) = c.send(reqwest::Method::POST, &key, &format!("{paused}/pause"), None).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("paused")), "{v}");

    // One event in from Stripe, to every endpoint.
    let secret = "whsec_stack_tour_secret_0001";
    let source =
        c.post(&key, "/v1/sources", json!({"name": "stripe", "provider": "stripe", "secrets": [secret]})).await;
    let body = json!({"id": "evt_tour_1", "type": "charge.failed", "data": {"object": {}}}).to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = peer(&py, &["stripe", secret, &ts], body.as_bytes()).await.expect("peer").expect("signed");
    let ingest = format!("{}/in/{}", stack.url, source["id"].as_str().expect("id"));
    let res = c.http.post(&ingest).header("Stripe-Signature", sig).body(body.clone()).send().await.expect("ingest");
    assert_eq!(res.status(), 200);
    // A request signed with another secret: refused, and why is kept for the owner.
    let forged =
        peer(&py, &["stripe", "whsec_not_the_sources", &ts], body.as_bytes()).await.expect("peer").expect("signed");
    let res = c.http.post(&ingest).header("Stripe-Signature", forged).body(body).send().await.expect("ingest");
    assert_eq!(res.status(), 401);
    let rejections = c.get(&key, &format!("/v1/sources/{}/rejections", source["id"].as_str().expect("id"))).await;
    assert_eq!(rejections["data"][0]["reason"], "no_matching_secret", "{rejections}");
    for (path, n) in [
        ("/gone-urgent", 1),
        ("/gone-regular", 1),
        ("/flaky-urgent", 2),
        ("/flaky-regular", 2),
        ("/later", 1),
        ("/chain", 1),
        ("/paced", 1),
    ] {
        assert_eq!(receiver.wait_for(path, n, 60).await.len(), n, "{path}");
    }
    let held = until(30, || async {
        let logs = c.get(&key, &format!("{paused}/logs")).await;
        if logs["data"][0]["status"] == "held" {
            Ok(logs)
        } else {
            Err(logs)
        }
    })
    .await
    .unwrap_or_else(|logs| panic!("no held delivery: {logs}"));
    assert!(receiver.got("/paused").is_empty(), "{held}");
    let (status, v) = c.send(reqwest::Method::POST, &key, &format!("{paused}/resume"), None).await;
    assert_eq!((status, v["resumed"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(receiver.wait_for("/paused", 1, 60).await.len(), 1, "sent on by the resume");

    // The API's writes: a publish; a webhook changed, one tested, the disabled ones
    // enabled and their failed deliveries replayed (each urgency); one deleted.
    c.post(&key, "/v1/events", json!({"type": "order.placed", "data": {}})).await;
    // Ordered events: through the FIFO inbox, a place each in the key's stream, each
    // endpoint's lane letting one out at a time.
    receiver.script("/ordered", &[(500, "no"), (200, "ok")]);
    let ordered = json!({"url": format!("{}/ordered", receiver.url), "events": ["order.shipped"]});
    c.post(&key, "/v1/webhooks", ordered).await;
    for n in 0..3 {
        let event = json!({"type": "order.shipped", "data": {"n": n}, "ordering_key": "cus_tour"});
        let (status, v) = c.send(reqwest::Method::POST, &key, "/v1/events", Some(event)).await;
        assert_eq!(status, 202, "{v}");
    }
    let got: Vec<i64> = receiver
        .wait_for("/ordered", 4, 60)
        .await
        .iter()
        .map(|g| g.json()["data"]["n"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(got, [0, 0, 1, 2], "the first, its retry, then the rest in publish order");
    // And inbound: a source that finds the key in its bodies sends them through the
    // ordered inbox too.
    let token = "tour-token-0001";
    let shop = json!({"name": "shop", "provider": "token", "secrets": [token], "ordering_key": "/customer"});
    let shop = c.post(&key, "/v1/sources", shop).await;
    assert_eq!(shop["ordering_key"], "/customer", "{shop}");
    let ingest_shop = format!("{}/in/{}", stack.url, shop["id"].as_str().expect("id"));
    let shipped = json!({"customer": "cus_tour", "n": 3}).to_string();
    let res = c.http.post(&ingest_shop).header("Authorization", token).body(shipped).send().await.expect("ingest");
    assert_eq!(res.status(), 200);
    // Twilio signs the URL it posts to: rebuilt behind API Gateway from its headers.
    let twilio_token = "tour-twilio-auth-token";
    let sms =
        c.post(&key, "/v1/sources", json!({"name": "sms", "provider": "twilio", "secrets": [twilio_token]})).await;
    let ingest_sms = format!("{}/in/{}", stack.url, sms["id"].as_str().expect("id"));
    let form = "MessageSid=SMtour&SmsStatus=received&Body=hi";
    let sig = peer(&py, &["twilio", twilio_token, &ingest_sms], form.as_bytes()).await.expect("peer").expect("signed");
    let res = c
        .http
        .post(&ingest_sms)
        .header("X-Twilio-Signature", sig)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("ingest");
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    let (status, v) = c.send(reqwest::Method::POST, &key, &format!("/v1/webhooks/{}/test", ids[2]), None).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = c
        .send(reqwest::Method::PATCH, &key, &format!("/v1/webhooks/{}", ids[3]), Some(json!({"description": "x"})))
        .await;
    assert_eq!(status, 200, "{v}");
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    for id in &ids[..2] {
        // The 410 is logged just after the receiver answered.
        let failed = until(10, || async {
            let logs = c.get(&key, &format!("/v1/webhooks/{id}/logs")).await;
            if logs["data"][0]["status"] == "failed" {
                Ok(logs)
            } else {
                Err(logs)
            }
        })
        .await;
        if let Err(logs) = failed {
            panic!("no failed attempt: {logs}");
        }
        let (status, v) = c.send(reqwest::Method::POST, &key, &format!("/v1/webhooks/{id}/enable"), None).await;
        assert_eq!(status, 200, "{v}");
        let replayed = c.post(&key, &format!("/v1/webhooks/{id}/replay"), json!({"since": since})).await;
        assert!(replayed["replayed"].as_u64() >= Some(1), "{replayed}");
    }
    let (status, v) = c.send(reqwest::Method::DELETE, &key, &format!("/v1/webhooks/{}", ids[2]), None).await;
    assert_eq!(status, 204, "{v}");

    // Jobs: one created, changed and run by Scheduler; one created and cancelled.
    let at = |mins| (chrono::Utc::now() + chrono::Duration::minutes(mins)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let run = c.post(&key, "/v1/schedules", json!({"type": "report.due", "at": at(30)})).await;
    let run_id = run["id"].as_str().expect("id");
    let (status, v) =
        c.send(reqwest::Method::PATCH, &key, &format!("/v1/schedules/{run_id}"), Some(json!({"at": at(22)}))).await;
    assert_eq!(status, 200, "{v}");
    let gone = c.post(&key, "/v1/schedules", json!({"type": "report.due", "at": at(40)})).await;
    let (status, v) = c
        .send(reqwest::Method::DELETE, &key, &format!("/v1/schedules/{}", gone["id"].as_str().expect("id")), None)
        .await;
    assert_eq!(status, 204, "{v}");

    // Fetch-back: verify reads the source's key, records Stripe's copy, keeps an id Stripe
    // does not know as a rejection, and writes a refused key's state on the source.
    let fetching =
        json!({"name": "billing", "provider": "stripe", "secrets": [secret], "fetch_back": {"api_key": stripe_key}});
    let fetching = c.post(&key, "/v1/sources", fetching).await;
    let ingest_fetching = format!("{}/in/{}", stack.url, fetching["id"].as_str().expect("id"));
    let now = chrono::Utc::now().timestamp();
    stripe_api.add(stripe_event("evt_1TourFetched", "charge.failed", "cus_42", now));
    for id in ["evt_1TourFetched", "evt_1TourUnknown"] {
        let body = stripe_event(id, "charge.failed", "cus_42", now).to_string();
        let sig =
            peer(&py, &["stripe", secret, &now.to_string()], body.as_bytes()).await.expect("peer").expect("signed");
        let res =
            c.http.post(&ingest_fetching).header("Stripe-Signature", sig).body(body).send().await.expect("ingest");
        assert_eq!(res.status(), 200);
    }
    let rejections = format!("/v1/sources/{}/rejections", fetching["id"].as_str().expect("id"));
    let unknown = until(30, || async {
        let v = c.get(&key, &rejections).await;
        if v["data"][0]["reason"] == "unknown_event_id" {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await;
    assert!(unknown.is_ok(), "{unknown:?}");
    // Back-fill: api lists Stripe's events and queues the one it missed.
    stripe_api.add(stripe_event("evt_1TourMissed", "charge.failed", "cus_42", now));
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let filled = c
        .post(&key, &format!("/v1/sources/{}/backfill", fetching["id"].as_str().expect("id")), json!({"since": since}))
        .await;
    assert_eq!(filled["found"], 2, "{filled}");
    let missed = until(30, || async {
        let v = c.get(&key, "/v1/events?limit=100").await;
        if v["data"].as_array().is_some_and(|d| d.iter().any(|e| e["data"]["id"] == "evt_1TourMissed")) {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await;
    assert!(missed.is_ok(), "the missed event comes in: {missed:?}");
    stripe_api.rotate_key("rk_test_51StackTourFetch0002");
    let body = stripe_event("evt_1TourRefused", "charge.failed", "cus_42", now).to_string();
    let sig = peer(&py, &["stripe", secret, &now.to_string()], body.as_bytes()).await.expect("peer").expect("signed");
    let res = c.http.post(&ingest_fetching).header("Stripe-Signature", sig).body(body).send().await.expect("ingest");
    assert_eq!(res.status(), 200);
    let source_path = format!("/v1/sources/{}", fetching["id"].as_str().expect("id"));
    let refused = until(30, || async {
        let v = c.get(&key, &source_path).await;
        if v["fetch_back"]["state"]["status"] == "unauthorized" {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await;
    assert!(refused.is_ok(), "{refused:?}");

    // Scheduler's clock passes the long retry, the continuation and the job.
    stack.scheduler_clock.advance(Duration::from_secs(25 * 60));
    let unused = until(60, || async {
        let unused = stack.unused_writes();
        if unused.is_empty() {
            Ok(unused)
        } else {
            Err(unused)
        }
    })
    .await
    .unwrap_or_else(|last| last);
    assert_eq!(unused, Vec::<String>::new(), "every granted write is made");
    assert_eq!(stack.denied(), Vec::<String>::new(), "every AWS request allowed by its role");
}

/// `hookline trigger --source` and `hookline listen` on the deployed shape: a trigger
/// runs the inbound path inside the api function (the source read, the inbox written,
/// then verify as for any request), and a listen session's delivery is kept pending by
/// deliver, pulled through the api signed with the session's secret, and its answer logged.
#[tokio::test]
async fn a_trigger_and_a_listen_session_go_through_the_deployed_functions() {
    let Some(Run { stack: _stack, c, key, receiver: _ }) = start().await else { return };
    let py = python().expect("python");
    let session = c.post(&key, "/v1/listen-sessions", json!({"events": ["stripe.*"]})).await;
    let (sid, secret) = (session["id"].as_str().expect("id"), session["secret"].as_str().expect("secret"));
    let source = c
        .post(&key, "/v1/sources", json!({"name": "stripe", "provider": "stripe", "secrets": ["whsec_trigger_tour"]}))
        .await;
    let trigger = json!({"body": {"id": "evt_trigger_tour", "type": "invoice.paid", "data": {"object": {}}}});
    let path = format!("/v1/sources/{}/trigger", source["id"].as_str().expect("id"));
    let (status, triggered) = c.send(reqwest::Method::POST, &key, &path, Some(trigger)).await;
    assert_eq!((status, triggered["type"].as_str()), (202, Some("stripe.invoice.paid")), "{triggered}");

    let poll = format!("/v1/listen-sessions/{sid}/deliveries?wait=5");
    let pending = until(60, || async {
        let p = c.get(&key, &poll).await;
        if p["data"].as_array().is_some_and(|a| !a.is_empty()) {
            Ok(p)
        } else {
            Err(p)
        }
    })
    .await
    .unwrap_or_else(|p| panic!("nothing pending for the session: {p}"));
    let d = &pending["data"][0];
    assert_eq!(d["event_id"], triggered["event_id"], "{pending}");
    let h = |name: &str| d["headers"][name].as_str().unwrap_or_default().to_owned();
    let body = d["body"].as_str().expect("body");
    let checked = peer(
        &py,
        &["verify-standard", secret, &h("webhook-id"), &h("webhook-timestamp"), &h("webhook-signature")],
        body.as_bytes(),
    )
    .await
    .expect("peer");
    assert!(checked.is_ok(), "the standardwebhooks library refused it: {checked:?}");

    let answer = json!({"event_id": d["event_id"], "response_code": 204, "duration_ms": 7});
    let logged =
        c.post(&key, &format!("/v1/listen-sessions/{sid}/deliveries/{}", d["id"].as_str().expect("id")), answer).await;
    assert_eq!(logged["status"], "delivered", "{logged}");
    let event = c.get(&key, &format!("/v1/events/{}", triggered["event_id"].as_str().expect("id"))).await;
    assert_eq!(event["attempts"][0]["response_code"], 204, "{event}");

    let (status, _) = c.send(reqwest::Method::DELETE, &key, &format!("/v1/listen-sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    let (status, v) = c.send(reqwest::Method::GET, &key, &poll, None).await;
    assert_eq!(status, 404, "a closed session is gone: {v}");
}

/// The console as API Gateway routes it to the api function (`/console` and
/// `/console/{proxy+}`), with the frame-ancestors the template passes on; and a portal
/// session's link and reach through the deployed api.
#[tokio::test]
async fn the_console_and_a_portal_session_are_served_by_the_deployed_api() {
    let params = vec![("ConsoleFrameAncestors".to_owned(), "https://app.example.com".to_owned())];
    let Some(Run { stack: _stack, c, key, receiver: _ }) = start_with(params).await else { return };
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let res = plain.get(format!("{}/console", c.url)).send().await.expect("request");
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/console/index.html");
    let res = plain.get(format!("{}/console/index.html", c.url)).send().await.expect("request");
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let csp = res.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(csp.contains("script-src 'self';") && csp.ends_with("frame-ancestors https://app.example.com"), "{csp}");
    assert!(res.text().await.expect("body").contains(r#"<script type="module" src="./app.js">"#));
    let res = plain.get(format!("{}/console/app.js", c.url)).send().await.expect("request");
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().expect("type").starts_with("text/javascript"));

    let portal = c.post(&key, "/v1/portal-sessions", json!({"expires_in": "30m"})).await;
    let url = portal["url"].as_str().expect("url");
    let token =
        url.strip_prefix(&format!("{}/console/index.html#portal=", c.url)).expect("a link to this stack's console");
    assert!(token.starts_with("hkp_"), "{url}");
    assert_eq!(c.get(token, "/v1/me").await["access"], "portal");
    assert_eq!(c.send(reqwest::Method::GET, token, "/v1/webhooks", None).await.0, 200);
    assert_eq!(c.send(reqwest::Method::GET, token, "/v1/sources", None).await.0, 403);
    let stats = c.get(token, "/v1/stats?bucket=1h").await;
    assert!(stats["series"].is_array() && stats.get("sources").is_none(), "{stats}");
    let path = format!("/v1/portal-sessions/{}", portal["id"].as_str().expect("id"));
    assert_eq!(c.send(reqwest::Method::DELETE, &key, &path, None).await.0, 204);
    assert_eq!(c.send(reqwest::Method::GET, token, "/v1/webhooks", None).await.0, 401);
}
