//! `Secret`: a string that prints `[redacted]` in Debug and Display. Credentials and bearer
//! tokens are held in it, so a `{:?}` of an answer or a log line cannot leak one; the value is
//! read only through `expose`, and written as a plain JSON string (the API is where a secret is
//! handed over, on purpose).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
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

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn a_secret_prints_redacted_and_serializes_plain() {
        let secret = Secret::new("very-secret");
        assert_eq!(
            format!("{secret:?} {secret} {secret:#?}"),
            "[redacted] [redacted] [redacted]"
        );
        assert_eq!(serde_json::to_string(&secret).unwrap(), r#""very-secret""#);
        let back: Secret = serde_json::from_str(r#""very-secret""#).unwrap();
        assert_eq!(back.expose(), "very-secret");
    }
}
