//! Temporary AWS credentials, and the `Secret` wrapper that keeps them out of logs.

use std::fmt;

use time::OffsetDateTime;

/// A secret string. Debug and Display print `[redacted]`; the value is read only through
/// `expose`, so every place that reveals it is visible in a search.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Session credentials for a temporary role. The access key id is an identifier (it appears in
/// CloudTrail) and stays readable; the secret and the token do not.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: OffsetDateTime,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiration", &self.expiration)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let creds = Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI-very-secret"),
            session_token: Secret::new("FwoGZXIvYXdzE-token"),
            expiration: time::OffsetDateTime::UNIX_EPOCH,
        };
        let shown = format!("{creds:?} {} {:#?}", creds.session_token, creds);
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(!shown.contains("FwoGZXIvYXdzE"), "{shown}");
        assert!(shown.contains("ASIAEXAMPLE"));
        assert_eq!(
            creds.secret_access_key.expose(),
            "wJalrXUtnFEMI-very-secret"
        );
    }
}
