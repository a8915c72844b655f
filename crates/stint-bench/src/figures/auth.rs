//! Figure 7, what token authentication adds to a provisioning: two `stint serve` on the same
//! moto, one with the catalog as it is and one with the same catalog plus an `[oidc]` issuer
//! (the loopback test issuer, in this process), an identity and a pipeline rule. Requests
//! alternate between them, one at a time, so both see the same emulator; each authenticated
//! request carries a fresh token, minted before its timer starts.

use std::time::{Duration, Instant};

use stint_testkit::issuer::TestIssuer;

use crate::args::TwoServers;
use crate::catalog;
use crate::client::{Target, http_client};
use crate::report::{print_latency_header, print_latency_row};
use crate::runs::{Outcome, Part, Run, run_once};
use crate::spawn::Server;
use crate::stats::{ms, percentile};

pub async fn run(args: &TwoServers) -> anyhow::Result<()> {
    let setup = &args.stint.setup;
    let issuer = TestIssuer::start()?;
    let (text, _) = catalog::load(&setup.catalog)?;
    let auth_catalog = setup.dir.join("auth-catalog.toml");
    catalog::write_with_oidc(&text, &issuer, &auth_catalog)?;

    let plain = Server::sqlite(&args.stint, &setup.catalog, "auth-plain").await?;
    let authed = Server::sqlite(&args.stint, &auth_catalog, "auth-oidc").await?;
    let client = http_client(2)?;
    // The example's account; the persona left to the catalog (neither body names one).
    let target = Target {
        group_type: None,
        ..Target::example()
    };
    let record = async |base: &str, issuer: Option<&TestIssuer>, outcome: &mut Outcome| {
        outcome.record(run_once(&client, base, &target, issuer).await);
    };

    // The authenticated server's first request fetches the JWKS; both assume the provisioner
    // role and look the group up once.
    let mut warm_plain = Outcome::default();
    let mut warm_authed = Outcome::default();
    for _ in 0..args.runs.warmup.max(1) {
        record(&plain.url, None, &mut warm_plain).await;
        record(&authed.url, Some(&issuer), &mut warm_authed).await;
    }
    let first_authed = warm_authed.runs.first().map(|run| run.provision);

    let mut without = Outcome::default();
    let mut with = Outcome::default();
    let cpu_plain = args.ticks.start(plain.pid)?;
    let cpu_authed = args.ticks.start(authed.pid)?;
    let started = Instant::now();
    for i in 0..args.runs.runs {
        // Alternate which goes first, so neither always follows the other.
        if i % 2 == 0 {
            record(&plain.url, None, &mut without).await;
            record(&authed.url, Some(&issuer), &mut with).await;
        } else {
            record(&authed.url, Some(&issuer), &mut with).await;
            record(&plain.url, None, &mut without).await;
        }
    }
    let wall = started.elapsed();
    let cpu_plain = cpu_plain.elapsed()?;
    let cpu_authed = cpu_authed.elapsed()?;
    plain.stop().await?;
    authed.stop().await?;

    println!(
        "== Provision latency added by authentication (two stint serve on one moto, {} runs each, alternating, after {} warm-up runs each) ==",
        args.runs.runs, args.runs.warmup
    );
    println!(
        "  with auth: catalog + [oidc] (issuer {} on loopback, RS256 {}-bit), a fresh token per request (minted outside the timed span), body without email",
        issuer.url,
        issuer.key_bits()
    );
    if let Some(first) = first_authed {
        println!(
            "  first authenticated provision (JWKS fetched): {:.2} ms",
            ms(first)
        );
    }
    print_latency_header();
    let provision = |r: &Run| r.provision;
    let deprovision = |r: &Run| r.deprovision;
    let rows: [(&str, &Outcome, Part); 4] = [
        ("provision, no auth", &without, provision),
        ("provision, with auth", &with, provision),
        ("deprovision, no auth", &without, deprovision),
        ("deprovision, with auth", &with, deprovision),
    ];
    for (label, outcome, pick) in rows {
        print_latency_row(label, &outcome.sorted(pick), outcome.errors);
    }
    let diff = |pick: Part, p: f64| {
        percentile(&with.sorted(pick), p) - percentile(&without.sorted(pick), p)
    };
    println!(
        "  Added by authentication: provision p50 {:+.2} ms, p99 {:+.2} ms; deprovision p50 {:+.2} ms, p99 {:+.2} ms",
        diff(provision, 50.0),
        diff(provision, 99.0),
        diff(deprovision, 50.0),
        diff(deprovision, 99.0),
    );
    let per_run = |cpu: Duration| ms(cpu) / args.runs.runs.max(1) as f64;
    println!(
        "  CPU time of stint serve per provision+deprovision: {:.2} ms without auth, {:.2} ms with ({:+.2} ms for two verifications); {:.1} s for both phases",
        per_run(cpu_plain),
        per_run(cpu_authed),
        per_run(cpu_authed) - per_run(cpu_plain),
        wall.as_secs_f64()
    );
    for message in without
        .first_errors
        .iter()
        .chain(&with.first_errors)
        .take(3)
    {
        println!("  error: {message}");
    }
    println!();
    Ok(())
}
