//! The people commands of the `stint` binary as processes, against a broker for people and its
//! loopback OpenID provider: `stint login` runs the authorization-code flow with PKCE while the
//! test plays the browser (it opens the printed URL, and follows the provider's redirect to the
//! CLI's loopback listener); then `stint request --wait`, `approve` and `show` go to the broker
//! with the ID token the login kept, and Identity Center (the emulator) shows the assignment.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use stint_testkit::issuer::AUDIENCE;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::task::JoinHandle;

use crate::harness::{PeopleApp, SignIn, USERS, spawn_people_app};

/// How long any one CLI run may take.
const PATIENCE: Duration = Duration::from_secs(60);

/// `stint` with its own `$STINT_HOME` (where `login` keeps the token) and nothing of the
/// environment that would point it elsewhere.
fn stint(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stint"));
    command
        .env("STINT_HOME", home)
        .env_remove("STINT_URL")
        .env_remove("STINT_TOKEN_FILE")
        .env("STINT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A finished run: exit code, stdout, stderr.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}): {}\n{}", self.stdout, self.stderr)
        })
    }
}

async fn run(home: &Path, args: &[&str]) -> Run {
    let child = stint(home).args(args).spawn().expect("run stint");
    finish(child, None).await
}

/// Waits for `child`; its stderr is read by `stderr` when a reader has it already.
async fn finish(mut child: Child, stderr: Option<JoinHandle<String>>) -> Run {
    let stderr = stderr.or_else(|| child.stderr.take().map(drain));
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("stint finishes")
        .expect("stint's output");
    let stderr = match stderr {
        Some(reader) => reader.await.unwrap_or_default(),
        None => String::new(),
    };
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    }
}

/// Reads a stderr to its end in the background, so that the child never blocks on it.
fn drain(stderr: ChildStderr) -> JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text).await;
        text
    })
}

