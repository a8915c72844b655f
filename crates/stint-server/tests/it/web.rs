//! The web page in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`; `scripts/test` installs them), against the loopback
//! OpenID provider and the AWS emulator. Alice signs in and asks for prod; bob signs in, sees
//! it, is sent to sign in again with MFA, approves; alice's page shows the grant and the
//! assignment exists in the emulator (read through the SDK). A forged approve post from alice,
//! a post without the CSRF token, and a reason with markup are all tried in the browser.
//! Each page is saved as a screenshot under `target/screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::harness::{PeopleApp, USERS, spawn_people_app};

/// A chromedriver of this test's own and one browser session on it per person.
struct Driver {
    url: String,
    _process: tokio::process::Child,
}

impl Driver {
    /// Starts chromedriver; fails loudly when Chromium is not installed (never a silent skip).
    async fn start() -> Self {
        let found = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| dir.join("chromedriver").is_file())
        });
        assert!(
            found,
            "chromedriver is not on PATH: the browser tests need Debian's chromium and chromium-driver \
             (`apt-get install --no-install-recommends chromium chromium-driver`; scripts/test installs them)"
        );
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("port").port()
        };
        let process = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        for _ in 0..100 {
            if reqwest::get(&status)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Self {
                    url,
                    _process: process,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on {url} within 10 s");
    }

    /// A fresh browser (its own cookies): headless Chromium as root in a container.
    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--window-size=1280,1100",
                ]
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session (is chromium installed?)")
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("save screenshot");
}

async fn css(browser: &Client, selector: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no {selector} on the page: {e}"))
}

async fn path(browser: &Client) -> String {
    browser.current_url().await.expect("url").path().to_owned()
}

/// Opens `page`, is sent to sign in, signs in as `email` at the provider, lands on `page`.
async fn sign_in(browser: &Client, people: &PeopleApp, page: &str, email: &str, shot: bool) {
    browser
        .goto(&format!("{}{page}", people.app.url))
        .await
        .expect("open the page");
    assert_eq!(path(browser).await, "/signin");
    css(browser, "#login_hint")
        .await
        .send_keys(email)
        .await
        .expect("type email");
    if shot {
        screenshot(browser, "signin").await;
    }
    css(browser, "#sign-in")
        .await
        .click()
        .await
        .expect("sign in");
    css(browser, "form.signout").await;
    assert_eq!(path(browser).await, page);
    let source = browser.source().await.expect("source");
    assert!(source.contains(email), "signed in as {email}");
}

