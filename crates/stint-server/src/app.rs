//! Wiring: settings in, ready use cases out. `stint serve`, the CLI commands, the Lambda
//! functions and the integration tests all build them here, so they run the same code.

use std::path::PathBuf;
use std::sync::Arc;

use stint_aws::{
    AwsCallCounter, AwsSettings, DynamoLedger, IamRoleProvisioner, IdentityCenterAssigner,
    IdentityStoreDirectory, IssueRetry, StsCredentialIssuer,
};
use stint_core::catalog::{Catalog, CatalogError, OidcSettings};
use stint_core::lint::{Severity, lint_catalog};
use stint_core::ports::{AccountAssigner, Clock, GroupMembers, Ledger, Notifier};
use stint_core::wiring::{Ports, UseCases};

use crate::clock::SystemClock;
use crate::ledger::{SqliteError, SqliteLedger};
use crate::metrics::BrokerMetrics;
use crate::notify::WebhookNotifier;
use crate::ops::Operations;
use crate::tokens::TokenVerifier;

#[derive(Debug, Clone)]
pub struct Settings {
    pub catalog_path: PathBuf,
    /// A SQLite file, or `dynamodb://TABLE` for a DynamoDB table shared by several brokers.
    pub ledger_path: PathBuf,
    pub aws: AwsSettings,
    pub issue_retry: IssueRetry,
}

/// Each variant says its cause in its own sentence and keeps it out of `source`, so that a
/// printed chain (`{:#}`) says it once.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("reading catalog {path}: {error}")]
    ReadCatalog {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("catalog {path}: {error}")]
    Catalog { path: PathBuf, error: CatalogError },
    #[error(
        "catalog {path}: prod persona(s) {} have a critical policy finding; `stint lint catalog` shows it",
        personas.join(", ")
    )]
    Lint {
        path: PathBuf,
        personas: Vec<String>,
    },
    #[error("opening ledger {path}: {error}")]
    Ledger { path: PathBuf, error: SqliteError },
    #[error(transparent)]
    Notifications(#[from] crate::notify::MissingSecret),
}

/// The operations over the wired use cases, the AWS call counter their clients share, and
/// the token verifier when the catalog names an OIDC issuer (then every API request must
/// carry a token).
#[derive(Clone)]
pub struct App {
    pub ops: Operations,
    pub aws_calls: AwsCallCounter,
    pub verifier: Option<Arc<TokenVerifier>>,
    /// People's ID tokens (with `[people]` in the catalog), and the claim naming the user.
    pub people_verifier: Option<(Arc<TokenVerifier>, String)>,
}

/// `dynamodb://TABLE` names a DynamoDB ledger; anything else is a SQLite file.
pub fn dynamodb_table(ledger: &std::path::Path) -> Option<&str> {
    ledger
        .to_str()?
        .strip_prefix("dynamodb://")
        .filter(|t| !t.is_empty())
}

pub fn load_catalog(path: &std::path::Path) -> Result<Catalog, StartupError> {
    let text = std::fs::read_to_string(path).map_err(|error| StartupError::ReadCatalog {
        path: path.to_owned(),
        error,
    })?;
    Catalog::from_toml(&text).map_err(|error| StartupError::Catalog {
        path: path.to_owned(),
        error,
    })
}

impl App {
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As `build`, reading time from `clock` (tests move time instead of waiting).
    pub async fn build_with_clock(
        settings: &Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let catalog = load_catalog(&settings.catalog_path)?;
        // A prod persona whose own policy lint finds something critical (e.g. `Action: *`)
        // is not served at all; `stint lint catalog --refuse-at high` is the stricter CI gate.
        let (_, refused) = lint_catalog(&catalog, Severity::Critical);
        if !refused.is_empty() {
            return Err(StartupError::Lint {
                path: settings.catalog_path.clone(),
                personas: refused,
            });
        }
        let sdk = stint_aws::load_sdk_config(&settings.aws).await;
        let aws_calls = AwsCallCounter::default();
        let metrics = Arc::new(BrokerMetrics::default());
        let ledger: Arc<dyn Ledger> = match dynamodb_table(&settings.ledger_path) {
            Some(table) => Arc::new(DynamoLedger::new(&sdk, aws_calls.clone(), table)),
            None => Arc::new(SqliteLedger::open(&settings.ledger_path).map_err(|error| {
                StartupError::Ledger {
                    path: settings.ledger_path.clone(),
                    error,
                }
            })?),
        };
        let ledger = metrics.count_writes(ledger);
        let catalog = Arc::new(catalog);
        let verifier = catalog.oidc().map(|oidc| {
            Arc::new(TokenVerifier::new(
                oidc.clone(),
                clock.clone(),
                ledger.clone(),
            ))
        });
        let people_verifier = catalog.people().map(|people| {
            let settings = OidcSettings {
                issuer: people.issuer.clone(),
                audience: people.client_id.clone(),
                max_token_age: people.max_token_age,
            };
            let verifier = TokenVerifier::new(settings, clock.clone(), ledger.clone());
            (Arc::new(verifier), people.user_claim.clone())
        });
        let notifier = match catalog.notifications() {
            Some(settings) => Some(Arc::new(
                WebhookNotifier::from_settings(settings, clock.clone())?
                    .with_buttons(catalog.slack().is_some()),
            ) as Arc<dyn Notifier>),
            None => None,
        };
        let cases = UseCases::wire(Ports {
            notifier,
            members: catalog.people().map(|_| {
                Arc::new(IdentityStoreDirectory::new(
                    &sdk,
                    aws_calls.clone(),
                    catalog.identity_store_id.clone(),
                )) as Arc<dyn GroupMembers>
            }),
            assigner: catalog.people().map(|people| {
                Arc::new(IdentityCenterAssigner::new(
                    &sdk,
                    aws_calls.clone(),
                    people.instance_arn.clone(),
                    catalog.identity_store_id.clone(),
                )) as Arc<dyn AccountAssigner>
            }),
            directory: Arc::new(IdentityStoreDirectory::new(
                &sdk,
                aws_calls.clone(),
                catalog.identity_store_id.clone(),
            )),
            roles: Arc::new(IamRoleProvisioner::new(
                &sdk,
                aws_calls.clone(),
                catalog.provisioner_role_name.to_string(),
                catalog.provisioner_external_id.clone(),
            )),
            issuer: Arc::new(StsCredentialIssuer::new(
                &sdk,
                aws_calls.clone(),
                settings.issue_retry,
            )),
            ledger,
            clock,
            catalog,
        });
        Ok(Self {
            ops: Operations { cases, metrics },
            aws_calls,
            verifier,
            people_verifier,
        })
    }
}
