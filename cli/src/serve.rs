//! The HTTP server of `hookline dev`: the api and ingest router on hyper, with the time
//! limits API Gateway gives the deployed functions. A request's headers must arrive
//! within the read timeout (else the connection is closed) and so must its body (else
//! 408), so slow clients hold a connection, never a handler for ever.

use axum::Router;
use hookline_shared::web::DeadlineBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// More headers than this get 431.
const MAX_HEADERS: usize = 100;
/// A request head (line and headers) larger than this gets 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long `shutdown` waits for requests in hand.
const DRAIN: Duration = Duration::from_secs(30);

/// Serve `app` on `listener` until `stop` turns true, then finish the requests in hand.
pub async fn serve(listener: TcpListener, app: Router, read_timeout: Duration, mut stop: watch::Receiver<bool>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: pause instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |req: http::Request<Incoming>| {
            req.map(|b| axum::body::Body::new(DeadlineBody::new(b, read_timeout)))
        });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still open after {DRAIN:?}; stopping anyway");
    }
}
