//! The `hookline` binary as a user runs it: a config directory of its own, its output
//! read back; and a local server for it to send to.

#![allow(dead_code, clippy::unwrap_used)] // each test file uses some of these

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// The binary with a clean environment: `config` as its config directory, no
/// profile or key from the caller's environment.
pub fn hookline(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookline"));
    cmd.env("XDG_CONFIG_HOME", config)
        .env("HOME", config)
        .env_remove("HOOKLINE_URL")
        .env_remove("HOOKLINE_API_KEY")
        .env_remove("HOOKLINE_PROFILE")
        .env_remove("HOOKLINE_CONFIG")
        .stdin(Stdio::null());
    cmd
}

/// Run to the end: (exit code, stdout, stderr).
pub fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let Output { status, stdout, stderr } = hookline(config).args(args).output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

/// Run and expect success: its stdout.
pub fn ok(config: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(config, args);
    assert_eq!(code, 0, "hookline {args:?} failed: {err}\n{out}");
    out
}

/// Run and expect success: its stdout as JSON.
pub fn json(config: &Path, args: &[&str]) -> serde_json::Value {
    let out = ok(config, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("hookline {args:?}: not JSON ({e}): {out}"))
}

/// Run and expect failure: its one line of error.
pub fn fails(config: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(config, args);
    assert_ne!(code, 0, "hookline {args:?} should fail: {out}");
    let err = err.trim().to_owned();
    assert!(err.starts_with("error: ") && !err.contains('\n'), "one line of error, got: {err}");
    err
}

/// A started command reading its stdout and stderr line by line.
pub struct Running {
    pub child: Child,
    pub stdout: std::sync::mpsc::Receiver<String>,
    pub stderr: std::sync::mpsc::Receiver<String>,
}

impl Running {
    pub fn start(config: &Path, args: &[&str]) -> Self {
        let mut child = hookline(config).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let lines = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                use std::io::BufRead as _;
                for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Self { child, stdout, stderr }
    }

    /// The first line of `stream` that `pred` accepts within `secs`.
    pub fn line_where(
        stream: &std::sync::mpsc::Receiver<String>,
        secs: u64,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match stream.recv_timeout(left) {
                Ok(line) if pred(&line) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Ctrl-C, as a terminal sends it; the exit code.
    pub fn interrupt(mut self) -> i32 {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(std::time::Instant::now() < deadline, "did not stop on Ctrl-C");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request a [`LocalServer`] got.
#[derive(Debug, Clone)]
pub struct Got {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A server on 127.0.0.1 that keeps what it gets and answers with the status its path
/// names (`/status/500`), 200 otherwise.
#[derive(Clone)]
pub struct LocalServer {
    pub url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl LocalServer {
    pub async fn start() -> Self {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let app = axum::Router::new().fallback(keep).with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, got }
    }

    pub fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Wait until `n` requests came to `path`.
    pub async fn wait_for(&self, path: &str, n: usize, secs: u64) -> Vec<Got> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let got: Vec<Got> = self.got().into_iter().filter(|g| g.path == path).collect();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn keep(State(got): State<Arc<Mutex<Vec<Got>>>>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let path = uri.path().to_owned();
    let status = path.strip_prefix("/status/").and_then(|s| s.parse().ok()).unwrap_or(200);
    got.lock().unwrap().push(Got { path, headers, body });
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

/// Run the Python peer (`tests/peers/sign.py`) with `args`, `body` on stdin: `Ok` on
/// exit 0. `None` when no Python is configured (outside `make test`).
pub fn peer(args: &[&str], body: &[u8]) -> Option<Result<String, String>> {
    use std::io::Write as _;
    let python = match std::env::var("HOOKLINE_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var("HOOKLINE_REQUIRE_EXTERNAL").as_deref() != Ok("1"),
                "HOOKLINE_PYTHON is required under make test"
            );
            return None;
        }
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/sign.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    Some(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}
