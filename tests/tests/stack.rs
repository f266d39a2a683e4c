//! The stack run: the functions' real binaries, started as Lambda starts them, wired as
//! `template.yaml` wires them (API Gateway, SQS event source mappings, Scheduler), over
//! moto. Each flow goes in at the edge and comes out at a receiver on 127.0.0.1.

use hookline_tests::stack::{Stack, StackOptions};
use hookline_tests::{moto, peer, python, verify_with_library, Receiver};
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

async fn start() -> Option<(Stack, Client)> {
    let (sdk, py) = (moto().await?, python()?);
    let opts = StackOptions::for_tests(py).expect("stack options");
    let stack = Stack::start(&sdk, opts).await.expect("the stack starts");
    let client = Client { http: reqwest::Client::new(), url: stack.url.clone() };
    Some((stack, client))
}

async fn org(stack: &Stack, c: &Client) -> String {
    let org = c.post(&stack.operator_key, "/v1/orgs", json!({"name": "Acme", "plan": "pro"})).await;
    org["api_key"].as_str().expect("api key").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stripe_webhook_goes_through_every_function_and_reaches_the_endpoint_signed() {
    let Some((stack, c)) = start().await else { return };
    let py = python().expect("python");
    let key = org(&stack, &c).await;
    let receiver = Receiver::start().await;
    let secret = "whsec_stack_stripe_secret_0001";
    let source =
        c.post(&key, "/v1/sources", json!({"name": "stripe", "provider": "stripe", "secrets": [secret]})).await;
    let hook = c
        .post(&key, "/v1/webhooks", json!({"url": format!("{}/hook", receiver.url), "events": ["stripe.*"]}))
        .await;

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
}
