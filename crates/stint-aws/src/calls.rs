//! Counts the AWS API calls stint makes, by service and operation, with an SDK interceptor: the
//! figures in `/metrics` and the benchmark are counted, not estimated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Calls (one per operation invoked) and attempts (including the SDK's own retries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCount {
    pub calls: u64,
    pub attempts: u64,
}

/// Shared by every client stint builds; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AwsCallCounter {
    counts: Arc<Mutex<BTreeMap<(String, String), CallCount>>>,
}

impl AwsCallCounter {
    /// Counts by (service, operation).
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

impl Intercept for AwsCallCounter {
    fn name(&self) -> &'static str {
        "AwsCallCounter"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
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
        Ok(())
    }
}
