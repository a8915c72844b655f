//! Parse, don't validate: every value that crosses into the domain is one of these newtypes,
//! built only by a `parse` that enforces the limits AWS would otherwise enforce later
//! (tag values, role names, SourceIdentity).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{BrokerError, ErrorCode, invalid};

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = BrokerError;
            fn try_from(value: String) -> Result<Self, BrokerError> {
                Self::parse(&value)
            }
        }
    };
}

string_newtype!(
    /// A 12-digit AWS account id.
    AccountId
);
string_newtype!(
    /// A requester's email address, restricted so it is also a valid SourceIdentity and tag value.
    Email
);
string_newtype!(
    /// A git branch (or other deployment context), restricted so it is a valid tag value.
    Branch
);
string_newtype!(
    /// A persona, named by the pipeline contract's `group_type` (e.g. `Product-Deployers`).
    GroupType
);
string_newtype!(
    /// A catalog account name (e.g. `workload-prod`).
    AccountName
);
string_newtype!(
    /// An IAM role name: 1-64 of `[A-Za-z0-9+=,.@_-]`.
    RoleName
);
string_newtype!(
    /// A transaction id: a UUID (v7 when stint makes it, so ids sort by time).
    TransactionId
);

const EMAIL_MAX: usize = 64;
const BRANCH_MAX: usize = 200;

fn all_chars(value: &str, allowed: impl Fn(char) -> bool) -> bool {
    value.chars().all(allowed)
}

/// The characters IAM accepts in role names and in SourceIdentity.
pub(crate) fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// The characters IAM accepts in tag keys and values.
pub(crate) fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c)
}

impl AccountId {
    pub fn parse(value: &str) -> Result<Self, BrokerError> {
        if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value.to_owned()))
        } else {
            Err(invalid(
                ErrorCode::InvalidAccountId,
                format!("account id {value:?} is not 12 digits"),
            ))
        }
    }
}

impl Email {
    /// Accepts `local@domain` with at most 64 characters in all, a local part of
    /// `[A-Za-z0-9._+-]` and a dotted domain of `[A-Za-z0-9-]` labels. That is stricter than
    /// RFC 5322 on purpose: the address becomes the STS SourceIdentity and a tag value.
    pub fn parse(value: &str) -> Result<Self, BrokerError> {
        let fail = |why: &str| {
            Err(invalid(
                ErrorCode::InvalidEmail,
                format!("email {value:?} {why}"),
            ))
        };
        if value.len() > EMAIL_MAX {
            return fail("is longer than 64 characters");
        }
        let Some((local, domain)) = value.split_once('@') else {
            return fail("has no @");
        };
        if local.is_empty()
            || !all_chars(local, |c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        {
            return fail(
                "has an empty local part or characters outside [A-Za-z0-9._+-] before the @",
            );
        }
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && all_chars(label, |c| c.is_ascii_alphanumeric() || c == '-')
        });
        if !labels_ok || !domain.contains('.') {
            return fail("has no valid dotted domain after the @");
        }
        Ok(Self(value.to_ascii_lowercase()))
    }
}

impl Branch {
    /// A git ref name of at most 200 characters made of tag-safe characters, without the
    /// sequences git itself forbids (`..`, `//`, a leading `-` or `/`, a trailing `/` or `.lock`).
    pub fn parse(value: &str) -> Result<Self, BrokerError> {
        let fail = |why: &str| {
            Err(invalid(
                ErrorCode::InvalidBranch,
                format!("branch {value:?} {why}"),
            ))
        };
        if value.is_empty() || value.len() > BRANCH_MAX {
            return fail("must be 1 to 200 characters");
        }
        if !all_chars(value, |c| is_tag_char(c) && c != ' ') {
            return fail("may only contain letters, digits and _ . : / = + - @");
        }
        if value.contains("..")
            || value.contains("//")
            || value.starts_with(['-', '/', '.'])
            || value.ends_with(['/', '.'])
            || value.ends_with(".lock")
        {
            return fail("is not a valid git ref name");
        }
        Ok(Self(value.to_owned()))
    }
}

impl GroupType {
    pub fn parse(value: &str) -> Result<Self, BrokerError> {
        if !value.is_empty()
            && value.len() <= 64
            && all_chars(value, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            Ok(Self(value.to_owned()))
        } else {
            Err(invalid(
                ErrorCode::InvalidGroupType,
                format!("group_type {value:?} must be 1 to 64 of [A-Za-z0-9_-]"),
            ))
        }
    }
}

impl AccountName {
    pub fn parse(value: &str) -> Result<Self, BrokerError> {
        if !value.is_empty()
            && value.len() <= 64
            && all_chars(value, |c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            Ok(Self(value.to_owned()))
        } else {
            Err(invalid(
                ErrorCode::InvalidAccountName,
                format!("account name {value:?} must be 1 to 64 of [A-Za-z0-9._-]"),
            ))
        }
    }
}

impl RoleName {
    pub fn parse(value: &str) -> Result<Self, BrokerError> {
        if !value.is_empty() && value.len() <= 64 && all_chars(value, is_iam_name_char) {
            Ok(Self(value.to_owned()))
        } else {
            Err(invalid(
                ErrorCode::InvalidRoleArn,
                format!("role name {value:?} must be 1 to 64 of [A-Za-z0-9+=,.@_-]"),
            ))
        }
    }

