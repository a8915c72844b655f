//! The people commands of `stint`, a client of a broker over HTTP: `login` signs the person in
//! at the organisation's OpenID provider (the authorization-code flow with PKCE and a loopback
//! redirect, RFC 8252) and keeps the ID token under `$STINT_HOME`; `request`, `approve`, `deny`,
//! `withdraw` and `show` send it to the broker with `stint_api::Client` and print its answer as
//! JSON.
//!
//! Exit codes: 0 on success; 1 when the broker refuses (`error: <code>: <message>` on stderr),
//! or when `request --wait` ends with anything but an approval; 2 for everything else (no
//! token, a broker out of reach, a failed sign-in), through `main`'s `stint: …`.
//! The ID token is never printed: it is a bearer credential for the person.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use axum::extract::{Query, State};
use axum::routing::get;
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};
use stint_api::{
    AccessRequestInput, AccessRequestResponse, ApproveInput, Client, ClientError, DenyInput, Secret,
};
use stint_server::oidc_client::{Authorization, exchange, random_token};
use tokio::sync::oneshot;

/// The file under `$STINT_HOME` that holds the ID token `stint login` got.
const TOKEN_FILE: &str = "id-token";
/// The path of the loopback redirect.
const CALLBACK: &str = "/callback";

#[derive(Subcommand)]
pub enum PeopleCommand {
    /// Sign in at the organisation's OpenID provider (in a browser) and keep the ID token for
    /// the commands below, under $STINT_HOME (default ~/.config/stint).
    Login(LoginArgs),
    /// Ask a broker for access to a persona in an account.
    Request(RequestArgs),
    /// Approve another person's request.
    Approve(ApproveArgs),
    /// Deny another person's request.
    Deny(DenyArgs),
    /// Withdraw your own request.
    Withdraw(IdArgs),
    /// Show a request and the grant it started.
    Show(IdArgs),
    /// List your requests and those waiting for your approval.
    Requests(BrokerOnly),
    /// List your grants.
    Grants(BrokerOnly),
    /// Write AWS CLI profiles (through IAM Identity Center, no long-lived keys) for every
    /// account and persona you may ask for; each works while a grant of yours holds it.
    Profiles(ProfilesArgs),
}

#[derive(Args)]
pub struct ProfilesArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// The AWS CLI config file to update (default: $AWS_CONFIG_FILE, else ~/.aws/config).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The profiles' default region (default: Identity Center's).
    #[arg(long)]
    region: Option<String>,
    /// Print the profiles instead of writing them.
    #[arg(long)]
    print: bool,
}

/// A command that needs only the broker and the token.
#[derive(Args)]
pub struct BrokerOnly {
    #[command(flatten)]
    broker: BrokerArgs,
}

#[derive(Args)]
pub struct LoginArgs {
    /// The OpenID provider's issuer URL (its discovery document is under it).
    #[arg(long, env = "STINT_ISSUER")]
    issuer: String,
    /// The client id stint is registered under at the provider (the broker's audience).
    #[arg(long, env = "STINT_CLIENT_ID")]
    client_id: String,
    /// Who signs in, passed to the provider as `login_hint`.
    #[arg(long)]
    login_hint: Option<String>,
    /// How long to wait for the browser to come back.
    #[arg(long, default_value = "5m", value_parser = crate::parse_span)]
    timeout: Duration,
}

/// Where the broker is and which token to send it.
#[derive(Args)]
pub struct BrokerArgs {
    /// The broker's URL.
    #[arg(long, env = "STINT_URL")]
    broker: String,
    /// The ID token to send (default: the one `stint login` kept in $STINT_HOME/id-token).
    #[arg(long, env = "STINT_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct RequestArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// The account's name or id.
    #[arg(long)]
    account: String,
    /// The persona (e.g. Product-Deployers).
    #[arg(long)]
    persona: String,
    /// How long the access should last: 2h, 90m, 1h30m.
    #[arg(long = "for", value_name = "DURATION")]
    duration: String,
    /// Why (required where the catalog asks for a justification).
    #[arg(long)]
    reason: Option<String>,
    /// The ticket the work is for (e.g. INC-1234).
    #[arg(long)]
    ticket: Option<String>,
    /// Break-glass: activate at once without approval, where the persona allows it; every
    /// channel is told and the request is flagged for review.
    #[arg(long)]
    break_glass: bool,
    /// Wait until the request is answered, then print it; exits 1 unless it was approved.
    #[arg(long)]
    wait: bool,
    /// How long `--wait` waits.
    #[arg(long, default_value = "30m", value_parser = crate::parse_span)]
    wait_timeout: Duration,
    /// How often `--wait` asks the broker.
    #[arg(long, default_value = "5s", value_parser = crate::parse_span)]
    poll_interval: Duration,
}

