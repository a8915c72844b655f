//! The pages people read: sign-in, My access, Approvals, a request (`/requests/{id}`, the
//! deep link notices point to), Grants and audit, one transaction. Each runs the operations
//! the API runs, as the signed-in person, and renders a template.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use stint_api::{AccessRequestView, TransactionView};
use stint_core::catalog::{AccessRules, Environment, format_duration};
use stint_core::error::BrokerError;
use stint_core::grant::{self, Caller};
use stint_core::ids::{GroupType, TransactionId};
use stint_core::ports::Membership;
use stint_core::record::{State as GrantState, Status};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::session::{SignedIn, safe_next};
use super::views::{self, GrantFilters, Held, Me, Offer, RequestActions};
use super::{Web, WebError, WebState};
use crate::wire;

/// The most grants the audit page reads per state.
const GRANTS_PER_STATE: usize = 500;

type Page = Result<Response, WebError>;

fn html(markup: maud::Markup) -> Response {
    Html(markup.into_string()).into_response()
}

fn me(signed_in: &SignedIn) -> (String, String) {
    (signed_in.email(), signed_in.csrf.clone())
}

pub async fn home(State(web): State<WebState>, headers: HeaderMap) -> Redirect {
    match web.signed_in(&headers).await {
        Some(_) => Redirect::to("/access"),
        None => Redirect::to("/signin"),
    }
}

#[derive(serde::Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

pub async fn sign_in(State(web): State<WebState>, Query(query): Query<SignInQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    html(views::sign_in(
        &web.issuer,
        &next,
        query.signed_out.is_some(),
    ))
}

pub async fn my_access(State(web): State<WebState>, signed_in: SignedIn) -> Page {
    let ops = &web.app.ops;
    let caller = &signed_in.caller;
    let eligibility = ops.eligibility(caller).await?;
    let offers: Vec<Offer> = eligibility
        .eligible
        .iter()
        .filter_map(|e| web.offer(&e.account_id, &e.persona))
        .collect();
    let now = ops.cases.journal.now();
    let held: Vec<Held> = ops
        .person_grants(caller)
        .await?
        .grants
        .into_iter()
        .filter(|g| matches!(g.state.as_str(), "processing" | "provisioned"))
        .map(|g| Held {
            time_left: g
                .expires_at
                .as_deref()
                .map(|at| time_left(at, now))
                .unwrap_or_default(),
            expires_at: g.expires_at.unwrap_or_default(),
            transaction_id: g.transaction_id,
            account_name: g.account_name,
            persona: g.persona,
            state: g.state,
            request_id: g.request_id,
        })
        .collect();
    let requests = ops.access_requests(caller).await?.mine;
    let (email, csrf) = me(&signed_in);
    let me = Me {
        email: &email,
        csrf: &csrf,
    };
    Ok(html(views::my_access(&me, &offers, &held, &requests)))
}

pub async fn approvals(State(web): State<WebState>, signed_in: SignedIn) -> Page {
    let list = web.app.ops.access_requests(&signed_in.caller).await?;
    let mut waiting = Vec::new();
    for request in list.to_approve {
        let history = web.history(&request.requester, &request.id).await;
        waiting.push((request, history));
    }
    let mine: Vec<AccessRequestView> = list
        .mine
        .into_iter()
        .filter(|r| r.state == "requested")
        .collect();
    let (email, csrf) = me(&signed_in);
    let me = Me {
        email: &email,
        csrf: &csrf,
    };
    Ok(html(views::approvals(&me, &waiting, &mine)))
}

