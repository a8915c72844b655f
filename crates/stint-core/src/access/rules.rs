//! The rules of people's access, as pure functions over the catalog's `AccessRules`: what a
//! request must say, how fresh and strong a sign-in must be, and who may approve. The use
//! cases call these before anything is written, so a refusal changes nothing.

use std::time::Duration;

use time::OffsetDateTime;

use crate::catalog::AccessRules;
use crate::error::{BrokerError, ErrorCode};
use crate::subject::PersonClaims;

use super::request::AccessRequest;

/// The sign-in behind `person`'s token meets the rules: every required `amr` value, the
/// required `acr`, and no older than `max_auth_age`.
pub fn check_sign_in(
    rules: &AccessRules,
    person: &PersonClaims,
    now: OffsetDateTime,
) -> Result<(), BrokerError> {
    let missing: Vec<&str> = rules
        .required_amr
        .iter()
        .filter(|method| !person.amr.contains(method))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(BrokerError::new(
            ErrorCode::MfaRequired,
            format!(
                "this needs a sign-in with {} (the token's amr has {}); sign in again with it",
                missing.join(" and "),
                if person.amr.is_empty() {
                    "none".to_owned()
                } else {
                    person.amr.join(", ")
                }
            ),
        ));
    }
    if let Some(acr) = &rules.required_acr
        && person.acr.as_ref() != Some(acr)
    {
        return Err(BrokerError::new(
            ErrorCode::MfaRequired,
            format!("this needs a sign-in at assurance level {acr}"),
        ));
    }
    if let Some(max_age) = rules.max_auth_age {
        let fresh = person
            .auth_time
            .is_some_and(|at| now - at <= time::Duration::try_from(max_age).unwrap_or_default());
        if !fresh {
            return Err(BrokerError::new(
                ErrorCode::ReauthenticationRequired,
                format!(
                    "this needs a sign-in within the last {} minutes; sign in again",
                    max_age.as_secs() / 60
                ),
            ));
        }
    }
    Ok(())
}

/// The rules a break-glass request is held to: no approvals, at most the break-glass duration,
/// always a reason; the sign-in rules stay as they are.
pub fn break_glass(rules: &AccessRules) -> Result<AccessRules, BrokerError> {
    let longest = rules.break_glass.ok_or_else(|| {
        BrokerError::new(
            ErrorCode::BreakGlassNotAllowed,
            "break-glass is not allowed for this persona here; ask for approval instead",
        )
    })?;
    Ok(AccessRules {
        max_duration: longest,
        approvals: 0,
        justification: true,
        ..rules.clone()
    })
}

/// The longest approval comment, in characters.
pub const COMMENT_MAX: usize = 500;

/// An approver's comment, trimmed; empty is none.
pub fn check_comment(comment: Option<&str>) -> Result<Option<String>, BrokerError> {
    let Some(comment) = comment.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    if comment.chars().count() > COMMENT_MAX {
        return Err(BrokerError::new(
            ErrorCode::MalformedRequest,
            format!("the comment is longer than {COMMENT_MAX} characters"),
        ));
    }
    Ok(Some(comment.to_owned()))
}

