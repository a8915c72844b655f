//! Figure 17, the web page: time to first byte of each page, signed in, one request at a time,
//! and each page's weight (the HTML's bytes; the stylesheet is one more request, cached for an
//! hour). One `stint serve` (SQLite ledger) whose `[people]` trusts a loopback OpenID provider
//! in this process; alice (who asks) and bob (who approves) come from `demo seed` and `demo
//! people`, and sign in through the page itself (the code flow with PKCE, the session cookie
//! kept). Alice holds one nonprod grant and waits on one prod request, so every page has
//! something to show. TTFB is from sending the request to the response's headers.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use stint_api::{AccessRequestInput, Client, Secret};
use stint_testkit::issuer::{AUDIENCE, TestIssuer, now};

use crate::args::StintSetup;
use crate::catalog;
use crate::client::GROUP_TYPE;
use crate::spawn::Server;
use crate::stats::{mean_ms, percentile, sorted};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

#[derive(clap::Args)]
pub struct WebArgs {
    /// The catalog (seeded with `demo seed` and `demo people`), with `[people]`.
    #[command(flatten)]
    stint: StintSetup,
    /// Requests per page first, not measured.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Requests per page, one at a time.
    #[arg(long, default_value_t = 200)]
    runs: usize,
}

pub async fn run(args: &WebArgs) -> anyhow::Result<()> {
    let setup = &args.stint.setup;
    let issuer = TestIssuer::start()?;
    // Production wants an MFA-backed sign-in to ask; the provider gives one.
    issuer.sign_in_with(&["pwd", "mfa", "hwk"]);
    let (text, _) = catalog::load(&setup.catalog)?;
    let catalog_path = setup.dir.join("web-catalog.toml");
    catalog::write_with_people_issuer(&text, &issuer, &catalog_path)?;
    let (_, catalog) = catalog::load(&catalog_path)?;
    let nonprod = catalog::first_nonprod(&catalog)?;
    let prod = catalog
        .accounts()
        .iter()
        .find(|a| a.environment == stint_core::catalog::Environment::Prod)
        .ok_or_else(|| anyhow!("the catalog has no prod account"))?;

    let server = Server::sqlite(&args.stint, &catalog_path, "web").await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let alice = sign_in(&http, &server.url, ALICE).await?;
    let bob = sign_in(&http, &server.url, BOB).await?;

    // Something to show: a nonprod grant (auto-approved) and a prod request waiting for bob.
    let api = Client::with_http(&server.url, http.clone());
    let token = id_token(&issuer, ALICE);
    let ask = |account: &str, ticket: Option<&str>| AccessRequestInput {
        account: Some(account.to_owned()),
        persona: Some(GROUP_TYPE.to_owned()),
        duration: Some("1h".to_owned()),
        reason: Some("benchmark".to_owned()),
        ticket: ticket.map(str::to_owned),
        break_glass: None,
    };
    let granted = api
        .request_access(&ask(nonprod.name.as_str(), None), Some(&token))
        .await
        .context("alice's nonprod request")?;
    let grant = granted
        .grant
        .ok_or_else(|| anyhow!("the nonprod request started no grant"))?
        .transaction_id;
    let waiting = api
        .request_access(&ask(prod.name.as_str(), Some("INC-1")), Some(&token))
        .await
        .context("alice's prod request")?
        .request
        .id;

    let pages = [
        ("/signin (signed out)", "/signin".to_owned(), None),
        ("/access (alice)", "/access".to_owned(), Some(&alice)),
        ("/approvals (bob)", "/approvals".to_owned(), Some(&bob)),
        (
            "/requests/{id} (bob)",
            format!("/requests/{waiting}"),
            Some(&bob),
        ),
        (
            "/grants (bob: every grant)",
            "/grants".to_owned(),
            Some(&bob),
        ),
        (
            "/transactions/{id} (alice)",
            format!("/transactions/{grant}"),
            Some(&alice),
        ),
    ];
    let mut rows = Vec::new();
    for (label, path, cookie) in &pages {
        let url = format!("{}{path}", server.url);
        rows.push((
            *label,
            measure(&http, &url, cookie.map(String::as_str), args).await?,
        ));
    }
    server.stop().await?;
    print(args, &rows);
    Ok(())
}

/// One page's figures: sorted times to first byte, and its body's size.
struct Measured {
    ttfb: Vec<Duration>,
    bytes: usize,
}

async fn measure(
    http: &reqwest::Client,
    url: &str,
    cookie: Option<&str>,
    args: &WebArgs,
) -> anyhow::Result<Measured> {
    let mut ttfb = Vec::with_capacity(args.runs);
    let mut bytes = 0;
    for i in 0..args.warmup + args.runs {
        let mut request = http.get(url);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        let started = Instant::now();
        let response = request.send().await.with_context(|| format!("GET {url}"))?;
        let first_byte = started.elapsed();
        if !response.status().is_success() {
            bail!("GET {url} answered {}", response.status());
        }
        bytes = response.bytes().await?.len();
        if i >= args.warmup {
            ttfb.push(first_byte);
        }
    }
    Ok(Measured {
        ttfb: sorted(ttfb),
        bytes,
    })
}

fn print(args: &WebArgs, rows: &[(&str, Measured)]) {
    println!(
        "17. web page: time to first byte, signed in, one request at a time ({} runs per page after {} warm-up), and page weight",
        args.runs, args.warmup
    );
    println!(
        "  {:<34} {:>8} {:>8} {:>8} {:>10}",
        "page", "p50 ms", "p99 ms", "mean ms", "HTML bytes"
    );
    for (label, m) in rows {
        println!(
            "  {label:<34} {:>8.2} {:>8.2} {:>8.2} {:>10}",
            percentile(&m.ttfb, 50.0),
            percentile(&m.ttfb, 99.0),
            mean_ms(&m.ttfb),
            m.bytes
        );
    }
    println!(
        "  (every page re-verifies the session's ID token; /transactions also checks the ledger's whole hash chain; /grants and /access ask the identity store)"
    );
}

/// Signs `email` in through the page: `/login`, the provider's `/authorize`, the callback;
/// answers the session cookie (`name=value`).
async fn sign_in(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    let mut login = reqwest::Url::parse(&format!("{base}/login"))?;
    login
        .query_pairs_mut()
        .append_pair("login_hint", email)
        .append_pair("next", "/access");
    let started = http.get(login).send().await?;
    let pending = cookie_pair(&started, "stint_login")?;
    let authorize = location(&started)?;
    let back = location(&http.get(authorize).send().await?)?;
    let done = http.get(back).header(COOKIE, pending).send().await?;
    if done.status() != reqwest::StatusCode::SEE_OTHER {
        bail!(
            "signing {email} in: the callback answered {}",
            done.status()
        );
    }
    cookie_pair(&done, "stint_session")
}

fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            anyhow!(
                "{} answered {} with no Location",
                response.url(),
                response.status()
            )
        })
}

/// The `name=value` of the cookie `name` the response sets.
fn cookie_pair(response: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{} set no {name} cookie", response.url()))
}

/// An ID token for `email` as the provider mints it after a fresh sign-in with MFA.
fn id_token(issuer: &TestIssuer, email: &str) -> Secret {
    let iat = now();
    Secret::new(issuer.mint(&json!({
        "iss": issuer.url, "aud": AUDIENCE, "sub": format!("sub-{email}"), "email": email,
        "iat": iat, "exp": iat + 3600, "auth_time": iat, "amr": ["pwd", "mfa", "hwk"],
    })))
}
