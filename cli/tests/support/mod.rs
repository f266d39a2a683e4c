//! Running the real `hookline` binary from the tests: start it, wait for it, make an org.

#![allow(dead_code, clippy::unwrap_used)] // each test file uses some of these

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `hookline dev` on `port` with `data`, its output discarded.
pub fn start(data: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["dev", "--addr", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("HOOKLINE_OPERATOR_KEY", "op-crash-test")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hookline dev")
}

/// Wait until it answers.
pub async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http.get(format!("{base}/v1/openapi.json")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hookline dev did not start");
}

/// A pro org; its API key.
pub async fn create_org(http: &reqwest::Client, base: &str) -> String {
    let org: Value = http
        .post(format!("{base}/v1/orgs"))
        .bearer_auth("op-crash-test")
        .json(&json!({"name": "crash", "plan": "pro"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    org["api_key"].as_str().unwrap().to_owned()
}

/// A started `hookline dev`, stopped (and its data deleted) when dropped.
pub struct Guard {
    pub child: Child,
    pub _data: tempfile::TempDir,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub mod cli;
