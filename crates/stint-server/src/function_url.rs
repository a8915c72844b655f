//! Lambda function URLs (payload format 2.0) as HTTP: the event becomes a request to an axum
//! router, and the router's response becomes the function URL's answer. So the serverless
//! deployment serves people's part of the HTTP API with the very handlers `stint serve` uses.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tower::ServiceExt as _;

/// The largest answer stint gives (function URLs allow 6 MB).
const ANSWER_LIMIT: usize = 1024 * 1024;

/// A function URL event, read as far as stint needs it.
pub struct UrlRequest {
    pub method: String,
    pub path: String,
    query: String,
    pub headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl UrlRequest {
    /// Reads the event; `None` when it is not a function URL event.
    pub fn from_event(event: &Value) -> Option<Self> {
        let method = event.pointer("/requestContext/http/method")?.as_str()?;
        let path = event.get("rawPath")?.as_str()?;
        let text = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default();
        let mut headers: Vec<(String, String)> = event
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(cookies) = event.get("cookies").and_then(Value::as_array) {
            let joined: Vec<&str> = cookies.iter().filter_map(Value::as_str).collect();
            headers.push(("cookie".to_owned(), joined.join("; ")));
        }
        let body = match event.get("isBase64Encoded").and_then(Value::as_bool) {
            Some(true) => STANDARD.decode(text("body")).ok()?,
            _ => text("body").as_bytes().to_vec(),
        };
        Some(Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: text("rawQueryString").to_owned(),
            headers,
            body,
        })
    }

    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn into_http(self) -> Option<Request<Body>> {
        let uri = match self.query.as_str() {
            "" => self.path,
            query => format!("{}?{query}", self.path),
        };
        let mut request = Request::builder().method(self.method.as_str()).uri(uri);
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let value = HeaderValue::from_str(value).ok()?;
            request = request.header(name, value);
        }
        request.body(Body::from(self.body)).ok()
    }
}

/// Sends `request` to `router` and answers as a function URL expects.
pub async fn serve(router: Router, request: UrlRequest) -> Value {
    let Some(request) = request.into_http() else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"status": "rejected", "error": {
            "code": "malformed_request", "message": "the request's method, path or headers are not valid HTTP"}}),
        );
    };
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, ANSWER_LIMIT)
        .await
        .unwrap_or_default();
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let Ok(value) = value.to_str() else { continue };
        if name == axum::http::header::SET_COOKIE {
            cookies.push(json!(value));
        } else {
            headers.insert(name.as_str().to_owned(), json!(value));
        }
    }
    let (body, encoded) = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => (text, false),
        Err(_) => (STANDARD.encode(&bytes), true),
    };
    json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "cookies": cookies,
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// A JSON answer that never reached the router.
pub fn answer(status: StatusCode, body: Value) -> Value {
    json!({
        "statusCode": status.as_u16(),
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}
