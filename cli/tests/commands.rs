//! The `hookline` commands driven as a user drives them: the binary as a subprocess
//! against a running `hookline dev`, its output parsed.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use std::path::Path;
use support::cli::{fails, json, ok, run, LocalServer, Running};
use support::{create_org, free_port, start, wait_ready};

/// `hookline dev` on a free port, an org's key, and a config directory logged in to it.
struct Dev {
    _server: support::Guard,
    base: String,
    key: String,
    http: reqwest::Client,
    config: tempfile::TempDir,
}

async fn dev() -> Dev {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = start(data.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    let key = create_org(&http, &base).await;
    let config = tempfile::tempdir().unwrap();
    ok(config.path(), &["login", "--url", &base, "--api-key", &key]);
    Dev { _server: support::Guard { child, _data: data }, base, key, http, config }
}

impl Dev {
    fn dir(&self) -> &Path {
        self.config.path()
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    /// Wait for an event of `event_type`; all of that type then.
    async fn events_of(&self, event_type: &str, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, page) = self.api(reqwest::Method::GET, &format!("/v1/events?type={event_type}"), None).await;
            let items = page["data"].as_array().cloned().unwrap_or_default();
            if items.len() >= n || tokio::time::Instant::now() > deadline {
                return items;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_keeps_a_private_profile_and_whoami_shows_the_org() {
    let d = dev().await;
    let nowhere = tempfile::tempdir().unwrap();
    assert!(fails(nowhere.path(), &["webhooks", "list"]).contains("no profile"), "no profile: a clear error");
    let wrong = fails(nowhere.path(), &["login", "--url", &d.base, "--api-key", "hk_live_wrong"]);
    assert!(wrong.contains("invalid API key (401)"), "{wrong}");
    assert!(!nowhere.path().join("hookline/config.json").exists(), "a wrong key is not kept");
    assert!(fails(d.dir(), &["--profile", "prod", "whoami"]).contains("no profile named `prod`"));

    let file = d.dir().join("hookline/config.json");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let (_, out, err) = run(d.dir(), &["login", "--profile", "second", "--url", &d.base, "--api-key", &d.key]);
    assert!(!out.contains(&d.key) && !err.contains(&d.key), "the key is never printed back: {out}{err}");

    let me = json(d.dir(), &["whoami", "--json"]);
    assert_eq!(me["url"], d.base.as_str());
    assert!(me["org"]["id"].as_str().unwrap().starts_with("org_"), "{me}");
    let text = ok(d.dir(), &["--profile", "second", "whoami"]);
    assert!(text.contains(me["org"]["id"].as_str().unwrap()) && text.contains(&d.base), "{text}");
    // The environment overrides the profile: a wrong key there is the API's 401.
    let out =
        support::cli::hookline(d.dir()).args(["whoami"]).env("HOOKLINE_API_KEY", "hk_live_nope").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid API key (401)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_are_created_listed_changed_and_deleted_with_tables_json_and_errors() {
    let d = dev().await;
    let receiver = LocalServer::start().await;
    let dir = d.dir();
    // Sources.
    let src = json(
        dir,
        &["sources", "create", "-d", "name=shop", "-d", "provider=shopify", "-d", r#"secrets=["shpss_1"]"#, "--json"],
    );
    let src_id = src["id"].as_str().unwrap();
    let table = ok(dir, &["sources", "list"]);
    assert!(table.starts_with("ID") && table.contains(src_id) && table.contains("shopify"), "{table}");
    assert_eq!(json(dir, &["sources", "update", src_id, "-d", "name=shop-eu", "--json"])["name"], "shop-eu");
    assert_eq!(json(dir, &["sources", "get", src_id, "--json"])["name"], "shop-eu");
    // A request without its signature: refused, and why shows in `sources rejections`.
    let res = d.http.post(format!("{}/in/{src_id}", d.base)).body("{}").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let rejections = ok(dir, &["sources", "rejections", src_id]);
    assert!(rejections.starts_with("TIME") && rejections.contains("missing_signature"), "{rejections}");
    let backfill = fails(dir, &["sources", "backfill", src_id, "-d", "since=2026-01-01T00:00:00Z"]);
    assert!(backfill.contains("(400)"), "only Stripe and GitHub sources back-fill: {backfill}");

    // Webhooks and their actions.
    let url = format!("{}/hooks", receiver.url);
    let hook = json(dir, &["webhooks", "create", "-d", &format!("url={url}"), "-d", r#"events=["order.*"]"#, "--json"]);
    let ep = hook["id"].as_str().unwrap();
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"), "the secret is shown on create");
    assert!(ok(dir, &["webhooks", "list"]).contains(ep));
    let updated = json(dir, &["webhooks", "update", ep, "-d", r#"events=["order.*","invoice.*"]"#, "--json"]);
    assert_eq!(updated["events"], json!(["order.*", "invoice.*"]));
    assert_eq!(json(dir, &["webhooks", "test", ep, "--json"])["status"], "delivered");
    assert_eq!(receiver.wait_for("/hooks", 1, 10).await.len(), 1, "the test reached the receiver");
    let rotated = json(dir, &["webhooks", "rotate-secret", ep, "--json"]);
    assert_ne!(rotated["secret"], hook["secret"]);
    assert_eq!(json(dir, &["webhooks", "pause", ep, "--json"])["status"], "paused");
    assert_eq!(json(dir, &["webhooks", "resume", ep, "--json"])["status"], "active");
    assert_eq!(json(dir, &["webhooks", "enable", ep, "--json"])["status"], "active");
    let replay = json(dir, &["webhooks", "replay", ep, "-d", "since=2020-01-01T00:00:00Z", "--json"]);
    assert_eq!(replay["replayed"], 0, "{replay}");
    let logs = json(dir, &["webhooks", "logs", ep, "--status", "delivered", "--json"]);
    assert_eq!(logs[0]["event_type"], "webhook.test", "{logs}");
    assert!(ok(dir, &["webhooks", "logs", ep]).starts_with("TIME"));

    // Events: publish, a table and JSON, an event's attempts; --all follows the cursor.
    let published = json(dir, &["events", "publish", "order.paid", "-d", "order_id=1042", "-d", "total=54", "--json"]);
    let event_id = published["id"].as_str().unwrap();
    assert_eq!(receiver.wait_for("/hooks", 2, 20).await.len(), 2, "the published event was delivered");
    let shown = ok(dir, &["events", "get", event_id]);
    assert!(shown.contains("attempts:") && shown.contains("delivered"), "{shown}");
    let event = json(dir, &["events", "get", event_id, "--json"]);
    assert_eq!(event["data"], json!({"order_id": 1042, "total": 54}));
    for n in 0..120 {
        let (status, _) =
            d.api(reqwest::Method::POST, "/v1/events", Some(json!({"type": "bulk.made", "data": {"n": n}}))).await;
        assert_eq!(status, 202);
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let all = loop {
        let all = json(dir, &["events", "list", "--type", "bulk.made", "--all", "--json"]);
        if all.as_array().unwrap().len() == 120 || tokio::time::Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(all.as_array().unwrap().len(), 120, "--all follows the cursor past one page");
    let (code, page, more) = run(dir, &["events", "list", "--type", "bulk.made", "--limit", "5", "--json"]);
    assert_eq!((code, serde_json::from_str::<Value>(&page).unwrap().as_array().unwrap().len()), (0, 5));
    assert!(more.contains("--cursor"), "a page says how to go on: {more}");

    // Schedules and recurring jobs.
    let job = json(
        dir,
        &[
            "schedules",
            "create",
            "-d",
            "type=report.due",
            "-d",
            "cron=0 9 ? * MON *",
            "-d",
            "timezone=Europe/Berlin",
            "-d",
            "key=weekly",
            "--json",
        ],
    );
    let job_id = job["id"].as_str().unwrap();
    assert!(ok(dir, &["schedules", "list"]).contains(job_id));
    let upcoming = ok(dir, &["schedules", "upcoming", job_id]);
    assert!(upcoming.starts_with("UTC") && upcoming.lines().count() > 2, "{upcoming}");
    let changed = json(dir, &["schedules", "update", job_id, "-d", "cron=0 10 ? * MON *", "--json"]);
    assert_eq!(changed["cron"], "0 10 ? * MON *", "{changed}");
    assert_eq!(json(dir, &["schedules", "pause", job_id, "--json"])["status"], "paused");
    assert_eq!(json(dir, &["schedules", "resume", job_id, "--json"])["status"], "pending");
    let once = json(dir, &["schedules", "create", "-d", "type=report.due", "-d", "at=2030-01-01T09:00:00Z", "--json"]);
    ok(dir, &["schedules", "delete", once["id"].as_str().unwrap()]);
    ok(dir, &["schedules", "cancel", "--key", "weekly"]);
    assert!(fails(dir, &["schedules", "get", job_id]).contains("not found (404)"));
    let rec = json(
        dir,
        &[
            "recurring",
            "create",
            "digest",
            "user_42",
            "-d",
            "cron=0 9 ? * MON *",
            "-d",
            "timezone=America/New_York",
            "--json",
        ],
    );
    assert_eq!(rec["thing"], "user_42", "{rec}");
    assert!(ok(dir, &["recurring", "list", "digest"]).contains("user_42"));
    let rec = json(
        dir,
        &[
            "recurring",
            "update",
            "digest",
            "user_42",
            "-d",
            "frequency=daily",
            "-d",
            "start=2030-01-07T09:00",
            "--json",
        ],
    );
    assert_eq!(rec["thing"], "user_42", "{rec}");
    assert_eq!(json(dir, &["recurring", "get", "digest", "user_42", "--json"])["id"], rec["id"]);
    ok(dir, &["recurring", "delete", "digest", "user_42"]);
    assert!(fails(dir, &["recurring", "get", "digest", "user_42"]).contains("404"));

    // Deletes, and the API's own message for what it refuses.
    ok(dir, &["webhooks", "delete", ep]);
    assert!(fails(dir, &["webhooks", "get", ep]).contains("webhook not found (404)"));
    ok(dir, &["sources", "delete", src_id]);
    let bad = fails(dir, &["webhooks", "create", "-d", "url=ftp://example.com"]);
    assert!(bad.contains("url:") && bad.contains("(422)"), "{bad}");
    assert!(fails(dir, &["webhooks", "create", "-d", "nothing"]).contains("expected PATH=VALUE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_sends_a_providers_own_event_through_a_source_or_signed_to_a_url() {
    let d = dev().await;
    let dir = d.dir();
    let secret = "whsec_trigger_test_secret";
    let stripe = json(
        dir,
        &[
            "sources",
            "create",
            "-d",
            "name=stripe",
            "-d",
            "provider=stripe",
            "-d",
            &format!(r#"secrets=["{secret}"]"#),
            "--json",
        ],
    );
    let src = stripe["id"].as_str().unwrap();

    let sent = json(
        dir,
        &[
            "trigger",
            "stripe",
            "invoice.payment_failed",
            "--source",
            src,
            "--set",
            "data.object.customer=cus_42",
            "--json",
        ],
    );
    assert_eq!(sent["type"], "stripe.invoice.payment_failed");
    let events = d.events_of("stripe.invoice.payment_failed", 1).await;
    assert_eq!(events.len(), 1, "one event: {events:?}");
    assert_eq!(events[0]["id"], sent["event_id"]);
    assert_eq!(events[0]["data"]["type"], "invoice.payment_failed");
    assert_eq!(events[0]["data"]["data"]["object"]["customer"], "cus_42");
    assert_eq!(events[0]["data"]["data"]["object"]["object"], "invoice");

    // Every provider's fixtures, through sources of theirs: the events they become.
    let gh = json(
        dir,
        &[
            "sources",
            "create",
            "-d",
            "name=github",
            "-d",
            "provider=github",
            "-d",
            r#"secrets=["gh-secret"]"#,
            "--json",
        ],
    );
    let shop = json(
        dir,
        &["sources", "create", "-d", "name=shop", "-d", "provider=shopify", "-d", r#"secrets=["shpss_1"]"#, "--json"],
    );
    let resend = json(
        dir,
        &[
            "sources",
            "create",
            "-d",
            "name=resend",
            "-d",
            "provider=svix",
            "-d",
            r#"secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]"#,
            "--json",
        ],
    );
    for (source, provider, event, event_type) in [
        (&gh, "github", "pull_request.opened", "github.pull_request.opened"),
        (&gh, "github", "push", "github.push"),
        (&shop, "shopify", "orders/create", "shop.orders/create"),
        (&resend, "resend", "email.bounced", "resend.email.bounced"),
    ] {
        let sent = json(dir, &["trigger", provider, event, "--source", source["id"].as_str().unwrap(), "--json"]);
        assert_eq!(sent["type"], event_type, "{provider} {event}: {sent}");
    }
    // Twice the same fixture is two events: each trigger has fresh ids.
    json(dir, &["trigger", "stripe", "invoice.payment_failed", "--source", src, "--json"]);
    assert_eq!(d.events_of("stripe.invoice.payment_failed", 2).await.len(), 2);

    // Signed here, sent to a URL: what arrives passes Stripe's own library.
    let receiver = LocalServer::start().await;
    let url = format!("{}/stripe", receiver.url);
    ok(dir, &["trigger", "stripe", "charge.failed", "--url", &url, "--secret", secret]);
    let got = receiver.wait_for("/stripe", 1, 10).await;
    let header = got[0].headers["stripe-signature"].to_str().unwrap().to_owned();
    if let Some(verdict) = support::cli::peer(&["verify-stripe", secret, &header], &got[0].body) {
        assert!(verdict.is_ok(), "stripe's library refused the signature: {verdict:?}");
    }
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "charge.failed");
    // And to the ingest URL: recorded as Stripe's event; a wrong secret is refused.
    ok(
        dir,
        &[
            "trigger",
            "stripe",
            "checkout.session.completed",
            "--url",
            &format!("{}/in/{src}", d.base),
            "--secret",
            secret,
        ],
    );
    assert_eq!(d.events_of("stripe.checkout.session.completed", 1).await.len(), 1);
    let refused = fails(
        dir,
        &["trigger", "stripe", "charge.failed", "--url", &format!("{}/in/{src}", d.base), "--secret", "whsec_wrong"],
    );
    assert!(refused.contains("answered 401"), "{refused}");

    // Bad input: one line, non-zero.
    assert!(fails(dir, &["trigger", "paypal", "payment.done", "--source", src]).contains("unknown provider `paypal`"));
    assert!(fails(dir, &["trigger", "stripe", "invoice.nope", "--source", src]).contains("unknown stripe event"));
    assert!(fails(dir, &["trigger", "stripe", "charge.failed", "--source", "src_01NOPE"])
        .contains("source not found (404)"));
    let listed = json(dir, &["trigger", "--list", "--json"]);
    assert!(listed.as_array().unwrap().iter().any(|f| f["provider"] == "shopify" && f["event"] == "orders/create"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_forwards_deliveries_to_a_local_server_and_the_attempt_log_shows_its_answer() {
    let d = dev().await;
    let local = LocalServer::start().await;
    let forward_to = format!("{}/webhooks", local.url);
    let listen = Running::start(d.dir(), &["listen", "--forward-to", &forward_to, "--events", "order.*", "--json"]);
    let ready = Running::line_where(&listen.stderr, 20, |l| l.contains("signing secret is")).expect("listen starts");
    let secret = ready.split("signing secret is ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{ready}");

    let (_, published) =
        d.api(reqwest::Method::POST, "/v1/events", Some(json!({"type": "order.paid", "data": {"n": 1}}))).await;
    let event_id = published["id"].as_str().unwrap();
    d.api(reqwest::Method::POST, "/v1/events", Some(json!({"type": "invoice.paid", "data": {}}))).await;
    let line = Running::line_where(&listen.stdout, 20, |l| l.contains(event_id)).expect("a line for the delivery");
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!((line["type"].as_str(), line["status"].as_u64()), (Some("order.paid"), Some(200)), "{line}");

    let got = local.wait_for("/webhooks", 1, 10).await;
    let h = |n: &str| got[0].headers[n].to_str().unwrap().to_owned();
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!((body["id"].as_str(), body["data"].clone()), (Some(event_id), json!({"n": 1})));
    let verify = ["verify-standard", &secret, &h("webhook-id"), &h("webhook-timestamp"), &h("webhook-signature")];
    if let Some(verdict) = support::cli::peer(&verify, &got[0].body) {
        assert!(verdict.is_ok(), "signed with the session's secret: {verdict:?}");
    }
    // The attempt log shows the local server's answer.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let attempt = loop {
        let (_, e) = d.api(reqwest::Method::GET, &format!("/v1/events/{event_id}"), None).await;
        let a = e["attempts"][0].clone();
        if a["status"] == "delivered" || tokio::time::Instant::now() > deadline {
            break a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        (attempt["status"].as_str(), attempt["response_code"].as_u64()),
        (Some("delivered"), Some(200)),
        "{attempt}"
    );
    let session = attempt["endpoint_id"].as_str().unwrap().to_owned();
    assert!(local.got().iter().all(|g| !String::from_utf8_lossy(&g.body).contains("invoice.paid")), "filtered out");
    assert!(!ok(d.dir(), &["webhooks", "list"]).contains(&session), "a session is not one of the org's webhooks");

    // Ctrl-C closes the session.
    assert_eq!(listen.interrupt(), 0);
    let (status, _) =
        d.api(reqwest::Method::GET, &format!("/v1/listen-sessions/{session}/deliveries?wait=0"), None).await;
    assert_eq!(status, 404, "closed");

    // A local server that fails: the log shows its status as a failure.
    let failing = format!("{}/status/500", local.url);
    let listen = Running::start(d.dir(), &["listen", "--forward-to", &failing]);
    Running::line_where(&listen.stderr, 20, |l| l.contains("signing secret is")).expect("listen starts");
    let (_, published) =
        d.api(reqwest::Method::POST, "/v1/events", Some(json!({"type": "order.failed", "data": {}}))).await;
    let event_id = published["id"].as_str().unwrap();
    let line = Running::line_where(&listen.stdout, 20, |l| l.contains(event_id)).expect("a line");
    assert!(line.contains("order.failed") && line.contains("500"), "{line}");
    let (_, e) = d.api(reqwest::Method::GET, &format!("/v1/events/{event_id}"), None).await;
    let a = &e["attempts"][0];
    assert_eq!((a["status"].as_str(), a["response_code"].as_u64()), (Some("failed"), Some(500)), "{e}");
    assert_eq!(listen.interrupt(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_events_and_attempts_as_they_happen() {
    let d = dev().await;
    let receiver = LocalServer::start().await;
    let (_, before) = d.api(reqwest::Method::POST, "/v1/events", Some(json!({"type": "order.old", "data": {}}))).await;
    d.events_of("order.old", 1).await;
    let hook = json!({"url": format!("{}/status/503", receiver.url), "events": ["order.*"]});
    d.api(reqwest::Method::POST, "/v1/webhooks", Some(hook)).await;

    let tail = Running::start(d.dir(), &["tail", "--json"]);
    Running::line_where(&tail.stderr, 20, |l| l.contains("Following")).expect("tail starts");
    let (_, published) =
        d.api(reqwest::Method::POST, "/v1/events", Some(json!({"type": "order.new", "data": {}}))).await;
    let id = published["id"].as_str().unwrap();
    let event = Running::line_where(&tail.stdout, 20, |l| l.contains(r#""kind":"event""#) && l.contains(id));
    let event: Value = serde_json::from_str(&event.expect("the new event")).unwrap();
    assert_eq!(event["event"]["type"], "order.new");
    let attempt = Running::line_where(&tail.stdout, 20, |l| l.contains(r#""kind":"attempt""#) && l.contains(id));
    let attempt: Value = serde_json::from_str(&attempt.expect("its attempt")).unwrap();
    assert_eq!(
        (attempt["attempt"]["response_code"].as_u64(), attempt["attempt"]["status"].as_str()),
        (Some(503), Some("retrying"))
    );
    assert_eq!(tail.interrupt(), 0);

    // --since starts in the past; --type keeps to the types given; --status to attempts.
    let tail = Running::start(d.dir(), &["tail", "--json", "--since", "10m", "--type", "order.old"]);
    let old =
        Running::line_where(&tail.stdout, 20, |l| l.contains(before["id"].as_str().unwrap())).expect("the old event");
    assert!(old.contains("order.old"));
    assert!(Running::line_where(&tail.stdout, 3, |l| l.contains("order.new")).is_none(), "other types are left out");
    assert_eq!(tail.interrupt(), 0);
    let tail = Running::start(d.dir(), &["tail", "--since", "10m", "--status", "retrying"]);
    let line = Running::line_where(&tail.stdout, 20, |l| l.contains(id)).expect("the retrying attempt, as text");
    assert!(line.contains("attempt") && line.contains("retrying") && line.contains("503"), "{line}");
    assert_eq!(tail.interrupt(), 0);
    assert!(fails(d.dir(), &["tail", "--since", "ten minutes"]).contains("--since"));
}

#[test]
fn completions_version_and_help_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef hookline"), ("fish", "complete -c hookline")] {
        let script = ok(dir.path(), &["completions", shell]);
        assert!(script.contains(marker) && script.contains("listen"), "{shell}: {}", &script[..200.min(script.len())]);
    }
    assert_eq!(ok(dir.path(), &["--version"]).trim(), format!("hookline {}", env!("CARGO_PKG_VERSION")));
    for cmd in [&["trigger", "--help"][..], &["webhooks", "logs", "--help"], &["listen", "--help"]] {
        let help = ok(dir.path(), cmd);
        assert!(help.contains("Examples:\n  hookline"), "{cmd:?}: {help}");
    }
    let (code, _, err) = run(dir.path(), &["webhooks", "frobnicate"]);
    assert_eq!(code, 2, "a usage error: {err}");
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let piped = ok(dir.path(), &["trigger", "--list"]);
    assert!(!piped.contains('\x1b'), "no colour into a pipe");
    // `script` gives the command a terminal, as a user's shell does.
    let on_terminal = |no_color: bool| {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &format!("{} trigger --list", env!("CARGO_BIN_EXE_hookline")), "/dev/null"]);
        cmd.env("XDG_CONFIG_HOME", dir.path()).stdin(std::process::Stdio::null());
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let coloured = on_terminal(false);
    assert!(coloured.contains("\x1b[1mPROVIDER"), "a terminal gets colour: {coloured:?}");
    let plain = on_terminal(true);
    assert!(plain.contains("PROVIDER") && !plain.contains('\x1b'), "NO_COLOR: {plain:?}");
}