pub async fn request(
    State(web): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Page {
    let ops = &web.app.ops;
    let answer = ops.access_request(&id, &signed_in.caller).await?;
    let (email, csrf) = me(&signed_in);
    let open = answer.request.state == "requested";
    let mine = answer.request.requester == email;
    // The approve button only where the core would take the approval (someone else's open
    // request, the signed-in person an approver of it); the core checks it again on post.
    let approve = open
        && !mine
        && ops
            .access_requests(&signed_in.caller)
            .await?
            .to_approve
            .iter()
            .any(|r| r.id == answer.request.id);
    let now = ops.cases.journal.now();
    let left = answer
        .grant
        .as_ref()
        .filter(|g| g.state == "provisioned")
        .and_then(|g| g.expires_at.as_deref())
        .map(|at| time_left(at, now));
    let actions = RequestActions {
        approve,
        withdraw: open && mine,
    };
    let me = Me {
        email: &email,
        csrf: &csrf,
    };
    Ok(html(views::request(
        &me,
        &answer,
        &actions,
        left.as_deref(),
    )))
}

pub async fn grants(
    State(web): State<WebState>,
    signed_in: SignedIn,
    Query(filters): Query<GrantFilters>,
) -> Page {
    let everyone = web.is_approver(&signed_in.caller).await?;
    let journal = &web.app.ops.cases.journal;
    let mut rows: Vec<TransactionView> = if everyone {
        let mut all = Vec::new();
        let later = journal.now() + time::Duration::days(1);
        for state in GrantState::ALL {
            let records = journal
                .ledger
                .stale(Status::Grant(state), later, GRANTS_PER_STATE)
                .await
                .map_err(grant::ledger_error)?;
            all.extend(
                records
                    .iter()
                    .filter(|r| r.kind == "provision")
                    .filter_map(|r| grant::stored::decode(r).ok()),
            );
        }
        all.iter().map(wire::transaction_view).collect()
    } else {
        let key = format!("person:{}", signed_in.email());
        journal
            .by_run(&key)
            .await?
            .iter()
            .map(wire::transaction_view)
            .collect()
    };
    rows.retain(|row| matches_filters(row, &filters));
    rows.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    rows.truncate(200);
    let (email, csrf) = me(&signed_in);
    let me = Me {
        email: &email,
        csrf: &csrf,
    };
    Ok(html(views::grants(&me, &rows, &filters, everyone)))
}

fn matches_filters(row: &TransactionView, filters: &GrantFilters) -> bool {
    let wanted = |filter: &Option<String>| {
        filter
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_lowercase)
    };
    let has = |text: &str, filter: &Option<String>| {
        wanted(filter).is_none_or(|f| text.to_lowercase().contains(&f))
    };
    wanted(&filters.state).is_none_or(|s| row.state == s)
        && (has(&row.account_name, &filters.account) || has(&row.account_id, &filters.account))
        && has(&row.group_type, &filters.persona)
        && has(&row.requester, &filters.requester)
}

