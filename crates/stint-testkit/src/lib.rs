//! Test support for stint, against the AWS emulator (moto) and loopback only, shared by the
//! integration tests of `stint-server`, its demo (`examples/demo.rs`) and the benchmark
//! (`stint-bench`), one copy each:
//!
//! - `seed`: puts the world stint expects into the emulator (users, groups, provisioner roles).
//! - `identity_center`: permission sets and account assignments in the emulator.
//! - `fault_proxy`: an HTTP proxy between stint and the emulator that injects AWS faults,
//!   and (`status_script`) plays Identity Center's IN_PROGRESS and FAILED statuses.
//! - `issuer`: a GitHub Actions OIDC issuer on loopback that mints tokens (and forgeries), and
//!   the organisation's OpenID provider for people (authorization code with PKCE).
//! - `clock`: the wall clock plus an offset a test moves forward.
//!
//! Nothing here is for production: it trusts fixture keys and talks to an emulator.

// Test support only: the panics left are on fixtures that cannot fail (the checked-in keys
// sign any claims); everything that can fail at run time returns an `Error`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod clock;
pub mod fault_proxy;
pub mod identity_center;
pub mod issuer;
pub mod seed;
pub mod status_script;

/// What test support can fail at. Callers do not choose between these: the variant says where
/// to look (the loopback server, the emulator, the fixtures).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding a loopback port, or starting a server's thread.
    #[error("{what}")]
    Listen {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A call to the emulator failed, or answered without what seeding needs.
    #[error("{what}")]
    Emulator {
        what: String,
        #[source]
        source: BoxError,
    },
    /// A checked-in key or JWK that does not load.
    #[error("the fixture {what}")]
    Fixture {
        what: &'static str,
        #[source]
        source: BoxError,
    },
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Error {
    fn listen(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Listen { what, source }
    }

    fn emulator<E>(what: impl Into<String>) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |source| Self::Emulator {
            what: what.into(),
            source: Box::new(source),
        }
    }

    fn fixture<E>(what: &'static str) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |source| Self::Fixture {
            what,
            source: Box::new(source),
        }
    }
}

/// A loopback port nobody listens on now (the kernel's choice, not a guess in its ephemeral
/// range), for a server the caller starts, or restarts, on one address.
pub fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(Error::listen("binding a loopback port"))?;
    let addr = listener
        .local_addr()
        .map_err(Error::listen("reading a bound port"))?;
    Ok(addr.port())
}