#[derive(Args)]
pub struct IdArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// The request's id.
    id: String,
}

#[derive(Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// The request's id.
    id: String,
    /// A comment, for the requester and the audit trail.
    #[arg(long)]
    comment: Option<String>,
}

#[derive(Args)]
pub struct DenyArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// The request's id.
    id: String,
    /// Why, for the requester and the audit trail.
    #[arg(long)]
    reason: Option<String>,
}

pub async fn run(command: PeopleCommand) -> anyhow::Result<ExitCode> {
    match command {
        PeopleCommand::Login(args) => login(args).await,
        PeopleCommand::Request(args) => request(args).await,
        PeopleCommand::Approve(ApproveArgs {
            broker,
            id,
            comment,
        }) => {
            let (client, token) = broker.connect()?;
            let input = ApproveInput { comment };
            answer(client.approve_with(&id, &input, Some(&token)).await)
        }
        PeopleCommand::Deny(DenyArgs { broker, id, reason }) => {
            let (client, token) = broker.connect()?;
            let input = DenyInput { reason };
            answer(client.deny(&id, &input, Some(&token)).await)
        }
        PeopleCommand::Withdraw(IdArgs { broker, id }) => {
            let (client, token) = broker.connect()?;
            answer(client.withdraw(&id, Some(&token)).await)
        }
        PeopleCommand::Show(IdArgs { broker, id }) => {
            let (client, token) = broker.connect()?;
            answer(client.access_request(&id, Some(&token)).await)
        }
        PeopleCommand::Requests(BrokerOnly { broker }) => {
            let (client, token) = broker.connect()?;
            answer(client.access_requests(Some(&token)).await)
        }
        PeopleCommand::Grants(BrokerOnly { broker }) => {
            let (client, token) = broker.connect()?;
            answer(client.grants(Some(&token)).await)
        }
        PeopleCommand::Profiles(args) => profiles(args).await,
    }
}

impl BrokerArgs {
    /// A client for the broker and the token to send it.
    fn connect(&self) -> anyhow::Result<(Client, Secret)> {
        let path = match &self.token_file {
            Some(path) => path.clone(),
            None => home()?.join(TOKEN_FILE),
        };
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading the ID token at {}: sign in with `stint login` first",
                path.display()
            )
        })?;
        let token = text.trim();
        if token.is_empty() {
            bail!(
                "{} holds no ID token: sign in with `stint login`",
                path.display()
            );
        }
        Ok((Client::new(&self.broker), Secret::new(token)))
    }
}

/// `$STINT_HOME`, else `~/.config/stint`.
fn home() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("STINT_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let user = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| anyhow!("neither STINT_HOME nor HOME is set"))?;
    Ok(PathBuf::from(user).join(".config").join("stint"))
}

/// Prints the broker's answer as JSON, or its refusal as `error: <code>: <message>` (exit 1);
/// any other failure is the caller's error (exit 2).
fn answer(result: Result<impl serde::Serialize, ClientError>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(answer) => {
            print_json(&answer)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Refused { code, message, .. }) => Ok(refused(&code, &message)),
        Err(other) => Err(other.into()),
    }
}

fn refused(code: &str, message: &str) -> ExitCode {
    eprintln!("error: {code}: {message}");
    ExitCode::from(1)
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("writing the answer as JSON")?;
    println!("{text}");
    Ok(())
}

async fn request(args: RequestArgs) -> anyhow::Result<ExitCode> {
    let (client, token) = args.broker.connect()?;
    let input = AccessRequestInput {
        account: Some(args.account),
        persona: Some(args.persona),
        duration: Some(args.duration),
        reason: args.reason,
        ticket: args.ticket,
        break_glass: args.break_glass.then_some(true),
    };
    let asked = match client.request_access(&input, Some(&token)).await {
        Ok(asked) => asked,
        other => return answer(other),
    };
    if !args.wait || asked.request.state != "requested" {
        return answer(Ok(asked));
    }
    let id = asked.request.id.clone();
    eprintln!(
        "request {id} is waiting for approval (asking every {}s)",
        args.poll_interval.as_secs().max(1)
    );
    let poll = async {
        loop {
            tokio::time::sleep(args.poll_interval).await;
            let read = client.access_request(&id, Some(&token)).await?;
            if read.request.state != "requested" {
                return Ok::<_, ClientError>(read);
            }
        }
    };
    let read = match tokio::time::timeout(args.wait_timeout, poll).await {
        Err(_) => {
            print_json(&asked)?;
            let waited = args.wait_timeout.as_secs();
            return Ok(refused(
                "wait_timeout",
                &format!("request {id} is still unanswered after {waited}s"),
            ));
        }
        Ok(Err(error)) => return answer(Err::<AccessRequestResponse, _>(error)),
        Ok(Ok(read)) => read,
    };
    print_json(&read)?;
    let state = read.request.state.as_str();
    Ok(if state == "approved" {
        ExitCode::SUCCESS
    } else {
        refused(state, &format!("request {id} was {state}"))
    })
}

