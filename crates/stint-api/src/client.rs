//! A typed client for the v1 API. Every call takes the caller's bearer token (a GitHub Actions
//! OIDC token; none for a broker without `[oidc]`) and returns the typed answer, or a
//! `ClientError` that tells a refusal (the broker's envelope, decoded) from a broker that could
//! not be reached or answered something else.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    AccessRequestInput, AccessRequestList, AccessRequestResponse, ApproveInput, DenyInput,
    DeprovisionInput, DeprovisionResponse, Eligibility, ErrorBody, GrantList, Health,
    JobDeprovisionResponse, ProvisionInput, ProvisionResponse, Secret, TransactionResponse,
};

/// The header naming the GitHub job (`$GITHUB_JOB`) a request comes from: the OIDC token
/// names the run but not the job, and grants are filed under their job for give-back.
pub const JOB_HEADER: &str = "Stint-Job";
/// A caller's own retry key for a provisioning: sent again, it gets the same grant back.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// A broker's address and the HTTP client that reaches it.
#[derive(Debug, Clone)]
pub struct Client {
    base_url: String,
    http: reqwest::Client,
    /// Sent as `Stint-Job` on every request.
    job: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker answered with its error envelope: a refusal (4xx) or a failure it reports
    /// (5xx), with its stable code.
    #[error("the broker refused ({code}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        code: String,
        message: String,
        /// The transaction the broker recorded the error under, if any.
        transaction_id: Option<String>,
    },
    /// The request did not get an answer: connection, TLS or timeout.
    #[error("calling the broker at {url}: {message}")]
    Transport { url: String, message: String },
    /// An error status without the envelope (a proxy or gateway answered, not stint).
    #[error("calling the broker at {url}: HTTP {}", show_status(*.status))]
    Status { url: String, status: u16 },
    /// A success whose body is not the answer this client expects.
    #[error("calling the broker at {url}: unexpected reply: {message}")]
    Decode { url: String, message: String },
}

/// `404 Not Found`, as reqwest names statuses.
fn show_status(status: u16) -> String {
    reqwest::StatusCode::from_u16(status).map_or_else(|_| status.to_string(), |s| s.to_string())
}