/// One transaction's timeline and whether the ledger's hash chain verifies: its owner, or an
/// approver (who sees every grant).
pub async fn transaction(
    State(web): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Page {
    let ops = &web.app.ops;
    let answer = if web.is_approver(&signed_in.caller).await? {
        let tid = TransactionId::parse(&id)?;
        let found = ops.cases.journal.find(&tid).await?;
        let grant = found.ok_or_else(|| grant::unknown_transaction(&tid))?;
        let events = ops.cases.journal.events(&tid).await?;
        wire::transaction_response(&grant, &events)
    } else {
        ops.transaction(&id, &signed_in.caller).await?
    };
    let chain = ops.verify_audit().await?;
    let (email, csrf) = me(&signed_in);
    let me = Me {
        email: &email,
        csrf: &csrf,
    };
    Ok(html(views::transaction(
        &me,
        &answer.transaction,
        &answer.events,
        &chain,
    )))
}

impl Web {
    /// The rules for `persona` on `account_id`, as the catalog says.
    pub(super) fn rules(&self, account_id: &str, persona: &str) -> Option<(String, &AccessRules)> {
        let catalog = &self.app.ops.cases.catalog;
        let account = catalog
            .accounts()
            .iter()
            .find(|a| a.id.as_str() == account_id)?;
        let persona = catalog
            .people()?
            .persona(&GroupType::parse(persona).ok()?)?;
        let environment = match account.environment {
            Environment::Prod => "prod",
            Environment::Nonprod => "nonprod",
        };
        Some((environment.to_owned(), persona.rules(account.environment)))
    }

    fn offer(&self, account_id: &str, persona: &str) -> Option<Offer> {
        let (environment, rules) = self.rules(account_id, persona)?;
        let account_name = self
            .app
            .ops
            .cases
            .catalog
            .accounts()
            .iter()
            .find(|a| a.id.as_str() == account_id)
            .map(|a| a.name.to_string())
            .unwrap_or_default();
        let mut sign_in: Vec<String> = rules.required_amr.clone();
        if let Some(acr) = &rules.required_acr {
            sign_in.push(format!("assurance level {acr}"));
        }
        if let Some(age) = rules.max_auth_age {
            sign_in.push(format!("within the last {}", format_duration(age)));
        }
        Some(Offer {
            account_id: account_id.to_owned(),
            account_name,
            environment,
            persona: persona.to_owned(),
            min_duration: format_duration(rules.min_duration),
            max_duration: format_duration(rules.max_duration),
            approvals: rules.approvals,
            approver_groups: rules.approver_groups.clone(),
            justification: rules.justification,
            ticket_pattern: rules.ticket_pattern.as_ref().map(|p| p.source.clone()),
            sign_in,
        })
    }

    /// Whether the person is in any approver group of the catalog right now: approvers see
    /// every grant (they answer for access), others their own.
    async fn is_approver(&self, caller: &Caller) -> Result<bool, BrokerError> {
        let (Some(person), Some(people), Some(access)) = (
            caller.person(),
            self.app.ops.cases.catalog.people(),
            self.app.ops.cases.people.as_ref(),
        ) else {
            return Ok(false);
        };
        let mut groups: Vec<&String> = people
            .personas()
            .flat_map(|p| {
                [Environment::Prod, Environment::Nonprod]
                    .into_iter()
                    .flat_map(move |env| p.rules(env).approver_groups.iter())
            })
            .collect();
        groups.sort();
        groups.dedup();
        let user = access
            .directory
            .user_by_email(&person.email)
            .await
            .map_err(grant::aws_error)?;
        let Some(user) = user else {
            return Ok(false);
        };
        for group in groups {
            let membership = access
                .directory
                .membership(&user, group)
                .await
                .map_err(grant::aws_error)?;
            if membership == Membership::Member {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The requester's earlier requests, in a line: how often they asked and how it ended.
    async fn history(&self, requester: &str, except: &str) -> String {
        let key = format!("person:{requester}");
        let Ok(records) = self.app.ops.cases.journal.ledger.by_run(&key).await else {
            return "unknown".to_owned();
        };
        let mut counts = std::collections::BTreeMap::<String, u32>::new();
        for record in records
            .iter()
            .filter(|r| r.kind == "request" && r.id.to_string() != except)
        {
            *counts.entry(record.status.as_str().to_owned()).or_default() += 1;
        }
        if counts.is_empty() {
            return "first request".to_owned();
        }
        let total: u32 = counts.values().sum();
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        format!("{total} earlier request(s): {}", parts.join(", "))
    }
}

/// "1h 12m left", or "ended".
pub fn time_left(expires_at: &str, now: OffsetDateTime) -> String {
    let Ok(at) = OffsetDateTime::parse(expires_at, &Rfc3339) else {
        return String::new();
    };
    let left = at - now;
    if left.is_negative() || left.is_zero() {
        return "ended".to_owned();
    }
    let secs = u64::try_from(left.whole_seconds()).unwrap_or_default();
    format!(
        "{} left",
        format_duration(std::time::Duration::from_secs(secs.max(60) / 60 * 60))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn row(state: &str, account: &str, persona: &str, requester: &str) -> TransactionView {
        serde_json::from_value(serde_json::json!({
            "id": "t", "kind": "provision", "state": state, "version": 1,
            "account_id": "111111111111", "account_name": account, "group_type": persona,
            "requester": requester, "branch": null, "role_name": "r", "role_arn": null,
            "ttl_seconds": 3600, "created_at": "x", "updated_at": "x", "expires_at": null,
        }))
        .unwrap()
    }

    #[test]
    fn filters_match_state_exactly_and_the_rest_by_part() {
        let grant = row(
            "provisioned",
            "workload-prod",
            "Product-Deployers",
            "alice@example.com",
        );
        let filters = |state: &str, account: &str, requester: &str| GrantFilters {
            state: Some(state.to_owned()),
            account: Some(account.to_owned()),
            persona: None,
            requester: Some(requester.to_owned()),
        };
        assert!(matches_filters(&grant, &GrantFilters::default()));
        assert!(matches_filters(
            &grant,
            &filters("provisioned", "prod", "ALICE")
        ));
        assert!(matches_filters(&grant, &filters("", "1111", "")));
        assert!(!matches_filters(&grant, &filters("provision", "", "")));
        assert!(!matches_filters(&grant, &filters("", "", "bob")));
    }

    #[test]
    fn time_left_is_in_minutes_and_says_when_it_ended() {
        let now = datetime!(2026-01-01 10:00:00 UTC);
        assert_eq!(time_left("2026-01-01T11:12:30Z", now), "1h12m left");
        assert_eq!(time_left("2026-01-01T09:00:00Z", now), "ended");
        assert_eq!(time_left("not a time", now), "");
    }
}
