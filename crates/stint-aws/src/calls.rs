//! Counts and times the AWS API calls stint makes, by service and operation, with an SDK
//! interceptor: the figures in `/metrics` and the benchmark are measured, not estimated. It
//! also logs every retry at warn, with the operation, the attempt and why the last one failed,
//! so the log of a slow grant says why it was slow.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// One operation's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallCount {
    /// Operations invoked (one per API call, whatever the retries).
    pub calls: u64,
    /// HTTP attempts, the SDK's retries included: `attempts - calls` is the retries.
    pub attempts: u64,
    /// Calls that ended in an error, after retries.
    pub errors: u64,
    /// Whole-call latency (retries and backoff included): sum and cumulative bucket counts.
    pub latency_seconds_sum: f64,
    pub latency_buckets: [u64; LATENCY_BUCKETS.len()],
}

/// Shared by every client stint builds; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AwsCallCounter {
    counts: Arc<Mutex<BTreeMap<(String, String), CallCount>>>,
}

/// When the current call started, kept in the call's config bag.
#[derive(Debug, Clone)]
struct CallStarted(Instant);

impl Storable for CallStarted {
    type Storer = StoreReplace<Self>;
}

/// The current call's attempt number, and why the last attempt failed.
#[derive(Debug, Clone, Default)]
struct Attempts {
    number: u32,
    last_failure: Option<String>,
}

impl Storable for Attempts {
    type Storer = StoreReplace<Self>;
}

impl AwsCallCounter {
    /// Figures by (service, operation).
    pub fn snapshot(&self) -> BTreeMap<(String, String), CallCount> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// All calls so far.
    pub fn total_calls(&self) -> u64 {
        self.snapshot().values().map(|c| c.calls).sum()
    }

    fn bump(&self, cfg: &ConfigBag, f: impl FnOnce(&mut CallCount)) {
        let Some(meta) = cfg.load::<Metadata>() else {
            return;
        };
        if let Ok(mut counts) = self.counts.lock() {
            f(counts
                .entry((meta.service().to_owned(), meta.name().to_owned()))
                .or_default());
        }
    }
}

fn observe(count: &mut CallCount, took: Duration) {
    let seconds = took.as_secs_f64();
    count.latency_seconds_sum += seconds;
    for (bucket, bound) in count.latency_buckets.iter_mut().zip(LATENCY_BUCKETS) {
        if seconds <= bound {
            *bucket += 1;
        }
    }
}

impl Intercept for AwsCallCounter {
    fn name(&self) -> &'static str {
        "AwsCallCounter"
    }

    // Not `read_before_execution`: the operation's metadata is not in the bag yet there.
    fn read_before_serialization(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(CallStarted(Instant::now()));
        self.bump(cfg, |c| c.calls += 1);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.bump(cfg, |c| c.attempts += 1);
        let mut attempts = cfg.load::<Attempts>().cloned().unwrap_or_default();
        attempts.number += 1;
        if attempts.number > 1
            && let Some(meta) = cfg.load::<Metadata>()
        {
            tracing::warn!(
                service = meta.service(),
                operation = meta.name(),
                attempt = attempts.number,
                error = attempts.last_failure.as_deref().unwrap_or("unknown"),
                "retrying AWS call"
            );
        }
        cfg.interceptor_state().store_put(attempts);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let failure = match (context.response(), context.output_or_error()) {
            (Some(response), _) if response.status().is_success() => None,
            (Some(response), _) => Some(
                error_code(response)
                    .unwrap_or_else(|| format!("HTTP {}", response.status().as_u16())),
            ),
            (None, Some(Err(e))) if e.is_timeout_error() => Some("timeout".to_owned()),
            (None, Some(Err(_))) => Some("no response".to_owned()),
            (None, _) => None,
        };
        let mut attempts = cfg.load::<Attempts>().cloned().unwrap_or_default();
        attempts.last_failure = failure;
        cfg.interceptor_state().store_put(attempts);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let failed = context.output_or_error().is_some_and(|o| o.is_err());
        let took = cfg.load::<CallStarted>().map(|s| s.0.elapsed());
        self.bump(cfg, |c| {
            if failed {
                c.errors += 1;
            }
            if let Some(took) = took {
                observe(c, took);
            }
        });
        Ok(())
    }
}

/// AWS's error code in a failed response: the `x-amzn-ErrorType` header (JSON protocols), the
/// body's `__type` (JSON) or `<Code>` (the query protocols of IAM and STS).
fn error_code(response: &aws_smithy_runtime_api::http::Response) -> Option<String> {
    if let Some(kind) = response.headers().get("x-amzn-errortype") {
        return kind.split(':').next().map(str::to_owned);
    }
    let body = std::str::from_utf8(response.body().bytes()?).ok()?;
    let between = |open: &str, close: &str| {
        let start = body.find(open)? + open.len();
        let end = body[start..].find(close)? + start;
        Some(body[start..end].rsplit('#').next()?.to_owned())
    };
    between("<Code>", "</Code>").or_else(|| between("\"__type\":\"", "\""))
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn response(body: &'static str, header: Option<&str>) -> Response {
        let mut response = Response::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body));
        if let Some(kind) = header {
            response
                .headers_mut()
                .insert("x-amzn-ErrorType", kind.to_owned());
        }
        response
    }

    #[test]
    fn aws_error_codes_are_read_from_every_protocol() {
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code></Error></ErrorResponse>";
        assert_eq!(
            super::error_code(&response(xml, None)).as_deref(),
            Some("Throttling")
        );
        let json = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}"#;
        assert_eq!(
            super::error_code(&response(json, None)).as_deref(),
            Some("ProvisionedThroughputExceededException")
        );
        let header = super::error_code(&response("", Some("ThrottlingException:http://internal")));
        assert_eq!(header.as_deref(), Some("ThrottlingException"));
        assert_eq!(super::error_code(&response("<html>", None)), None);
    }
}
