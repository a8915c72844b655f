//! A fault-injecting HTTP proxy on loopback, between stint and the AWS emulator. At a set rate
//! it answers with throttling, with a 500 before forwarding, with a 500 after forwarding (the
//! change landed, the answer was lost), drops the connection, or answers slowly. Identity
//! Center's asynchronous assignment statuses are played by `status_script`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::Error;
use crate::status_script::{Scripted, StatusScripts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Throttle,
    ErrorBefore,
    LostResponse,
    Drop,
    Slow,
}

pub struct FaultProxy {
    /// Where stint sends its AWS calls instead of the emulator.
    pub url: String,
    /// Faults per thousand requests.
    pub rate_per_mille: Arc<AtomicU32>,
    pub counts: Arc<Counts>,
    /// IN_PROGRESS and FAILED answers for account assignment changes.
    pub statuses: Arc<StatusScripts>,
}

/// What went through the proxy so far.
#[derive(Debug, Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub faults: AtomicU64,
}

struct Inner {
    upstream: String,
    http: reqwest::Client,
    rate_per_mille: Arc<AtomicU32>,
    counts: Arc<Counts>,
    seed: AtomicU64,
    statuses: Arc<StatusScripts>,
}

impl FaultProxy {
    /// Starts the proxy on a loopback port, on the caller's runtime, forwarding to `upstream`.
    pub async fn start(upstream: &str, rate_per_mille: u32) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::listen("binding the fault proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::listen("reading the fault proxy's port"))?;
        let url = format!("http://{addr}");
        let rate = Arc::new(AtomicU32::new(rate_per_mille));
        let counts = Arc::new(Counts::default());
        let statuses = Arc::new(StatusScripts::default());
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            rate_per_mille: rate.clone(),
            counts: counts.clone(),
            seed: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            statuses: statuses.clone(),
        });
        let router = axum::Router::new().fallback(proxy).with_state(inner);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self {
            url,
            rate_per_mille: rate,
            counts,
            statuses,
        })
    }
}

impl Inner {
    /// xorshift: deterministic for a given order of requests.
    fn roll(&self) -> u32 {
        let mut x = self.seed.load(Ordering::SeqCst);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::SeqCst);
        (x % 1000) as u32
    }

    fn fault(&self) -> Option<FaultKind> {
        let roll = self.roll();
        let rate = self.rate_per_mille.load(Ordering::SeqCst);
        if roll >= rate {
            return None;
        }
        // Split the faults evenly over the kinds.
        Some(match roll * 5 / rate.max(1) {
            0 => FaultKind::Throttle,
            1 => FaultKind::ErrorBefore,
            2 => FaultKind::LostResponse,
            3 => FaultKind::Drop,
            _ => FaultKind::Slow,
        })
    }

    async fn forward(
        &self,
        method: axum::http::Method,
        uri: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let mut request = self
            .http
            .request(method, format!("{}{uri}", self.upstream))
            .body(body);
        for (name, value) in headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        let Ok(response) = request.send().await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let status = response.status();
        let mut out = Response::builder().status(status.as_u16());
        for (name, value) in response.headers() {
            if name != "content-length" && name != "transfer-encoding" {
                out = out.header(name, value);
            }
        }
        let body = response.bytes().await.unwrap_or_default();
        out.body(Body::from(body))
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
    }
}

/// An AWS error in the protocol the caller speaks: JSON (identity store) or query/XML (IAM, STS).
fn aws_error(json: bool, status: StatusCode, code: &str, message: &str) -> Response {
    if json {
        let body = serde_json::json!({ "__type": code, "message": message }).to_string();
        (
            status,
            [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amzn-errortype", code),
            ],
            body,
        )
            .into_response()
    } else {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
        );
        (status, [("content-type", "text/xml")], body).into_response()
    }
}

async fn proxy(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    inner.counts.requests.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json = target.is_some();
    match target.map(|t| inner.statuses.route(&t, &body)) {
        None | Some(Scripted::Pass) => {}
        Some(Scripted::Answer(answer)) => return answer,
        Some(Scripted::Rewrite(rewrite)) => {
            let answer = inner
                .forward(parts.method, &uri, &parts.headers, body)
                .await;
            return rewritten(answer, rewrite).await;
        }
    }
    let fault = inner.fault();
    if fault.is_some() {
        inner.counts.faults.fetch_add(1, Ordering::SeqCst);
    }
    match fault {
        None => {
            inner
                .forward(parts.method, &uri, &parts.headers, body)
                .await
        }
        Some(FaultKind::Throttle) => {
            let code = if json {
                "ThrottlingException"
            } else {
                "Throttling"
            };
            aws_error(json, StatusCode::BAD_REQUEST, code, "Rate exceeded")
        }
        Some(FaultKind::ErrorBefore) => aws_error(
            json,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "injected before forwarding",
        ),
        Some(FaultKind::LostResponse) => {
            let _ = inner
                .forward(parts.method, &uri, &parts.headers, body)
                .await;
            aws_error(
                json,
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "injected after forwarding",
            )
        }
        // Dies mid-request: the server drops the connection without an answer.
        Some(FaultKind::Drop) => {
            std::panic::resume_unwind(Box::new("fault proxy: dropped connection"))
        }
        Some(FaultKind::Slow) => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            inner
                .forward(parts.method, &uri, &parts.headers, body)
                .await
        }
    }
}

/// The emulator's JSON answer changed by `rewrite` (an answer that is not JSON passes as is).
async fn rewritten(
    answer: Response,
    rewrite: Box<dyn FnOnce(&serde_json::Value) -> serde_json::Value + Send>,
) -> Response {
    let (parts, body) = answer.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(value) if parts.status.is_success() => Body::from(rewrite(&value).to_string()),
        _ => Body::from(bytes),
    };
    Response::from_parts(parts, body)
}
