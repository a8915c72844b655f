//! The page templates (maud: checked at compile time, every interpolation HTML-escaped, so a
//! reason with markup in it shows as text). No scripts, no inline styles (the CSP allows
//! neither); labels on every field; a layout that reflows on a phone.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};
use stint_api::{AccessRequestResponse, AccessRequestView, EventView, TransactionView};
use stint_core::audit::ChainReport;

pub const STYLESHEET: &str = include_str!("stint.css");

/// Which section of the page a view belongs to (marked in the navigation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Access,
    Approvals,
    Grants,
    None,
}

/// Who is signed in, for the header: their email and the session's CSRF token.
pub struct Me<'a> {
    pub email: &'a str,
    pub csrf: &'a str,
}

pub fn layout(title: &str, me: Option<&Me<'_>>, nav: Nav, content: Markup) -> Markup {
    let link = |href: &str, label: &str, section: Nav| {
        html! {
            @if nav == section { a href=(href) aria-current="page" { (label) } }
            @else { a href=(href) { (label) } }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · stint" }
                link rel="stylesheet" href="/static/stint.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    span.brand { "stint" }
                    @if let Some(me) = me {
                        nav aria-label="Sections" {
                            (link("/access", "My access", Nav::Access))
                            (link("/approvals", "Approvals", Nav::Approvals))
                            (link("/grants", "Grants and audit", Nav::Grants))
                        }
                        form.signout method="post" action="/logout" {
                            span.me { (me.email) }
                            input type="hidden" name="csrf" value=(me.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

pub fn error_page(status: StatusCode, code: &str, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Refused");
    layout(
        title,
        None,
        Nav::None,
        html! {
            div.notice.bad role="alert" {
                p { (message) }
                p.code { "Code: " code { (code) } }
            }
            p { a href="/access" { "Back to my access" } }
        },
    )
}

pub fn sign_in(provider: &str, next: &str, signed_out: bool) -> Markup {
    layout(
        "Sign in",
        None,
        Nav::None,
        html! {
            @if signed_out { p.notice role="status" { "You are signed out." } }
            p { "Sign in with your organisation's identity provider to ask for access, approve requests and see what you hold." }
            form method="get" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="login_hint" { "Your email (optional)" }
                input id="login_hint" name="login_hint" type="email" autocomplete="username";
                button type="submit" id="sign-in" { "Sign in" }
            }
            p.muted { "Provider: " (provider) }
        },
    )
}

/// One persona a person may ask for on one account, with the rules that will apply.
pub struct Offer {
    pub account_id: String,
    pub account_name: String,
    pub environment: String,
    pub persona: String,
    pub min_duration: String,
    pub max_duration: String,
    pub approvals: u32,
    pub approver_groups: Vec<String>,
    pub justification: bool,
    pub ticket_pattern: Option<String>,
    /// What the sign-in must be: "mfa", "within 15m", …
    pub sign_in: Vec<String>,
}

/// A live grant, with its time left.
pub struct Held {
    pub transaction_id: String,
    pub account_name: String,
    pub persona: String,
    pub state: String,
    pub expires_at: String,
    pub time_left: String,
    pub request_id: Option<String>,
}

pub fn my_access(
    me: &Me<'_>,
    offers: &[Offer],
    held: &[Held],
    requests: &[AccessRequestView],
) -> Markup {
    let content = html! {
        section aria-labelledby="held" {
            h2 id="held" { "What I hold now" }
            @if held.is_empty() { p.muted { "Nothing right now." } }
            @else {
                table id="held-grants" {
                    thead { tr { th { "Account" } th { "Persona" } th { "State" } th { "Ends" } th { "Time left" } } }
                    tbody {
                        @for grant in held {
                            tr {
                                td { (grant.account_name) }
                                td {
                                    @if let Some(request) = &grant.request_id { a href={ "/requests/" (request) } { (grant.persona) } }
                                    @else { (grant.persona) }
                                }
                                td { a href={ "/transactions/" (grant.transaction_id) } { (grant.state) } }
                                td { time datetime=(grant.expires_at) { (when(&grant.expires_at)) } }
                                td.left { (grant.time_left) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="ask" {
            h2 id="ask" { "Ask for access" }
            @if offers.is_empty() { p.muted { "You are not eligible for any persona." } }
            div.offers {
                @for offer in offers { (offer_card(me, offer)) }
            }
        }
        section aria-labelledby="mine" {
            h2 id="mine" { "My requests" }
            (request_table(requests, "my-requests"))
        }
    };
    layout("My access", Some(me), Nav::Access, content)
}

fn offer_card(me: &Me<'_>, offer: &Offer) -> Markup {
    let id = format!("{}-{}", offer.account_id, offer.persona);
    html! {
        article.offer id={ "offer-" (id) } {
            h3 { (offer.persona) " on " (offer.account_name) " " span.env { (offer.environment) } }
            ul.rules {
                li {
                    @if offer.approvals == 0 { "Starts at once: no approval needed." }
                    @else {
                        "Needs " (offer.approvals) " approval(s) from "
                        (offer.approver_groups.join(", ")) "."
                    }
                }
                li { "From " (offer.min_duration) " up to " (offer.max_duration) "." }
                @if !offer.sign_in.is_empty() { li { "Sign-in: " (offer.sign_in.join(", ")) "." } }
            }
            form method="post" action="/requests" id={ "ask-" (id) } {
                input type="hidden" name="csrf" value=(me.csrf);
                input type="hidden" name="account" value=(offer.account_id);
                input type="hidden" name="persona" value=(offer.persona);
                label for={ "duration-" (id) } { "For how long (e.g. 1h, 30m; at most " (offer.max_duration) ")" }
                input id={ "duration-" (id) } name="duration" required value="1h" pattern="[0-9hms ]+";
                label for={ "reason-" (id) } {
                    "Why" @if offer.justification { " (required)" }
                }
                textarea id={ "reason-" (id) } name="reason" rows="2" maxlength="1000" required[offer.justification] {}
                @if let Some(pattern) = &offer.ticket_pattern {
                    label for={ "ticket-" (id) } { "Ticket (required, like " (pattern) ")" }
                    input id={ "ticket-" (id) } name="ticket" required;
                }
                button type="submit" {
                    @if offer.approvals == 0 { "Start access" } @else { "Ask for approval" }
                }
            }
        }
    }
}

fn request_table(requests: &[AccessRequestView], id: &str) -> Markup {
    html! {
        @if requests.is_empty() { p.muted { "None." } }
        @else {
            table id=(id) {
                thead { tr { th { "Request" } th { "Who" } th { "What" } th { "For" } th { "Why" } th { "State" } } }
                tbody {
                    @for r in requests {
                        tr {
                            td { a href={ "/requests/" (r.id) } { (short(&r.id)) } }
                            td { (r.requester) }
                            td { (r.persona) " on " (r.account_name) }
                            td { (duration_text(r.duration_seconds)) }
                            td.reason { (r.reason) @if let Some(t) = &r.ticket { " (" (t) ")" } }
                            td { span class={ "state " (r.state) } { (r.state) } }
                        }
                    }
                }
            }
        }
    }
}

/// A request someone else made, waiting for the signed-in approver.
pub fn approvals(
    me: &Me<'_>,
    waiting: &[(AccessRequestView, String)],
    mine: &[AccessRequestView],
) -> Markup {
    let content = html! {
        section aria-labelledby="waiting" {
            h2 id="waiting" { "Waiting for me" }
            @if waiting.is_empty() { p.muted { "Nothing waits for you." } }
            @for (r, history) in waiting {
                article.request id={ "waiting-" (r.id) } {
                    h3 { a href={ "/requests/" (r.id) } { (r.requester) " asks for " (r.persona) " on " (r.account_name) } }
                    dl {
                        dt { "For" } dd { (duration_text(r.duration_seconds)) }
                        dt { "Why" } dd.reason { (r.reason) }
                        @if let Some(ticket) = &r.ticket { dt { "Ticket" } dd { (ticket) } }
                        dt { "Asked" } dd { (when(&r.created_at)) }
                        dt { "Answer by" } dd { (when(&r.answer_by)) }
                        dt { "History" } dd { (history) }
                    }
                    (decide_forms(me, &r.id))
                }
            }
        }
        section aria-labelledby="own" {
            h2 id="own" { "My own open requests" }
            p.muted { "Someone else approves these; you cannot approve your own." }
            (request_table(mine, "own-open"))
        }
    };
    layout("Approvals", Some(me), Nav::Approvals, content)
}

fn decide_forms(me: &Me<'_>, id: &str) -> Markup {
    html! {
        div.decide {
            form method="post" action={ "/requests/" (id) "/approve" } {
                input type="hidden" name="csrf" value=(me.csrf);
                label for={ "approve-comment-" (id) } { "Comment (optional)" }
                input id={ "approve-comment-" (id) } name="comment" maxlength="500";
                button.approve type="submit" id={ "approve-" (id) } { "Approve" }
            }
            form method="post" action={ "/requests/" (id) "/deny" } {
                input type="hidden" name="csrf" value=(me.csrf);
                label for={ "deny-comment-" (id) } { "Reason for denying" }
                input id={ "deny-comment-" (id) } name="comment" maxlength="500";
                button.deny type="submit" id={ "deny-" (id) } { "Deny" }
            }
        }
    }
}

/// What the signed-in person may do with the request on its page.
pub struct RequestActions {
    pub approve: bool,
    pub withdraw: bool,
}

pub fn request(
    me: &Me<'_>,
    answer: &AccessRequestResponse,
    actions: &RequestActions,
    time_left: Option<&str>,
) -> Markup {
    let r = &answer.request;
    let content = html! {
        dl.request id="request" {
            dt { "Request" } dd { code { (r.id) } }
            dt { "State" } dd { span id="request-state" class={ "state " (r.state) } { (r.state) } }
            dt { "Who" } dd { (r.requester) }
            dt { "What" } dd { (r.persona) " on " (r.account_name) " (" (r.account_id) ")" }
            dt { "For" } dd { (duration_text(r.duration_seconds)) }
            dt { "Why" } dd.reason id="request-reason" { (r.reason) }
            @if let Some(ticket) = &r.ticket { dt { "Ticket" } dd { (ticket) } }
            @if r.break_glass { dt { "Break-glass" } dd { "yes: self-activated, flagged for review" } }
            dt { "Approvals" } dd {
                @if r.approvals.is_empty() { "none yet" }
                @for a in &r.approvals {
                    (a.approver) " at " (when(&a.at))
                    @if let Some(comment) = &a.comment { ": " (comment) }
                    br;
                }
            }
            dt { "Answer by" } dd { (when(&r.answer_by)) }
        }
        @if let Some(grant) = &answer.grant {
            section aria-labelledby="grant" {
                h2 id="grant" { "Grant" }
                p id="grant-state" {
                    a href={ "/transactions/" (grant.transaction_id) } { (grant.state) }
                    " · " (grant.permission_set)
                    @if let Some(expires) = &grant.expires_at { " · ends " (when(expires)) }
                    @if let Some(left) = time_left { " · " span.left { (left) } }
                }
            }
        }
        @if actions.approve { (decide_forms(me, &r.id)) }
        @if actions.withdraw {
            form method="post" action={ "/requests/" (r.id) "/withdraw" } {
                input type="hidden" name="csrf" value=(me.csrf);
                button type="submit" id="withdraw" { "Withdraw my request" }
            }
        }
        (timeline(&answer.events))
    };
    layout("Access request", Some(me), Nav::None, content)
}

fn timeline(events: &[EventView]) -> Markup {
    html! {
        section aria-labelledby="timeline" {
            h2 id="timeline" { "Timeline" }
            ol.timeline {
                @for e in events {
                    li {
                        time datetime=(e.at) { (when(&e.at)) } " "
                        strong { (e.action) } " → " (e.state)
                        " by " (e.actor) ": " span.reason { (e.reason) }
                    }
                }
            }
        }
    }
}

/// The filters of the grants page, as the query gave them.
#[derive(Default, serde::Deserialize)]
pub struct GrantFilters {
    pub state: Option<String>,
    pub account: Option<String>,
    pub persona: Option<String>,
    pub requester: Option<String>,
}

pub fn grants(
    me: &Me<'_>,
    rows: &[TransactionView],
    filters: &GrantFilters,
    everyone: bool,
) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let content = html! {
        p.muted {
            @if everyone { "Every grant, people's and pipelines' (you approve access, so you see all)." }
            @else { "Your grants." }
        }
        form.filters method="get" action="/grants" {
            label for="f-state" { "State" }
            input id="f-state" name="state" value=(value(&filters.state)) placeholder="provisioned";
            label for="f-account" { "Account" }
            input id="f-account" name="account" value=(value(&filters.account));
            label for="f-persona" { "Persona" }
            input id="f-persona" name="persona" value=(value(&filters.persona));
            label for="f-requester" { "Requester" }
            input id="f-requester" name="requester" value=(value(&filters.requester));
            button type="submit" { "Filter" }
        }
        @if rows.is_empty() { p.muted { "No grants match." } }
        @else {
            table id="grants" {
                thead { tr { th { "Transaction" } th { "Requester" } th { "Account" } th { "Persona" } th { "State" } th { "Ends" } } }
                tbody {
                    @for g in rows {
                        tr {
                            td { a href={ "/transactions/" (g.id) } { (short(&g.id)) } }
                            td { (g.requester) }
                            td { (g.account_name) }
                            td { (g.group_type) }
                            td { span class={ "state " (g.state) } { (g.state) } }
                            td { (g.expires_at.as_deref().map(when).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    layout("Grants and audit", Some(me), Nav::Grants, content)
}

pub fn transaction(
    me: &Me<'_>,
    t: &TransactionView,
    events: &[EventView],
    chain: &ChainReport,
) -> Markup {
    let content = html! {
        @match &chain.fault {
            None => p.notice.good id="chain" role="status" {
                "The ledger's hash chain verifies (" (chain.events_checked) " events checked)."
            },
            Some(fault) => p.notice.bad id="chain" role="alert" {
                "The ledger's hash chain does NOT verify: " (format!("{fault:?}"))
            },
        }
        dl {
            dt { "Transaction" } dd { code { (t.id) } }
            dt { "Kind" } dd { (t.kind) }
            dt { "State" } dd { span class={ "state " (t.state) } { (t.state) } }
            dt { "Requester" } dd { (t.requester) }
            dt { "Account" } dd { (t.account_name) " (" (t.account_id) ")" }
            dt { "Persona" } dd { (t.group_type) }
            dt { "Created" } dd { (when(&t.created_at)) }
            @if let Some(expires) = &t.expires_at { dt { "Ends" } dd { (when(expires)) } }
            @if let Some(f) = &t.failure { dt { "Failure" } dd { (f.code) ": " (f.message) } }
        }
        (timeline(events))
    };
    layout("Transaction", Some(me), Nav::Grants, content)
}

/// An RFC 3339 time as people read it: `2026-01-01 10:00:00 UTC` (as given when it is not one).
pub fn when(text: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    match time::OffsetDateTime::parse(text, &Rfc3339) {
        Ok(at) => {
            let at = at.to_offset(time::UtcOffset::UTC);
            format!(
                "{} {:02}:{:02}:{:02} UTC",
                at.date(),
                at.hour(),
                at.minute(),
                at.second()
            )
        }
        Err(_) => text.to_owned(),
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

pub fn duration_text(seconds: u64) -> String {
    stint_core::catalog::format_duration(std::time::Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_what_people_type_is_escaped() {
        let page = error_page(
            StatusCode::BAD_REQUEST,
            "x",
            "<script>alert(1)</script> & \"quoted\"",
        )
        .into_string();
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"));
        assert!(!page.contains("<script>"));
    }

    #[test]
    fn times_read_as_utc_to_the_second() {
        assert_eq!(
            when("2026-12-04T23:50:43.097751131Z"),
            "2026-12-04 23:50:43 UTC"
        );
        assert_eq!(when("2026-12-04T23:50:43+01:00"), "2026-12-04 22:50:43 UTC");
        assert_eq!(when("soon"), "soon");
    }
}