/// The provider's discovery document, as far as signing in reads it.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

async fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;
    let issuer = args.issuer.trim_end_matches('/');
    let discovery_url = format!("{issuer}/.well-known/openid-configuration");
    let discovery: Discovery = fetch_json(http.get(&discovery_url), &discovery_url).await?;
    if discovery.issuer.trim_end_matches('/') != issuer {
        bail!(
            "the provider at {issuer} names itself {}: not the issuer asked for",
            discovery.issuer
        );
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the loopback redirect listener")?;
    let port = listener
        .local_addr()
        .context("reading the redirect listener's port")?
        .port();
    let sign_in = Authorization::new(format!("http://127.0.0.1:{port}{CALLBACK}"));
    let hint: Vec<(&str, &str)> = args
        .login_hint
        .iter()
        .map(|hint| ("login_hint", hint.as_str()))
        .collect();
    let endpoint = &discovery.authorization_endpoint;
    let url = sign_in
        .url(endpoint, &args.client_id, "openid email", &hint)
        .with_context(|| format!("the provider's authorization_endpoint {endpoint:?}"))?;
    eprintln!("To sign in, open this URL in a browser:\n\n    {url}\n");

    let redirect = receive_redirect(listener, args.timeout).await?;
    let code = check_redirect(&redirect, &sign_in)?;
    let id_token = exchange(
        &http,
        &discovery.token_endpoint,
        &args.client_id,
        None,
        &sign_in,
        &code,
    )
    .await?;
    let claims = payload(&id_token)?;
    check_id_token(&claims, &discovery.issuer, &args.client_id, &sign_in.nonce)?;

    let path = home()?.join(TOKEN_FILE);
    save_private(&path, &id_token)?;
    let expires_at = claims["exp"]
        .as_i64()
        .and_then(|exp| time::OffsetDateTime::from_unix_timestamp(exp).ok())
        .and_then(|exp| {
            exp.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    print_json(&json!({
        "signed_in": claims.get("email").or_else(|| claims.get("sub")),
        "amr": claims.get("amr"),
        "expires_at": expires_at,
        "token_file": path.display().to_string(),
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// Serves the loopback redirect until the first request to it (or `timeout`), and answers
/// its query parameters.
async fn receive_redirect(
    listener: tokio::net::TcpListener,
    timeout: Duration,
) -> anyhow::Result<HashMap<String, String>> {
    let (received, receive) = oneshot::channel();
    let slot = Arc::new(Mutex::new(Some(received)));
    let router = axum::Router::new()
        .route(CALLBACK, get(callback))
        .with_state(slot);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let outcome = tokio::time::timeout(timeout, receive).await;
    let _ = stop.send(());
    // Lets the browser's page go out before the sign-in goes on (and the process ends).
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    match outcome {
        Ok(Ok(params)) => Ok(params),
        Ok(Err(_)) => bail!("the redirect listener stopped before the browser came back"),
        Err(_) => bail!(
            "the browser did not come back within {}s: sign in again",
            timeout.as_secs()
        ),
    }
}

type Slot = Arc<Mutex<Option<oneshot::Sender<HashMap<String, String>>>>>;

/// The first redirect is the one: it goes to `login`, which checks it.
async fn callback(
    State(slot): State<Slot>,
    Query(params): Query<HashMap<String, String>>,
) -> &'static str {
    let sender = slot.lock().ok().and_then(|mut s| s.take());
    match sender {
        Some(sender) => {
            let _ = sender.send(params);
            "stint got the sign-in: return to the terminal (you may close this tab)."
        }
        None => "stint has had its sign-in already.",
    }
}

/// The code of a redirect for this sign-in: the same `state` (else it is a stale or forged
/// redirect, and its code is not exchanged), and no error.
fn check_redirect(
    params: &HashMap<String, String>,
    sign_in: &Authorization,
) -> anyhow::Result<String> {
    if params.get("state") != Some(&sign_in.state) {
        bail!("the redirect's state does not match this sign-in's: refused (stale or forged)");
    }
    if let Some(error) = params.get("error") {
        let description = params
            .get("error_description")
            .map_or(String::new(), |d| format!(": {d}"));
        bail!("the provider refused the sign-in: {error}{description}");
    }
    params
        .get("code")
        .filter(|c| !c.is_empty())
        .cloned()
        .ok_or_else(|| anyhow!("the redirect carries no code"))
}

/// The claims of a JWT, unverified: the broker checks the signature; the sign-in only checks
/// that the token is the answer to its own request.
fn payload(token: &str) -> anyhow::Result<Value> {
    stint_server::tokens::unverified_claims(token)
        .ok_or_else(|| anyhow!("the provider's id_token is not a JWT with JSON claims"))
}

/// The ID token answers this sign-in: its nonce, from this issuer, for this client.
fn check_id_token(
    claims: &Value,
    issuer: &str,
    client_id: &str,
    nonce: &str,
) -> anyhow::Result<()> {
    if claims["nonce"].as_str() != Some(nonce) {
        bail!("the ID token's nonce is not this sign-in's: refused (a replayed token?)");
    }
    if claims["iss"].as_str() != Some(issuer) {
        bail!("the ID token is from {}, not {issuer}", claims["iss"]);
    }
    let for_us = match &claims["aud"] {
        Value::String(aud) => aud == client_id,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !for_us {
        bail!("the ID token is not for client {client_id}");
    }
    Ok(())
}

/// Writes `text` to `path` readable by its owner only (0600, in a 0700 directory), by a rename
/// so that a reader never sees half a token.
fn save_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("{} has no directory", path.display()))?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let temp = dir.join(format!(".{TOKEN_FILE}.{}", random_token()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    let saved = written.and_then(|()| std::fs::rename(&temp, path));
    if saved.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    saved.with_context(|| format!("writing the ID token to {}", path.display()))
}

/// GETs (or sends) `request` and reads its JSON answer.
async fn fetch_json<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    url: &str,
) -> anyhow::Result<T> {
    let response = request
        .send()
        .await
        .with_context(|| format!("calling {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("{url} answered HTTP {status}");
    }
    response
        .json()
        .await
        .with_context(|| format!("reading {url}"))
}

/// The lines that fence the profiles `stint profiles` writes: everything between them is
/// stint's and is replaced on the next run; everything else in the file is left as it is.
const PROFILES_BEGIN: &str =
    "# >>> stint profiles (written by `stint profiles`; edits here are replaced) >>>";
const PROFILES_END: &str = "# <<< stint profiles <<<";

async fn profiles(args: ProfilesArgs) -> anyhow::Result<ExitCode> {
    let (client, token) = args.broker.connect()?;
    let eligibility = match client.eligibility(Some(&token)).await {
        Ok(eligibility) => eligibility,
        Err(ClientError::Refused { code, message, .. }) => return Ok(refused(&code, &message)),
        Err(other) => return Err(other.into()),
    };
    let block = profiles_block(&eligibility, args.region.as_deref())?;
    if args.print {
        print!("{block}");
        return Ok(ExitCode::SUCCESS);
    }
    let path = match args.config {
        Some(path) => path,
        None => aws_config_path()?,
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let updated = with_block(&existing, &block);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let temporary = path.with_extension("stint-tmp");
    std::fs::write(&temporary, updated)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))?;
    print_json(&serde_json::json!({
        "config": path.display().to_string(),
        "profiles": eligibility.eligible.iter().map(profile_name).collect::<Vec<_>>(),
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// `$AWS_CONFIG_FILE`, else `~/.aws/config`, as the AWS CLI reads it.
fn aws_config_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("AWS_CONFIG_FILE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| anyhow!("neither AWS_CONFIG_FILE nor HOME is set; pass --config"))?;
    Ok(PathBuf::from(home).join(".aws").join("config"))
}

/// `account-name.Persona`.
fn profile_name(eligible: &stint_api::EligibleView) -> String {
    format!("{}.{}", eligible.account_name, eligible.persona)
}

/// The sso-session and one profile per account and persona, fenced.
fn profiles_block(
    eligibility: &stint_api::Eligibility,
    region: Option<&str>,
) -> anyhow::Result<String> {
    let (Some(portal), Some(sso_region)) = (&eligibility.portal_url, &eligibility.sso_region)
    else {
        bail!(
            "the broker's catalog names no access portal ([people] portal_url and sso_region): ask the team that runs stint to add them"
        );
    };
    let region = region.unwrap_or(sso_region);
    let mut block = format!(
        "{PROFILES_BEGIN}\n[sso-session stint]\nsso_start_url = {portal}\nsso_region = {sso_region}\nsso_registration_scopes = sso:account:access\n"
    );
    for eligible in &eligibility.eligible {
        block.push_str(&format!(
            "\n# {} ({}): ask first with `stint request --account {} --persona {}`\n[profile {}]\nsso_session = stint\nsso_account_id = {}\nsso_role_name = {}\nregion = {region}\n",
            eligible.account_name,
            eligible.environment,
            eligible.account_name,
            eligible.persona,
            profile_name(eligible),
            eligible.account_id,
            eligible.permission_set,
        ));
    }
    block.push_str(PROFILES_END);
    block.push('\n');
    Ok(block)
}

/// `existing` with stint's fenced block replaced by `block` (or added at the end).
fn with_block(existing: &str, block: &str) -> String {
    if let (Some(start), Some(end)) = (existing.find(PROFILES_BEGIN), existing.find(PROFILES_END))
        && start < end
    {
        let after = &existing[end + PROFILES_END.len()..];
        let after = after.strip_prefix('\n').unwrap_or(after);
        return format!("{}{block}{after}", &existing[..start]);
    }
    let mut out = existing.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(block);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_in() -> Authorization {
        Authorization {
            state: "s-1".into(),
            nonce: "n-1".into(),
            ..Authorization::new("http://127.0.0.1:1/callback")
        }
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_redirect_is_taken_only_with_this_sign_ins_state() {
        let ours = sign_in();
        let good = params(&[("code", "c-1"), ("state", "s-1")]);
        assert_eq!(check_redirect(&good, &ours).unwrap(), "c-1");
        let forged = params(&[("code", "c-1"), ("state", "s-2")]);
        assert!(check_redirect(&forged, &ours).is_err());
        let stateless = params(&[("code", "c-1")]);
        assert!(check_redirect(&stateless, &ours).is_err());
        let refused = params(&[("error", "access_denied"), ("state", "s-1")]);
        let error = check_redirect(&refused, &ours).unwrap_err().to_string();
        assert!(error.contains("access_denied"), "{error}");
    }

    #[test]
    fn an_id_token_must_carry_this_sign_ins_nonce_issuer_and_audience() {
        let claims = json!({ "iss": "http://op", "aud": "stint", "nonce": "n-1" });
        assert!(check_id_token(&claims, "http://op", "stint", "n-1").is_ok());
        assert!(check_id_token(&claims, "http://op", "stint", "n-2").is_err());
        assert!(check_id_token(&claims, "http://other", "stint", "n-1").is_err());
        assert!(check_id_token(&claims, "http://op", "other", "n-1").is_err());
        let many = json!({ "iss": "http://op", "aud": ["x", "stint"], "nonce": "n-1" });
        assert!(check_id_token(&many, "http://op", "stint", "n-1").is_ok());
    }

    #[test]
    fn the_token_file_is_the_owners_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home").join(TOKEN_FILE);
        save_private(&path, "one").unwrap();
        save_private(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(dir.path().join("home")).unwrap().count(),
            1
        );
    }

    #[test]
    fn profiles_replace_their_own_block_and_nothing_else() {
        let eligibility = stint_api::Eligibility {
            portal_url: Some("https://d-1234567890.awsapps.com/start".into()),
            sso_region: Some("eu-west-1".into()),
            eligible: vec![stint_api::EligibleView {
                account_id: "333333333333".into(),
                account_name: "workload-prod".into(),
                environment: "prod".into(),
                persona: "Product-Deployers".into(),
                permission_set: "Acme-Product-Deployers".into(),
                max_duration_seconds: 7200,
                approvals: 1,
                break_glass_seconds: None,
            }],
        };
        let block = super::profiles_block(&eligibility, None).unwrap();
        assert!(
            block.contains("[profile workload-prod.Product-Deployers]"),
            "{block}"
        );
        assert!(block.contains("sso_account_id = 333333333333\nsso_role_name = Acme-Product-Deployers\nregion = eu-west-1"), "{block}");
        let mine = "[default]\nregion = us-east-1\n";
        let once = super::with_block(mine, &block);
        assert!(once.starts_with(mine), "{once}");
        assert_eq!(
            super::with_block(&once, &block),
            once,
            "a second run changes nothing"
        );
        let later = format!("{once}[profile other]\nregion = us-west-2\n");
        let again = super::with_block(&later, &block);
        assert_eq!(again, later, "what follows the block stays");
        let without = stint_api::Eligibility {
            portal_url: None,
            ..eligibility
        };
        assert!(super::profiles_block(&without, None).is_err());
    }
}