/// Reads `child`'s stderr until a line `pick` accepts: what it picked, and a reader that goes
/// on to the end and answers the whole stderr.
async fn read_until(
    child: &mut Child,
    pick: impl Fn(&str) -> Option<String>,
) -> (String, JoinHandle<String>) {
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let found = tokio::time::timeout(PATIENCE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
            if let Some(found) = pick(&line) {
                return Some(found);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(found) = found else {
        let _ = child.start_kill();
        panic!("stint never printed the line looked for; its stderr:\n{seen}");
    };
    let reader = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    (found, reader)
}

/// `stint login` for `email`, with the test as the browser. With `forge_state`, the redirect
/// to the CLI carries another `state` than the one the CLI sent.
async fn login(people: &PeopleApp, home: &Path, email: &str, forge_state: bool) -> Run {
    let mut child = stint(home)
        .args([
            "login",
            "--issuer",
            &people.provider.url,
            "--client-id",
            AUDIENCE,
            "--login-hint",
            email,
            "--timeout",
            "60s",
        ])
        .spawn()
        .expect("run stint login");
    let (url, stderr) = read_until(&mut child, |line| {
        let line = line.trim();
        (line.starts_with("http") && line.contains("/authorize?")).then(|| line.to_owned())
    })
    .await;

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = browser.get(&url).send().await.expect("the provider");
    assert_eq!(signed_in.status().as_u16(), 302, "{url}");
    let location = signed_in.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:"),
        "the provider sends the browser back to the CLI's loopback listener: {location}"
    );
    let location = if forge_state {
        let mut forged = reqwest::Url::parse(&location).unwrap();
        let pairs: Vec<(String, String)> = forged
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "state" { "forged".into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        forged.query_pairs_mut().clear().extend_pairs(pairs);
        forged.to_string()
    } else {
        location
    };
    let back = browser
        .get(&location)
        .send()
        .await
        .expect("the CLI's listener");
    assert_eq!(back.status().as_u16(), 200);
    let done = finish(child, Some(stderr)).await;
    // The token is the person's credential: it is kept in a file, never shown.
    if let Ok(token) = std::fs::read_to_string(home.join("id-token")) {
        assert!(!done.stdout.contains(token.trim()), "{}", done.stdout);
        assert!(!done.stderr.contains(token.trim()), "{}", done.stderr);
    }
    done
}

#[tokio::test]
async fn people_sign_in_with_the_cli_ask_and_approve_and_the_assignment_is_made() {
    let people = spawn_people_app().await;
    let app = &people.app;
    // Production asks for an MFA sign-in from both the requester and the approver.
    people.provider.sign_in_with(&["pwd", "mfa", "hwk"]);
    let alice = tempfile::tempdir().unwrap();
    let bob = tempfile::tempdir().unwrap();

    let signed_in = login(&people, alice.path(), USERS.alice, false).await;
    assert_eq!(
        signed_in.code, 0,
        "{}{}",
        signed_in.stdout, signed_in.stderr
    );
    assert_eq!(signed_in.json()["signed_in"], USERS.alice);
    let token_file = alice.path().join("id-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        signed_in.json()["token_file"],
        token_file.display().to_string()
    );

    // Alice asks and waits for an answer.
    let mut asking = stint(alice.path())
        .env("STINT_URL", &app.url)
        .args([
            "request",
            "--account",
            "workload-prod",
            "--persona",
            "Product-Deployers",
            "--for",
            "1h",
            "--reason",
            "roll back the payments deploy",
            "--ticket",
            "INC-1",
            "--wait",
            "--poll-interval",
            "1s",
        ])
        .spawn()
        .expect("run stint request");
    let (id, asking_stderr) = read_until(&mut asking, |line| {
        let rest = line.strip_prefix("request ")?;
        let (id, tail) = rest.split_once(' ')?;
        tail.contains("waiting for approval").then(|| id.to_owned())
    })
    .await;
    assert!(people.assigned(&app.prod).await.is_empty());

    // Her own approval is refused, with the broker's code.
    let own = run(alice.path(), &["approve", &id, "--broker", &app.url]).await;
    assert_eq!(own.code, 1, "{}{}", own.stdout, own.stderr);
    assert!(
        own.stderr.starts_with("error: self_approval: "),
        "{}",
        own.stderr
    );
    assert!(own.stdout.is_empty(), "{}", own.stdout);

    let bob_signed_in = login(&people, bob.path(), USERS.bob, false).await;
    assert_eq!(bob_signed_in.code, 0, "{}", bob_signed_in.stderr);
    let approved = run(
        bob.path(),
        &[
            "approve",
            &id,
            "--comment",
            "rollback plan read",
            "--broker",
            &app.url,
        ],
    )
    .await;
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    let approved = approved.json();
    assert_eq!(approved["request"]["state"], "approved");
    assert_eq!(approved["request"]["approvals"][0]["approver"], USERS.bob);
    assert_eq!(
        approved["request"]["approvals"][0]["comment"],
        "rollback plan read"
    );
    assert_eq!(approved["grant"]["state"], "provisioned");

    // Alice's `--wait` sees the answer and prints it.
    let waited = finish(asking, Some(asking_stderr)).await;
    assert_eq!(waited.code, 0, "{}{}", waited.stdout, waited.stderr);
    let waited = waited.json();
    assert_eq!(waited["request"]["id"], id.as_str());
    assert_eq!(waited["request"]["state"], "approved");
    assert_eq!(waited["request"]["ticket"], "INC-1");
    assert_eq!(waited["request"]["duration_seconds"], 3600);

    assert_eq!(
        people.assigned(&app.prod).await,
        vec![app.users.alice.clone()]
    );

    let shown = run(alice.path(), &["show", &id, "--broker", &app.url]).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(
        shown.json()["request"]["grant"],
        approved["grant"]["transaction_id"]
    );
}

#[tokio::test]
async fn login_refuses_a_redirect_with_another_state_and_keeps_no_token() {
    let people = spawn_people_app().await;
    let home = tempfile::tempdir().unwrap();
    let refused = login(&people, home.path(), USERS.alice, true).await;
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("state does not match"),
        "{}",
        refused.stderr
    );
    assert!(!home.path().join("id-token").exists());

    // With no token, the broker commands say how to get one.
    let no_token = run(
        home.path(),
        &["show", "some-id", "--broker", &people.app.url],
    )
    .await;
    assert_eq!(no_token.code, 2, "{}", no_token.stderr);
    assert!(
        no_token.stderr.contains("stint login"),
        "{}",
        no_token.stderr
    );
}

/// `stint profiles` writes AWS CLI profiles through Identity Center for what the person may
/// ask for, keeps the rest of the config file, and a second run changes nothing.
#[tokio::test]
async fn profiles_are_written_for_what_a_person_may_ask_for() {
    let people = spawn_people_app().await;
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("id-token");
    std::fs::write(
        &token_file,
        people.id_token(USERS.alice, SignIn::Password).expose(),
    )
    .unwrap();
    let config = home.path().join("aws").join("config");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[default]\nregion = eu-west-1\n").unwrap();
    let args = [
        "profiles",
        "--broker",
        &people.app.url,
        "--token-file",
        token_file.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let written = run(home.path(), &args).await;
    assert_eq!(written.code, 0, "{}", written.stderr);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with("[default]\nregion = eu-west-1\n"),
        "{text}"
    );
    for account in [&people.app.nonprod, &people.app.prod] {
        assert!(
            text.contains(&format!("sso_account_id = {account}")),
            "{text}"
        );
    }
    assert!(
        text.contains("[profile workload-prod.Product-Deployers]"),
        "{text}"
    );
    assert!(
        text.contains("sso_start_url = https://d-1234567890.awsapps.com/start"),
        "{text}"
    );
    let again = run(home.path(), &args).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
}
