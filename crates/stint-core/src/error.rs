//! The errors a caller of stint can see: a stable code, a human sentence, and the class that
//! decides whether it was the caller's fault (4xx) or an upstream fault (5xx).

use std::fmt;

/// Who is to blame for an error, which decides the HTTP status and the `status` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request is malformed or names something that does not match (400).
    Invalid,
    /// The caller is not allowed to have what it asked for (403).
    Forbidden,
    /// The caller did not prove who it is (401).
    Unauthenticated,
    /// The thing asked about does not exist (404).
    NotFound,
    /// The request conflicts with the transaction's current state (409).
    Conflict,
    /// The request reuses an idempotency key for a different request (422).
    Unprocessable,
    /// The request is too large to be a stint request (413).
    TooLarge,
    /// The request's body is not JSON, by its content type (415).
    UnsupportedMedia,
    /// The path exists but not with this method (405).
    MethodNotAllowed,
    /// AWS failed or refused (502).
    Upstream,
    /// stint itself failed, e.g. its ledger (500).
    Internal,
}

impl ErrorClass {
    /// Whether the caller caused the error (`rejected`) or something else did (`failed`).
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            Self::Invalid
                | Self::Unauthenticated
                | Self::Forbidden
                | Self::NotFound
                | Self::Conflict
                | Self::Unprocessable
                | Self::TooLarge
                | Self::UnsupportedMedia
                | Self::MethodNotAllowed
        )
    }
}

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $class:ident;)*) => {
        /// Stable, machine-readable error codes. Never rename one: callers match on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code,)* }
            }

            pub fn class(self) -> ErrorClass {
                match self { $(Self::$variant => ErrorClass::$class,)* }
            }

            pub fn parse(code: &str) -> Option<Self> {
                match code { $($code => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    MalformedRequest => "malformed_request", Invalid;
    BodyTooLarge => "body_too_large", TooLarge;
    UnsupportedMediaType => "unsupported_media_type", UnsupportedMedia;
    UnknownRoute => "unknown_route", NotFound;
    MethodNotAllowed => "method_not_allowed", MethodNotAllowed;
    MissingField => "missing_field", Invalid;
    InvalidEmail => "invalid_email", Invalid;
    InvalidBranch => "invalid_branch", Invalid;
    InvalidAccountId => "invalid_account_id", Invalid;
    InvalidAccountName => "invalid_account_name", Invalid;
    InvalidGroupType => "invalid_group_type", Invalid;
    InvalidTransactionId => "invalid_transaction_id", Invalid;
    InvalidRoleArn => "invalid_role_arn", Invalid;
    InvalidIdempotencyKey => "invalid_idempotency_key", Invalid;
    InvalidJob => "invalid_job", Invalid;
    IdempotencyKeyReused => "idempotency_key_reused", Unprocessable;
    NotAPipeline => "not_a_pipeline", Invalid;
    PeopleNotEnabled => "people_not_enabled", Invalid;
    NotAPerson => "not_a_person", Forbidden;
    NotEligible => "not_eligible", Forbidden;
    DurationTooLong => "duration_too_long", Invalid;
    InvalidDuration => "invalid_duration", Invalid;
    JustificationRequired => "justification_required", Invalid;
    TicketRequired => "ticket_required", Invalid;
    InvalidTicket => "invalid_ticket", Invalid;
    MfaRequired => "mfa_required", Forbidden;
    ReauthenticationRequired => "reauthentication_required", Unauthenticated;
    SelfApproval => "self_approval", Forbidden;
    BreakGlassNotAllowed => "break_glass_not_allowed", Forbidden;
    NotAnApprover => "not_an_approver", Forbidden;
    AlreadyApproved => "already_approved", Conflict;
    NotPending => "not_pending", Conflict;
    RequestExpired => "request_expired", Conflict;
    NotARequest => "not_a_request", Invalid;
    UnknownAccount => "unknown_account", Invalid;
    AccountIdMismatch => "account_id_mismatch", Invalid;
    UnknownPersona => "unknown_persona", Invalid;
    MissingToken => "missing_token", Unauthenticated;
    MalformedToken => "malformed_token", Unauthenticated;
    UnsupportedAlgorithm => "unsupported_algorithm", Unauthenticated;
    MissingKeyId => "missing_kid", Unauthenticated;
    UnknownKeyId => "unknown_kid", Unauthenticated;
    BadSignature => "bad_signature", Unauthenticated;
    WrongIssuer => "wrong_issuer", Unauthenticated;
    WrongAudience => "wrong_audience", Unauthenticated;
    TokenExpired => "token_expired", Unauthenticated;
    TokenNotYetValid => "token_not_yet_valid", Unauthenticated;
    TokenTooOld => "token_too_old", Unauthenticated;
    TokenReplayed => "token_replayed", Unauthenticated;
    IssuerUnavailable => "issuer_unavailable", Upstream;
    RepositoryNotAllowed => "repository_not_allowed", Forbidden;
    EventNotAllowed => "event_not_allowed", Forbidden;
    UnprotectedRef => "unprotected_ref", Forbidden;
    EnvironmentNotAllowed => "environment_not_allowed", Forbidden;
    WorkflowNotAllowed => "workflow_not_allowed", Forbidden;
    UnknownActor => "unknown_actor", Forbidden;
    IdentityMismatch => "identity_mismatch", Forbidden;
    NotOwner => "not_owner", Forbidden;
    DeliveryNeedsPipeline => "delivery_needs_pipeline", Invalid;
    UnknownUser => "unknown_user", Forbidden;
    NotAMember => "not_a_member", Forbidden;
    UnknownTransaction => "unknown_transaction", NotFound;
    NotAProvisioning => "not_a_provisioning_transaction", Conflict;
    AccountMismatch => "account_mismatch", Invalid;
    RoleMismatch => "role_mismatch", Invalid;
    NotProvisioned => "not_provisioned", Conflict;
    InProgress => "transaction_in_progress", Conflict;
    WriteConflict => "write_conflict", Conflict;
    AwsError => "aws_error", Upstream;
    AssignmentFailed => "assignment_failed", Upstream;
    NoAccessGroup => "no_access_group", Unprocessable;
    GroupExternallyProvisioned => "group_externally_provisioned", Unprocessable;
    LedgerError => "ledger_error", Internal;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a broker operation. `message` is safe to show the caller; `cause` is the
/// internal chain (AWS or SQLite details), logged but kept out of responses.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct BrokerError {
    pub code: ErrorCode,
    pub message: String,
    /// The transaction the error was recorded under, when one was recorded. A string, so
    /// that errors sit below every other module (ids parse into these errors).
    pub transaction_id: Option<String>,
    #[source]
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BrokerError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            transaction_id: None,
            cause: None,
        }
    }

    pub fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    pub fn in_transaction(mut self, id: &impl fmt::Display) -> Self {
        self.transaction_id = Some(id.to_string());
        self
    }

    /// A lost compare-and-set: another writer moved the record first. The normal outcome of
    /// a race, not a ledger failure.
    pub fn is_conflict(&self) -> bool {
        self.code == ErrorCode::WriteConflict
    }

    pub fn class(&self) -> ErrorClass {
        self.code.class()
    }
}

/// An input that failed to parse: which field, and why, in words.
pub(crate) fn invalid(code: ErrorCode, message: impl Into<String>) -> BrokerError {
    BrokerError::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
    }
}