impl Client {
    /// A client for the broker at `base_url` (`https://stint.example.com`, or with a path prefix),
    /// giving up on a call after 30 s.
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self::with_http(base_url, http)
    }

    /// A client that sends through `http` (its own timeouts, proxies, TLS roots).
    pub fn with_http(base_url: impl Into<String>, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.into(),
            http,
            job: None,
        }
    }

    /// Names the GitHub job every request comes from (`Stint-Job`).
    pub fn for_job(mut self, job: impl Into<String>) -> Self {
        self.job = Some(job.into());
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `POST /v1/provision`.
    pub async fn provision(
        &self,
        input: &ProvisionInput,
        token: Option<&Secret>,
    ) -> Result<ProvisionResponse, ClientError> {
        self.post("/v1/provision", Some(input), token).await
    }

    /// `POST /v1/provision` with an `Idempotency-Key`: sent again with the same key and
    /// request, it answers the grant the first call made (with a fresh session).
    pub async fn provision_with_key(
        &self,
        input: &ProvisionInput,
        token: Option<&Secret>,
        idempotency_key: &str,
    ) -> Result<ProvisionResponse, ClientError> {
        let url = self.url("/v1/provision");
        let request = self
            .http
            .post(&url)
            .json(input)
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key);
        self.send(request, url, token).await
    }

    /// `POST /v1/job/deprovision`: ends every grant the calling job (its token's run and
    /// attempt, and `for_job`'s name) holds, without knowing their ids.
    pub async fn deprovision_job(
        &self,
        token: Option<&Secret>,
    ) -> Result<JobDeprovisionResponse, ClientError> {
        self.post("/v1/job/deprovision", None::<&()>, token).await
    }

    /// `POST /v1/deprovision`. Deprovisioning a grant that has ended already succeeds.
    pub async fn deprovision(
        &self,
        input: &DeprovisionInput,
        token: Option<&Secret>,
    ) -> Result<DeprovisionResponse, ClientError> {
        self.post("/v1/deprovision", Some(input), token).await
    }

    /// `GET /v1/transactions/{id}`.
    pub async fn transaction(
        &self,
        id: &str,
        token: Option<&Secret>,
    ) -> Result<TransactionResponse, ClientError> {
        let url = self.url(&format!("/v1/transactions/{}", segment(id)));
        self.send(self.http.get(&url), url, token).await
    }

    /// `POST /v1/transactions/{id}/revoke`: ends the grant now and cuts off its sessions.
    pub async fn revoke(
        &self,
        id: &str,
        token: Option<&Secret>,
    ) -> Result<DeprovisionResponse, ClientError> {
        let path = format!("/v1/transactions/{}/revoke", segment(id));
        self.post(&path, None::<&()>, token).await
    }

    /// `POST /v1/requests`: a person asks for access (the token is their ID token).
    pub async fn request_access(
        &self,
        input: &AccessRequestInput,
        token: Option<&Secret>,
    ) -> Result<AccessRequestResponse, ClientError> {
        self.post("/v1/requests", Some(input), token).await
    }

    /// `GET /v1/requests/{id}`.
    pub async fn access_request(
        &self,
        id: &str,
        token: Option<&Secret>,
    ) -> Result<AccessRequestResponse, ClientError> {
        let url = self.url(&format!("/v1/requests/{}", segment(id)));
        self.send(self.http.get(&url), url, token).await
    }

    /// `POST /v1/requests/{id}/approve`.
    pub async fn approve(
        &self,
        id: &str,
        token: Option<&Secret>,
    ) -> Result<AccessRequestResponse, ClientError> {
        let path = format!("/v1/requests/{}/approve", segment(id));
        self.post(&path, None::<&()>, token).await
    }

    /// `POST /v1/requests/{id}/approve` with a comment.
    pub async fn approve_with(
        &self,
        id: &str,
        input: &ApproveInput,
        token: Option<&Secret>,
    ) -> Result<AccessRequestResponse, ClientError> {
        let path = format!("/v1/requests/{}/approve", segment(id));
        self.post(&path, Some(input), token).await
    }

    /// `POST /v1/requests/{id}/deny`.
    pub async fn deny(
        &self,
        id: &str,
        input: &DenyInput,
        token: Option<&Secret>,
    ) -> Result<AccessRequestResponse, ClientError> {
        let path = format!("/v1/requests/{}/deny", segment(id));
        self.post(&path, Some(input), token).await
    }

    /// `POST /v1/requests/{id}/withdraw`.
    pub async fn withdraw(
        &self,
        id: &str,
        token: Option<&Secret>,
    ) -> Result<AccessRequestResponse, ClientError> {
        let path = format!("/v1/requests/{}/withdraw", segment(id));
        self.post(&path, None::<&()>, token).await
    }

    /// `GET /v1/requests`: the caller's requests and those waiting for their approval.
    pub async fn access_requests(
        &self,
        token: Option<&Secret>,
    ) -> Result<AccessRequestList, ClientError> {
        let url = self.url("/v1/requests");
        self.send(self.http.get(&url), url, token).await
    }

    /// `GET /v1/eligibility`: what the caller may ask for.
    pub async fn eligibility(&self, token: Option<&Secret>) -> Result<Eligibility, ClientError> {
        let url = self.url("/v1/eligibility");
        self.send(self.http.get(&url), url, token).await
    }

    /// `GET /v1/grants`: the caller's own grants.
    pub async fn grants(&self, token: Option<&Secret>) -> Result<GrantList, ClientError> {
        let url = self.url("/v1/grants");
        self.send(self.http.get(&url), url, token).await
    }

    /// `GET /healthz`.
    pub async fn healthz(&self, token: Option<&Secret>) -> Result<Health, ClientError> {
        let url = self.url("/healthz");
        self.send(self.http.get(&url), url, token).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&impl Serialize>,
        token: Option<&Secret>,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let mut request = self.http.post(&url);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request, url, token).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        mut request: reqwest::RequestBuilder,
        url: String,
        token: Option<&Secret>,
    ) -> Result<T, ClientError> {
        if let Some(token) = token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(job) = &self.job {
            request = request.header(JOB_HEADER, job);
        }
        let transport = |e: reqwest::Error| ClientError::Transport {
            url: url.clone(),
            message: e.without_url().to_string(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(match serde_json::from_str::<ErrorBody>(&text) {
                Ok(body) => ClientError::Refused {
                    status: status.as_u16(),
                    code: body.error.code,
                    message: body.error.message,
                    transaction_id: body.transaction_id,
                },
                Err(_) => ClientError::Status {
                    url,
                    status: status.as_u16(),
                },
            });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Decode {
            url,
            message: e.to_string(),
        })
    }
}