/// What a request says meets the rules: a duration within bounds, a justification and a
/// ticket where required.
pub fn check_ask(
    rules: &AccessRules,
    duration: Duration,
    reason: &str,
    ticket: Option<&str>,
) -> Result<(), BrokerError> {
    if duration < rules.min_duration {
        return Err(BrokerError::new(
            ErrorCode::InvalidDuration,
            format!(
                "a grant here lasts at least {}",
                crate::catalog::format_duration(rules.min_duration)
            ),
        ));
    }
    if duration > rules.max_duration {
        return Err(BrokerError::new(
            ErrorCode::DurationTooLong,
            format!(
                "at most {} here; ask for less",
                crate::catalog::format_duration(rules.max_duration)
            ),
        ));
    }
    if rules.justification && reason.trim().is_empty() {
        return Err(BrokerError::new(
            ErrorCode::JustificationRequired,
            "say why you need this access (`reason`)",
        ));
    }
    if let Some(pattern) = &rules.ticket_pattern {
        match ticket.map(str::trim).filter(|t| !t.is_empty()) {
            None => {
                return Err(BrokerError::new(
                    ErrorCode::TicketRequired,
                    format!("name the ticket (`ticket`, like {})", pattern.source),
                ));
            }
            Some(ticket) if !pattern.matches(ticket) => {
                return Err(BrokerError::new(
                    ErrorCode::InvalidTicket,
                    format!("ticket {ticket:?} does not match {}", pattern.source),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Someone who would approve: as signed in, as the identity store knows them, and whether
/// they are in one of the rules' approver groups right now.
pub struct Approver<'a> {
    pub person: &'a PersonClaims,
    pub user_id: &'a str,
    pub in_approver_group: bool,
}

/// Where a request stands after an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// More approvals are needed.
    Pending { have: u32, need: u32 },
    /// Enough: the grant starts.
    Approved,
}

/// Whether `approver` may approve `request` (asked by the user `requester_user_id`) now,
/// and what it comes to. Never the requester (by email or by user id); only a member of an
/// approver group; each approver once; only while the request waits.
pub fn check_approval(
    request: &AccessRequest,
    rules: &AccessRules,
    approver: &Approver<'_>,
    requester_user_id: &str,
    now: OffsetDateTime,
) -> Result<Tally, BrokerError> {
    check_open(request, now)?;
    let person = approver.person;
    if person.email == request.terms.requester || approver.user_id == requester_user_id {
        return Err(BrokerError::new(
            ErrorCode::SelfApproval,
            format!(
                "{} asked for this; someone else must approve it",
                person.email
            ),
        ));
    }
    if !approver.in_approver_group {
        return Err(BrokerError::new(
            ErrorCode::NotAnApprover,
            format!(
                "{} is not in an approver group for this ({})",
                person.email,
                rules.approver_groups.join(", ")
            ),
        ));
    }
    let counted = request.approvals.iter().any(|a| {
        a.approver == person.email.as_str() || a.user_id.as_deref() == Some(approver.user_id)
    });
    if counted {
        return Err(BrokerError::new(
            ErrorCode::AlreadyApproved,
            format!("{} has approved this already", person.email),
        ));
    }
    check_sign_in(rules, person, now)?;
    let have = u32::try_from(request.approvals.len()).unwrap_or(u32::MAX) + 1;
    Ok(if have >= rules.approvals {
        Tally::Approved
    } else {
        Tally::Pending {
            have,
            need: rules.approvals,
        }
    })
}

/// The request still waits for an answer.
pub fn check_open(request: &AccessRequest, now: OffsetDateTime) -> Result<(), BrokerError> {
    if request.state != crate::record::RequestState::Requested {
        return Err(BrokerError::new(
            ErrorCode::NotPending,
            format!(
                "request {} is {}, not waiting for an answer",
                request.id, request.state
            ),
        ));
    }
    if now >= request.answer_by {
        return Err(BrokerError::new(
            ErrorCode::RequestExpired,
            format!("request {} was not answered in time", request.id),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::access::{Approval, RequestTerms};
    use crate::catalog::{Catalog, Environment};
    use crate::grant::Target;
    use crate::ids::{AccountId, AccountName, Email, GroupType, TransactionId};

    const NOW: OffsetDateTime = datetime!(2026-12-03 10:00:00 UTC);

    fn prod_rules() -> AccessRules {
        let catalog =
            Catalog::from_toml(include_str!("../../../../examples/catalog.toml")).unwrap();
        let persona = GroupType::parse("Product-Deployers").unwrap();
        let people = catalog.people().unwrap();
        people
            .persona(&persona)
            .unwrap()
            .rules(Environment::Prod)
            .clone()
    }

    fn person(email: &str, amr: &[&str], signed_in_ago: i64) -> PersonClaims {
        PersonClaims {
            email: Email::parse(email).unwrap(),
            subject: format!("sub-{email}"),
            amr: amr.iter().map(|a| (*a).to_owned()).collect(),
            acr: None,
            auth_time: Some(NOW - time::Duration::minutes(signed_in_ago)),
        }
    }

    fn request() -> AccessRequest {
        let terms = RequestTerms {
            requester: Email::parse("alice@example.com").unwrap(),
            target: Target {
                account_id: AccountId::parse("333333333333").unwrap(),
                account_name: AccountName::parse("workload-prod").unwrap(),
                persona: GroupType::parse("Product-Deployers").unwrap(),
            },
            duration_seconds: 3600,
            reason: "INC-42".into(),
            ticket: Some("INC-42".into()),
            break_glass: false,
        };
        let id = TransactionId::new_at(1_764_756_000, 0);
        AccessRequest::new(id, terms, NOW, NOW + time::Duration::hours(1))
    }

    fn code<T: std::fmt::Debug>(result: Result<T, BrokerError>) -> ErrorCode {
        result.unwrap_err().code
    }

    #[test]
    fn production_needs_a_fresh_mfa_sign_in() {
        let rules = prod_rules();
        assert!(check_sign_in(&rules, &person("a@example.com", &["pwd", "mfa"], 5), NOW).is_ok());
        let no_mfa = person("a@example.com", &["pwd"], 5);
        assert_eq!(
            code(check_sign_in(&rules, &no_mfa, NOW)),
            ErrorCode::MfaRequired
        );
        let stale = person("a@example.com", &["mfa"], 16);
        assert_eq!(
            code(check_sign_in(&rules, &stale, NOW)),
            ErrorCode::ReauthenticationRequired
        );
        let mut unknown = person("a@example.com", &["mfa"], 0);
        unknown.auth_time = None;
        assert_eq!(
            code(check_sign_in(&rules, &unknown, NOW)),
            ErrorCode::ReauthenticationRequired
        );
    }

    #[test]
    fn a_request_says_why_names_its_ticket_and_stays_within_the_maximum() {
        let rules = prod_rules();
        let hour = Duration::from_secs(3600);
        assert!(check_ask(&rules, hour, "restart payments", Some("INC-42")).is_ok());
        let cases = [
            (
                check_ask(&rules, 3 * hour, "x", Some("INC-1")),
                ErrorCode::DurationTooLong,
            ),
            (
                check_ask(&rules, Duration::from_secs(60), "x", Some("INC-1")),
                ErrorCode::InvalidDuration,
            ),
            (
                check_ask(&rules, hour, "  ", Some("INC-1")),
                ErrorCode::JustificationRequired,
            ),
            (
                check_ask(&rules, hour, "x", None),
                ErrorCode::TicketRequired,
            ),
            (
                check_ask(&rules, hour, "x", Some("JIRA-1")),
                ErrorCode::InvalidTicket,
            ),
        ];
        for (result, expected) in cases {
            assert_eq!(code(result), expected);
        }
    }

    #[test]
    fn nobody_approves_their_own_request_and_each_approver_counts_once() {
        let rules = prod_rules();
        let asked = request();
        let bob = person("bob@example.com", &["mfa"], 1);
        let approver = |person: &'static PersonClaims, user_id: &'static str, member| Approver {
            person,
            user_id,
            in_approver_group: member,
        };
        let bob: &'static PersonClaims = Box::leak(Box::new(bob));
        assert_eq!(
            check_approval(
                &asked,
                &rules,
                &approver(bob, "u-bob", true),
                "u-alice",
                NOW
            )
            .unwrap(),
            Tally::Approved
        );
        // Alice, even through a second login with another email but the same directory user.
        let alice: &'static PersonClaims =
            Box::leak(Box::new(person("alice@example.com", &["mfa"], 1)));
        let alias: &'static PersonClaims =
            Box::leak(Box::new(person("a.l@example.com", &["mfa"], 1)));
        for who in [
            approver(alice, "u-alice", true),
            approver(alias, "u-alice", true),
        ] {
            assert_eq!(
                code(check_approval(&asked, &rules, &who, "u-alice", NOW)),
                ErrorCode::SelfApproval
            );
        }
        assert_eq!(
            code(check_approval(
                &asked,
                &rules,
                &approver(bob, "u-bob", false),
                "u-alice",
                NOW
            )),
            ErrorCode::NotAnApprover
        );
        let mut approved_once = asked.clone();
        approved_once.approvals.push(Approval {
            approver: "bob@example.com".into(),
            user_id: Some("u-bob".into()),
            at: NOW,
            comment: None,
        });
        let mut two = rules.clone();
        two.approvals = 2;
        assert_eq!(
            code(check_approval(
                &approved_once,
                &two,
                &approver(bob, "u-bob", true),
                "u-alice",
                NOW
            )),
            ErrorCode::AlreadyApproved
        );
        let carol: &'static PersonClaims =
            Box::leak(Box::new(person("carol@example.com", &["pwd"], 1)));
        assert_eq!(
            code(check_approval(
                &asked,
                &rules,
                &approver(carol, "u-carol", true),
                "u-alice",
                NOW
            )),
            ErrorCode::MfaRequired,
            "approving production needs MFA too"
        );
        let late = NOW + time::Duration::hours(2);
        assert_eq!(
            code(check_approval(
                &asked,
                &rules,
                &approver(bob, "u-bob", true),
                "u-alice",
                late
            )),
            ErrorCode::RequestExpired
        );
        let dave: &'static PersonClaims =
            Box::leak(Box::new(person("dave@example.com", &["mfa"], 1)));
        assert_eq!(
            check_approval(
                &asked,
                &two,
                &approver(dave, "u-dave", true),
                "u-alice",
                NOW
            )
            .unwrap(),
            Tally::Pending { have: 1, need: 2 }
        );
    }

    #[test]
    fn an_approval_comment_is_trimmed_and_bounded() {
        assert_eq!(
            check_comment(Some("  read it ")).unwrap(),
            Some("read it".into())
        );
        assert_eq!(check_comment(Some("   ")).unwrap(), None);
        let long = "x".repeat(COMMENT_MAX + 1);
        let refused = check_comment(Some(&long)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::MalformedRequest);
    }
}
