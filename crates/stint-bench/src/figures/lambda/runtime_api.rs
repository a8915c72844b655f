//! A minimal stand-in for the AWS Lambda Runtime API on loopback, enough for `lambda_runtime`:
//! `GET /2018-06-01/runtime/invocation/next` hands out the queued events one at a time (with
//! the request id, deadline, function ARN and trace id headers) and, once they are all handed
//! out, holds the request as Lambda does while the sandbox is frozen;
//! `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error` and
//! `POST /2018-06-01/runtime/init/error` are recorded, each with the instant it arrived.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use stint_core::ports::Clock as _;
use stint_server::clock::SystemClock;
use tokio::sync::{mpsc, watch};

/// How long after it is handed out an invocation may run (the `Lambda-Runtime-Deadline-Ms`).
const DEADLINE_MS: i128 = 60_000;

/// What the function sent the Runtime API, and when it arrived.
#[derive(Debug)]
pub enum Report {
    /// An event was handed out by `GET .../invocation/next`.
    Next {
        at: Instant,
        request_id: String,
    },
    Response {
        at: Instant,
        request_id: String,
        body: Value,
    },
    InvocationError {
        request_id: String,
        body: String,
    },
    InitError {
        body: String,
    },
    /// A request this stand-in does not know.
    Unknown {
        what: String,
    },
}

struct Shared {
    events: Mutex<VecDeque<Value>>,
    handed_out: AtomicUsize,
    function_arn: String,
    reports: mpsc::UnboundedSender<Report>,
    closed: watch::Sender<bool>,
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    reports: mpsc::UnboundedReceiver<Report>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves `events`, in order, to one function on a fresh loopback port.
    pub async fn start(events: Vec<Value>, function_arn: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Runtime API stand-in")?;
        let address = listener.local_addr()?.to_string();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(events.into()),
            handed_out: AtomicUsize::new(0),
            function_arn: function_arn.to_owned(),
            reports: reports_tx,
            closed: watch::channel(false).0,
        });
        let router = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .fallback(unknown)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            address,
            reports,
            shared,
            server,
        })
    }

    /// The next report; `None` only if the server is gone.
    pub async fn report(&mut self) -> Option<Report> {
        self.reports.recv().await
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        // Ends the held `next` requests, then the server.
        self.shared.closed.send_replace(true);
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let event = shared.events.lock().ok().and_then(|mut q| q.pop_front());
    let Some(event) = event else {
        // Lambda freezes the sandbox here until the next invocation; hold until we stop.
        let mut closed = shared.closed.subscribe();
        let _ = closed.wait_for(|closed| *closed).await;
        return StatusCode::GONE.into_response();
    };
    let n = shared.handed_out.fetch_add(1, Ordering::SeqCst);
    let request_id = format!("{}-{n}", uuid::Uuid::new_v4());
    let now_ms = SystemClock.now().unix_timestamp_nanos() / 1_000_000;
    let headers = [
        ("Lambda-Runtime-Aws-Request-Id", request_id.clone()),
        (
            "Lambda-Runtime-Deadline-Ms",
            (now_ms + DEADLINE_MS).to_string(),
        ),
        (
            "Lambda-Runtime-Invoked-Function-Arn",
            shared.function_arn.clone(),
        ),
        (
            "Lambda-Runtime-Trace-Id",
            format!("Root=1-{:08x}-{:024x};Sampled=0", now_ms / 1000, n),
        ),
    ];
    let _ = shared.reports.send(Report::Next {
        at: Instant::now(),
        request_id,
    });
    (headers, axum::Json(event)).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let _ = shared.reports.send(Report::Response {
        at,
        request_id,
        body,
    });
    accepted()
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let _ = shared.reports.send(Report::InvocationError {
        request_id,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    accepted()
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let _ = shared.reports.send(Report::InitError {
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    accepted()
}

async fn unknown(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    let _ = shared.reports.send(Report::Unknown {
        what: format!("{method} {uri}"),
    });
    StatusCode::NOT_FOUND.into_response()
}