/// What a path segment may hold as it is: an id stays readable in logs (`0191d1c4-…`), and
/// anything else (`/`, `.`, `?`) is escaped, so an id cannot reach another route.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::task::JoinHandle;

    use super::*;

    /// A one-shot HTTP server on loopback answering `status` with `body`; yields the request.
    async fn answer_once(status: &'static str, body: &'static str) -> (String, JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                let n = stream.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if n == 0 || request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        (url, served)
    }

    #[tokio::test]
    async fn a_refusal_is_decoded_from_the_envelope() {
        let (url, served) = answer_once(
            "403 Forbidden",
            r#"{"error":{"code":"not_owner","message":"not yours"},"status":"rejected","transaction_id":"t-1"}"#,
        )
        .await;
        let input = ProvisionInput {
            branch: Some("main".into()),
            ..ProvisionInput::default()
        };
        let token = Secret::new("job-token");
        let error = Client::new(format!("{url}/"))
            .provision(&input, Some(&token))
            .await
            .unwrap_err();
        let ClientError::Refused {
            status,
            code,
            message,
            transaction_id,
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(
            (
                *status,
                code.as_str(),
                message.as_str(),
                transaction_id.as_deref()
            ),
            (403, "not_owner", "not yours", Some("t-1"))
        );
        assert_eq!(
            error.to_string(),
            "the broker refused (not_owner): not yours"
        );
        let request = served.await.unwrap();
        assert!(
            request.starts_with("POST /v1/provision HTTP/1.1"),
            "{request}"
        );
        assert!(
            request
                .to_lowercase()
                .contains("authorization: bearer job-token"),
            "{request}"
        );
        assert!(request.ends_with(r#"{"branch":"main"}"#), "{request}");
    }

    #[tokio::test]
    async fn an_error_without_the_envelope_is_a_status() {
        let (url, _served) = answer_once("502 Bad Gateway", "<html>gateway</html>").await;
        let error = Client::new(&url)
            .deprovision(&DeprovisionInput::default(), None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::Status { status: 502, .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("calling the broker at {url}/v1/deprovision: HTTP 502 Bad Gateway")
        );
    }

    #[tokio::test]
    async fn a_success_that_is_not_the_answer_is_a_decoding_error() {
        let (url, served) = answer_once("200 OK", r#"{"state":"ok"}"#).await;
        let error = Client::new(&url).healthz(None).await.unwrap_err();
        assert!(matches!(error, ClientError::Decode { .. }), "{error:?}");
        let request = served.await.unwrap();
        assert!(request.starts_with("GET /healthz HTTP/1.1"), "{request}");
        assert!(
            !request.to_lowercase().contains("authorization"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn an_id_stays_inside_its_path_segment() {
        let (url, served) = answer_once(
            "200 OK",
            r#"{"deprovisioning_transaction_id":"d","status":"deprovisioned","original_transaction_id":"o","already_deprovisioned":false}"#,
        )
        .await;
        let done = Client::new(&url).revoke("../a/b?c", None).await.unwrap();
        assert_eq!(done.original_transaction_id, "o");
        let request = served.await.unwrap();
        assert!(
            request.starts_with("POST /v1/transactions/%2E%2E%2Fa%2Fb%3Fc/revoke HTTP/1.1"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn no_answer_is_a_transport_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = Client::new(format!("http://127.0.0.1:{port}"))
            .transaction("t-1", None)
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::Transport { .. }), "{error:?}");
    }
}