    /// The temporary role for a transaction. It is derived from the id alone so a role can
    /// always be traced to its transaction, and a transaction to its role, even after a crash.
    pub fn for_transaction(prefix: &str, id: &TransactionId) -> Result<Self, BrokerError> {
        Self::parse(&format!("{prefix}-{id}"))
    }
}

impl TransactionId {
    pub fn parse(value: &str) -> Result<Self, BrokerError> {
        match uuid::Uuid::try_parse(value) {
            Ok(uuid) => Ok(Self(uuid.hyphenated().to_string())),
            Err(_) => Err(invalid(
                ErrorCode::InvalidTransactionId,
                format!("transaction id {value:?} is not a UUID"),
            )),
        }
    }

    /// The id of a given UUID (a record whose id is derived, not drawn).
    pub fn from_uuid(uuid: uuid::Uuid) -> Self {
        Self(uuid.hyphenated().to_string())
    }

    /// The id derived from `key` (a JSON value naming the record): everyone who computes it
    /// for the same key gets the same id, so the first write of that record is conditional.
    pub fn derived(key: &serde_json::Value) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(key.to_string());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// A new, time-ordered id. The time comes from the caller's clock.
    pub fn new_at(unix_seconds: u64, nanos: u32) -> Self {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, unix_seconds, nanos);
        Self(uuid::Uuid::new_v7(ts).hyphenated().to_string())
    }
}

/// The ARN of a role in an account, split into what stint checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub account_id: AccountId,
    pub path: String,
    pub name: RoleName,
}

impl RoleArn {
    pub fn parse(value: &str) -> Result<Self, BrokerError> {
        let fail = || {
            invalid(
                ErrorCode::InvalidRoleArn,
                format!("role_arn {value:?} is not arn:aws:iam::<12 digits>:role/<path/>name"),
            )
        };
        let rest = value.strip_prefix("arn:aws:iam::").ok_or_else(fail)?;
        let (account, resource) = rest.split_once(':').ok_or_else(fail)?;
        let account_id = AccountId::parse(account).map_err(|_| fail())?;
        let path_and_name = resource.strip_prefix("role").ok_or_else(fail)?;
        let split = path_and_name.rfind('/').ok_or_else(fail)?;
        let (path, name) = path_and_name.split_at(split + 1);
        if !path.starts_with('/') || path.len() > 512 {
            return Err(fail());
        }
        let name = RoleName::parse(name).map_err(|_| fail())?;
        Ok(Self {
            account_id,
            path: path.to_owned(),
            name,
        })
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:aws:iam::{}:role{}{}",
            self.account_id, self.path, self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(AccountId::parse("123456789012").is_ok());
        for bad in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            " 123456789012",
        ] {
            assert_eq!(
                AccountId::parse(bad).unwrap_err().code,
                ErrorCode::InvalidAccountId
            );
        }
    }

    #[test]
    fn emails_are_lowercased_and_restricted() {
        assert_eq!(
            Email::parse("Alice.Smith+ci@Example.com").unwrap().as_str(),
            "alice.smith+ci@example.com"
        );
        let too_long = format!("{}@example.com", "a".repeat(60));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "al ice@example.com",
            "alice@exa_mple.com",
            "alice@-example.com",
            "a'b@example.com",
            too_long.as_str(),
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().code,
                ErrorCode::InvalidEmail,
                "{bad}"
            );
        }
    }

    #[test]
    fn branches_follow_git_and_tag_rules() {
        for good in [
            "main",
            "feature/JIT-42_x",
            "release/1.2.3",
            "refs/heads/main",
        ] {
            assert!(Branch::parse(good).is_ok(), "{good}");
        }
        let long = "b".repeat(201);
        for bad in [
            "",
            "a..b",
            "-x",
            "/x",
            "x/",
            "x.lock",
            "x y",
            "x;rm",
            "x$y",
            "ü",
            long.as_str(),
        ] {
            assert_eq!(
                Branch::parse(bad).unwrap_err().code,
                ErrorCode::InvalidBranch,
                "{bad}"
            );
        }
    }

    #[test]
    fn role_arns_round_trip() {
        let arn = "arn:aws:iam::222222222222:role/stint/stint-abc";
        let parsed = RoleArn::parse(arn).unwrap();
        assert_eq!(parsed.path, "/stint/");
        assert_eq!(parsed.name.as_str(), "stint-abc");
        assert_eq!(parsed.to_string(), arn);
        for bad in [
            "arn:aws:iam::22222222222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:s3:::bucket",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn transaction_ids_are_canonical_uuids() {
        let id = TransactionId::new_at(1_700_000_000, 0);
        assert_eq!(TransactionId::parse(id.as_str()).unwrap(), id);
        assert_eq!(
            TransactionId::parse(&id.as_str().to_uppercase()).unwrap(),
            id
        );
        assert!(TransactionId::parse("not-a-uuid").is_err());
        let role = RoleName::for_transaction("stint", &id).unwrap();
        assert_eq!(role.as_str().len(), 42);
    }
}