/// Posts a form built in the page (as a forger would), with the page's CSRF token or none.
async fn post_from_page(browser: &Client, action: &str, with_csrf: bool) -> String {
    browser
        .execute(
            r#"const [action, withCsrf] = arguments;
               const form = document.createElement('form');
               form.method = 'post'; form.action = action;
               if (withCsrf) {
                 const csrf = document.createElement('input');
                 csrf.type = 'hidden'; csrf.name = 'csrf';
                 csrf.value = document.querySelector('input[name=csrf]').value;
                 form.appendChild(csrf);
               }
               document.body.appendChild(form); form.submit();"#,
            vec![json!(action), json!(with_csrf)],
        )
        .await
        .expect("post the form");
    for _ in 0..100 {
        if path(browser).await == action {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(path(browser).await, action, "the post's answer");
    css(browser, "main").await;
    browser.source().await.expect("source")
}

#[tokio::test(flavor = "multi_thread")]
async fn web_alice_asks_bob_approves_with_mfa_in_a_real_browser() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let driver = Driver::start().await;
    let alice = driver.browser().await;
    let bob = driver.browser().await;

    // Alice signs in (her provider session is MFA-backed: prod wants it to ask, too).
    people.provider.sign_in_with(&["pwd", "mfa"]);
    sign_in(&alice, &people, "/access", USERS.alice, true).await;
    screenshot(&alice, "my-access-empty").await;

    // She asks for prod, with markup in her reason.
    let reason = "<script>alert('owned')</script> hotfix & rollback";
    let form = format!("form[id=\"ask-{}-Product-Deployers\"]", app.prod);
    css(&alice, &format!("{form} textarea[name=reason]"))
        .await
        .send_keys(reason)
        .await
        .expect("reason");
    css(&alice, &format!("{form} input[name=ticket]"))
        .await
        .send_keys("INC-42")
        .await
        .expect("ticket");
    css(&alice, &format!("{form} button"))
        .await
        .click()
        .await
        .expect("ask");
    css(&alice, "#request-state").await;
    let request_path = path(&alice).await;
    let request_id = request_path
        .strip_prefix("/requests/")
        .expect("on the request's page")
        .to_owned();
    let shown = css(&alice, "#request-reason")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(shown, reason, "the reason shows as the text she typed");
    let source = alice.source().await.expect("source");
    assert!(source.contains("&lt;script&gt;alert('owned')&lt;/script&gt;"));
    assert!(!source.contains("<script>"), "no script element made it in");
    assert_eq!(
        css(&alice, "#request-state").await.text().await.unwrap(),
        "requested"
    );
    // Her own request has no approve button.
    assert!(
        alice
            .find(Locator::Css(&format!("#approve-{request_id}")))
            .await
            .is_err()
    );
    screenshot(&alice, "request-requested").await;

    // A forged approve post from alice (her own valid CSRF token) is refused by the core.
    let approve_path = format!("/requests/{request_id}/approve");
    let answer = post_from_page(&alice, &approve_path, true).await;
    assert!(answer.contains("self_approval"), "{answer}");
    screenshot(&alice, "refused-self-approval").await;
    // A post without the CSRF token is refused before anything runs.
    alice
        .goto(&format!("{}{request_path}", app.url))
        .await
        .unwrap();
    let answer = post_from_page(&alice, &approve_path, false).await;
    assert!(answer.contains("csrf_token_invalid"), "{answer}");
    assert!(people.assigned(&app.prod).await.is_empty());

    // Bob signs in with a password only, and sees alice's request waiting for him.
    people.provider.sign_in_with(&["pwd"]);
    sign_in(&bob, &people, "/approvals", USERS.bob, false).await;
    let waiting = css(&bob, &format!("#waiting-{request_id}")).await;
    let text = waiting.text().await.unwrap();
    assert!(
        text.contains(USERS.alice) && text.contains("INC-42"),
        "{text}"
    );
    assert!(text.contains("<script>alert('owned')</script>"), "{text}");
    screenshot(&bob, "approvals").await;

    // Approving prod needs a fresh MFA sign-in: the page sends him to the provider, which now
    // signs him in with MFA, and back to the request, still waiting.
    people.provider.sign_in_with(&["pwd", "mfa"]);
    css(&bob, &format!("#approve-{request_id}"))
        .await
        .click()
        .await
        .expect("approve");
    css(&bob, "#request-state").await;
    assert_eq!(path(&bob).await, request_path);
    assert_eq!(
        css(&bob, "#request-state").await.text().await.unwrap(),
        "requested"
    );
    assert!(people.assigned(&app.prod).await.is_empty());
    css(&bob, &format!("#approve-comment-{request_id}"))
        .await
        .send_keys("rollback plan <b>read</b>")
        .await
        .expect("comment");
    css(&bob, &format!("#approve-{request_id}"))
        .await
        .click()
        .await
        .expect("approve again");
    css(&bob, "#grant-state").await;
    assert_eq!(
        css(&bob, "#request-state").await.text().await.unwrap(),
        "approved"
    );
    // The approval's comment is on the request, as text.
    let page = bob.source().await.unwrap();
    assert!(
        page.contains("rollback plan &lt;b&gt;read&lt;/b&gt;"),
        "the comment, escaped"
    );
    screenshot(&bob, "request-approved").await;

    // Alice's page shows the grant with its time left; Identity Center has the assignment.
    alice.goto(&format!("{}/access", app.url)).await.unwrap();
    let held = css(&alice, "#held-grants").await.text().await.unwrap();
    assert!(
        held.contains("Product-Deployers") && held.contains("left"),
        "{held}"
    );
    screenshot(&alice, "my-access").await;
    assert_eq!(
        people.assigned(&app.prod).await,
        vec![app.users.alice.clone()]
    );

    // Bob approves, so he sees every grant, and the transaction's timeline with the chain.
    bob.goto(&format!("{}/grants", app.url)).await.unwrap();
    let grants = css(&bob, "#grants").await.text().await.unwrap();
    assert!(grants.contains(USERS.alice), "{grants}");
    screenshot(&bob, "grants").await;
    css(&bob, "#grants tbody a").await.click().await.unwrap();
    let chain = css(&bob, "#chain").await.text().await.unwrap();
    assert!(chain.contains("verifies"), "{chain}");
    screenshot(&bob, "transaction").await;

    alice.close().await.ok();
    bob.close().await.ok();
}

#[tokio::test]
async fn web_pages_carry_security_headers_and_want_a_session() {
    let people = spawn_people_app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signin = http
        .get(format!("{}/signin", people.app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(signin.status(), 200);
    let header = |name: &str| {
        signin
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("x-frame-options"), "DENY");

    // No session: sent to sign in, and a post changes nothing.
    let access = http
        .get(format!("{}/access", people.app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(access.status(), 303);
    assert_eq!(access.headers()["location"], "/signin?next=%2Faccess");
    // A forged session cookie is not a session.
    let forged = http
        .get(format!("{}/access", people.app.url))
        .header("cookie", "stint_session=eyJ0b2tlbiI6IngiLCJjc3JmIjoieCJ9")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 303);

    // The sign-in starts with PKCE (S256), a state and a nonce, and remembers them sealed.
    let login = http
        .get(format!(
            "{}/login?login_hint=alice@example.com",
            people.app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 302);
    let location = reqwest::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert!(location.as_str().starts_with(&people.provider.url));
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
    assert!(query["state"].len() >= 32 && query["nonce"].len() >= 32);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(&query["state"]),
        "the state is sealed, not readable"
    );

    // An answer with another state is refused, and so is one with no sign-in under way.
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();
    let wrong_state = http
        .get(format!(
            "{}/auth/callback?code=x&state=not-the-state",
            people.app.url
        ))
        .header("cookie", &cookie_pair)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_state.status(), 401);
    assert!(
        wrong_state
            .text()
            .await
            .unwrap()
            .contains("sign_in_state_mismatch")
    );
    let no_cookie = http
        .get(format!("{}/auth/callback?code=x&state=y", people.app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 401);
    // A sign-in whose code is exchanged without this browser's verifier gets nothing: the
    // provider checks PKCE (its own tests), and a replayed state is refused (above).
}

/// Signs `email` in through the page without a browser (reqwest, no redirects followed):
/// the session cookie's `name=value`.
async fn session_cookie(http: &reqwest::Client, base: &str, email: &str) -> String {
    let pair = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next())
            .find(|pair| pair.starts_with(&format!("{name}=")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {name} cookie"))
    };
    let location =
        |response: &reqwest::Response| response.headers()["location"].to_str().unwrap().to_owned();
    let login = http
        .get(format!("{base}/login?login_hint={email}"))
        .send()
        .await
        .unwrap();
    let pending = pair(&login, "stint_login");
    let back = http.get(location(&login)).send().await.unwrap();
    let done = http
        .get(location(&back))
        .header("cookie", pending)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    pair(&done, "stint_session")
}

#[tokio::test]
async fn web_a_post_from_another_origin_is_refused_and_sign_out_ends_the_session() {
    let people = spawn_people_app().await;
    let base = &people.app.url;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bob = session_cookie(&http, base, USERS.bob).await;
    let page = http
        .get(format!("{base}/access"))
        .header("cookie", &bob)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let post = |origin: &str, path: &str| {
        http.post(format!("{base}{path}"))
            .header("cookie", &bob)
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
    };
    // The right token from another site is still refused.
    let forged = post(
        "http://evil.example",
        "/requests/01a24345-5f88-78fb-a266-1269f3a6e291/deny",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("cross_origin_post"));
    // Signing out (a post from the page, with its token) tells the browser to drop the session.
    let out = post(base, "/logout").send().await.unwrap();
    assert_eq!(out.status(), 303);
    let cleared = out.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("stint_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}
