#!/usr/bin/env python3
"""stint's own checks on the policies extract_policies.py wrote, for scripts/lint-deploy.

  check_policies.py parliament-trust FILE < parliament --json output
      Parliament has no model of OIDC identity providers: it reports every
      `oidc-provider/...` principal as an unknown federation source and every provider
      condition key (`token.actions.githubusercontent.com:aud`/`:sub`) as unknown for
      sts:AssumeRoleWithWebIdentity. Exactly those findings, for GitHub's provider in a trust
      policy, are set aside (printed as suppressed); any other finding fails. The
      `trust` check below checks those very keys instead.

  check_policies.py trust FILE
      Trust policies (which parliament and cloudsplaining's scan-policy-file do not
      understand): no wildcard principals; AWS principals only as exact role ARNs with
      sts:ExternalId and aws:PrincipalOrgID; GitHub's OIDC provider only with StringEquals on
      the audience sts.amazonaws.com and an exact `sub`; services only lambda.amazonaws.com.

  check_policies.py provisioner FILE ROLE_ARN
      The provisioner role's policy: it allows only the IAM calls stint makes, only on
      role/stint/*; CreateRole, PutRolePolicy and AttachRolePolicy only with
      ArnEquals iam:PermissionsBoundary (one boundary), AttachRolePolicy only with an exact
      iam:PolicyARN allow-list; and it explicitly denies editing the boundary, removing or
      replacing a role's boundary, passing roles, making access keys or passwords, and every
      IAM write (from the IAM action catalog) that can target its own role.

  check_policies.py cloudsplaining-boundary FILE
      A permissions boundary allows `*` and takes away with Deny statements: it grants nothing
      by itself, so cloudsplaining's findings are about the ceiling, not about a grant. This
      check fails when the ceiling leaves anything of the control plane stint fences off:
        - a privilege-escalation path or a credentials-returning action of IAM, STS,
          Organizations, Account or Identity Center (cloudsplaining applies Deny statements
          for these categories);
        - a resource-exposure action of those services that no unconditional Deny covers
          (cloudsplaining ignores Deny statements for resource exposure, so that list alone
          only restates `Allow *`; the Deny statements are applied here);
        - any IAM, Organizations or Account write, permissions-management or tagging action
          in the IAM action catalog (policy_sentry's) that no unconditional Deny covers, or a
          read or list action of those services that one does (reads stay available).
      sts:AssumeRoleWithSAML and sts:AssumeRoleWithWebIdentity are unsigned calls that no
      identity policy governs, and are printed as accepted.
      Everything else cloudsplaining reports for the ceiling (data exfiltration, escalation
      through compute that already runs in the account, service wildcards, unconstrained
      modification) is what the personas decide, and is printed as accepted.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from pathlib import Path
from typing import Any

GITHUB_PROVIDER = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$")
GITHUB_HOST = "token.actions.githubusercontent.com"
ALLOWED_SERVICES = {"lambda.amazonaws.com"}
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
# What a stint permissions boundary must keep out of reach.
CONTROL_PLANE = ("iam", "sts", "organizations", "account", "sso", "sso-directory", "identitystore")
# STS calls made without AWS credentials: no identity policy (so no boundary) applies to them.
UNSIGNED_STS = {"sts:assumerolewithsaml", "sts:assumerolewithwebidentity"}
# Services whose every non-read action the boundary must deny (and whose reads it must leave).
WRITE_FENCED = ("iam", "organizations", "account")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def load(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


# --- parliament on trust policies -------------------------------------------------------------


def parliament_trust(path: str) -> int:
    policy = load(path)
    github = any(
        GITHUB_PROVIDER.match(p)
        for s in as_list(policy.get("Statement"))
        for p in as_list((s.get("Principal") or {}).get("Federated") if isinstance(s.get("Principal"), dict) else None)
    )
    known = [
        ("UNKNOWN_FEDERATION_SOURCE", GITHUB_PROVIDER),
        (
            "UNKNOWN_CONDITION_FOR_ACTION",
            re.compile(rf"^Unknown condition {re.escape(GITHUB_HOST)}:(aud|sub) for action sts:AssumeRoleWithWebIdentity$"),
        ),
    ]
    failed = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            finding = json.loads(line)
        except json.JSONDecodeError:
            print(f"  parliament: {line}")
            failed += 1
            continue
        issue, detail = finding.get("issue", ""), str(finding.get("detail", ""))
        if github and any(issue == k and pattern.match(detail) for k, pattern in known):
            print(f"  suppressed (parliament has no OIDC provider model): {issue}: {detail}")
            continue
        print(f"  parliament {finding.get('severity')} {issue}: {finding.get('title')} {detail} {finding.get('location')}")
        failed += 1
    return 1 if failed else 0


# --- trust policies -----------------------------------------------------------------------------


def trust(path: str) -> int:
    policy = load(path)
    problems: list[str] = []
    for index, statement in enumerate(as_list(policy.get("Statement"))):
        where = statement.get("Sid") or f"statement {index}"
        if statement.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in statement or "NotAction" in statement:
            problems.append(f"{where}: NotPrincipal/NotAction in a trust policy")
        principal = statement.get("Principal")
        if not isinstance(principal, dict):
            problems.append(f"{where}: principal {principal!r} is not a list of named principals")
            continue
        actions = set(as_list(statement.get("Action")))
        condition = statement.get("Condition") or {}
        equals = condition.get("StringEquals", {})
        for kind, values in principal.items():
            for value in as_list(values):
                if "*" in value or "?" in value:
                    problems.append(f"{where}: wildcard principal {value}")
                elif kind == "Service":
                    if value not in ALLOWED_SERVICES:
                        problems.append(f"{where}: service principal {value} not expected")
                    if actions != {"sts:AssumeRole"}:
                        problems.append(f"{where}: a service may only sts:AssumeRole, not {sorted(actions)}")
                elif kind == "AWS":
                    if not ROLE_ARN.match(value):
                        problems.append(f"{where}: AWS principal {value} is not an exact role ARN")
                    if actions - {"sts:AssumeRole", "sts:SetSourceIdentity"}:
                        problems.append(f"{where}: unexpected actions {sorted(actions)}")
                    for key in ("sts:ExternalId", "aws:PrincipalOrgID"):
                        if not equals.get(key) or any(c in str(equals[key]) for c in "*?"):
                            problems.append(f"{where}: AWS principals need StringEquals {key}")
                elif kind == "Federated":
                    if not GITHUB_PROVIDER.match(value):
                        problems.append(f"{where}: federated principal {value} is not GitHub's OIDC provider")
                    if actions != {"sts:AssumeRoleWithWebIdentity"}:
                        problems.append(f"{where}: GitHub OIDC may only sts:AssumeRoleWithWebIdentity")
                    if set(condition) != {"StringEquals"}:
                        problems.append(f"{where}: GitHub OIDC conditions must be StringEquals only, not {sorted(condition)}")
                    if equals.get(f"{GITHUB_HOST}:aud") != "sts.amazonaws.com":
                        problems.append(f"{where}: audience must be exactly sts.amazonaws.com")
                    sub = equals.get(f"{GITHUB_HOST}:sub")
                    if not isinstance(sub, str) or not sub.startswith("repo:") or any(c in sub for c in "*?"):
                        problems.append(f"{where}: subject must be one exact repo:... value, not {sub!r}")
                else:
                    problems.append(f"{where}: principal kind {kind} not expected")
    for problem in problems:
        print(f"  trust: {problem}")
    return 1 if problems else 0


# --- cloudsplaining on a permissions boundary ---------------------------------------------------


def _service(action: str) -> str:
    return action.split(":", 1)[0].lower()


def cloudsplaining_boundary(path: str) -> int:
    from cloudsplaining.command.scan_policy_file import scan_policy
    from cloudsplaining.shared.constants import PRIVILEGE_ESCALATION_METHODS
    from policy_sentry.querying.actions import get_actions_with_access_level

    policy = load(path)
    statements = as_list(policy.get("Statement"))
    # Unconditional Deny statements on every resource: what the boundary always takes away.
    deny_patterns = [
        pattern.lower()
        for s in statements
        if s.get("Effect") == "Deny" and not s.get("Condition") and as_list(s.get("Resource")) == ["*"]
        for pattern in as_list(s.get("Action"))
    ]

    def denied(action: str) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), p) for p in deny_patterns)

    results = scan_policy(policy)
    failures: list[str] = []
    accepted: list[str] = []

    def findings(category: str) -> list[Any]:
        block = results.get(category) or {}
        return list(block.get("findings") or [])

    escalations = findings("PrivilegeEscalation")
    bad = [e for e in escalations if any(_service(a) in CONTROL_PLANE for a in e.get("actions", []))]
    failures += [f"privilege escalation {e['type']}: {', '.join(e['actions'])}" for e in bad]
    others = sorted(e["type"] for e in escalations if e not in bad)
    if others:
        accepted.append(
            f"{len(others)} escalation paths through compute already running in the account "
            f"(a boundary cannot stop them; personas must): {', '.join(others)}"
        )
    # Every escalation method built only from control-plane actions must be gone entirely.
    for name, actions in PRIVILEGE_ESCALATION_METHODS.items():
        if all(_service(a) in CONTROL_PLANE for a in actions) and not any(denied(a) for a in actions):
            failures.append(f"escalation method {name} ({', '.join(actions)}) is not denied")

    credentials = findings("CredentialsExposure")
    unsigned = sorted(a for a in credentials if a.lower() in UNSIGNED_STS)
    if unsigned:
        accepted.append(
            f"{', '.join(unsigned)}: unsigned calls (the caller presents a SAML assertion or web identity token, "
            "not AWS credentials), so no identity policy or boundary governs them; the assumed role's trust does"
        )
    credentials = [a for a in credentials if a.lower() not in UNSIGNED_STS]
    failures += [f"credentials exposure: {a}" for a in credentials if _service(a) in CONTROL_PLANE]
    rest = [a for a in credentials if _service(a) not in CONTROL_PLANE]
    if rest:
        accepted.append(f"{len(rest)} credential-returning actions of workload services: {', '.join(sorted(rest))}")

    exposure = findings("ResourceExposure")
    failures += [
        f"resource exposure not denied: {a}" for a in exposure if _service(a) in CONTROL_PLANE and not denied(a)
    ]
    accepted.append(
        f"{sum(1 for a in exposure if _service(a) not in CONTROL_PLANE)} resource-exposure actions of workload "
        "services (cloudsplaining lists these from `Allow *` without applying Deny statements)"
    )
    exfiltration = findings("DataExfiltration")
    if exfiltration:
        accepted.append(f"data exfiltration (the persona decides): {', '.join(sorted(exfiltration))}")
    accepted.append(
        f"{len(findings('ServiceWildcard'))} service wildcards and {len(findings('InfrastructureModification'))} "
        "unconstrained modify actions (the `Allow *` ceiling itself)"
    )

    # Completeness against the IAM action catalog.
    for service in WRITE_FENCED:
        for level in ("Write", "Permissions management", "Tagging"):
            for action in get_actions_with_access_level(service, level):
                if not denied(action):
                    failures.append(f"{level} action {action} is not denied")
        for level in ("Read", "List"):
            for action in get_actions_with_access_level(service, level):
                if denied(action):
                    failures.append(f"{level} action {action} is denied (reads should stay available)")

    for line in accepted:
        print(f"  accepted for a boundary: {line}")
    for line in failures:
        print(f"  boundary: {line}")
    if not failures:
        print(f"  boundary: every {'/'.join(WRITE_FENCED)} write denied, reads left; no control-plane escalation, "
              "credentials or resource exposure")
    return 1 if failures else 0


# --- the provisioner role -----------------------------------------------------------------------

# Everything the provisioner may be allowed: what stint's IamRoleProvisioner calls.
PROVISIONER_ACTIONS = {
    "iam:CreateRole", "iam:TagRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:GetRole",
    "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListRoleTags",
    "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:DeleteRole", "iam:ListRoles",
}
# Allowed only with the boundary condition.
BOUNDED_ACTIONS = {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"}
CREDENTIAL_ACTIONS = [
    "iam:PassRole", "iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile", "iam:CreateServiceSpecificCredential", "iam:ResetServiceSpecificCredential",
]


def provisioner(path: str, role_arn: str) -> int:
    from policy_sentry.querying.actions import get_action_data, get_actions_with_access_level

    statements = as_list(load(path).get("Statement"))
    account = role_arn.split(":")[4]
    partition = role_arn.split(":")[1]
    stint_roles = f"arn:{partition}:iam::{account}:role/stint/*"
    problems: list[str] = []

    def denied(action: str, resource: str) -> bool:
        return any(
            s.get("Effect") == "Deny"
            and not s.get("Condition")
            and any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in as_list(s.get("Action")))
            and any(fnmatch.fnmatchcase(resource, r) for r in as_list(s.get("Resource")))
            for s in statements
        )

    boundaries: set[str] = set()
    for index, s in enumerate(statements):
        where = s.get("Sid") or f"statement {index}"
        if s.get("Effect") != "Allow":
            continue
        if "NotAction" in s or "NotResource" in s:
            problems.append(f"{where}: NotAction/NotResource in an Allow")
        actions = set(as_list(s.get("Action")))
        if actions - PROVISIONER_ACTIONS:
            problems.append(f"{where}: allows {sorted(actions - PROVISIONER_ACTIONS)}, beyond what stint calls")
        resources = as_list(s.get("Resource"))
        if actions - {"iam:ListRoles"} and resources != [stint_roles]:
            problems.append(f"{where}: role actions must be on {stint_roles} only, not {resources}")
        if actions & BOUNDED_ACTIONS:
            arn_equals = (s.get("Condition") or {}).get("ArnEquals", {})
            boundary = arn_equals.get("iam:PermissionsBoundary")
            if not isinstance(boundary, str) or "*" in boundary:
                problems.append(f"{where}: {sorted(actions & BOUNDED_ACTIONS)} need ArnEquals iam:PermissionsBoundary")
            else:
                boundaries.add(boundary)
            if "iam:AttachRolePolicy" in actions:
                allowed = as_list(arn_equals.get("iam:PolicyARN"))
                if not allowed or any("*" in a or "?" in a for a in allowed):
                    problems.append(f"{where}: AttachRolePolicy needs ArnEquals iam:PolicyARN with exact ARNs")
    if len(boundaries) != 1:
        problems.append(f"the boundary conditions name {sorted(boundaries) or 'no policy'}, not one boundary")
    for boundary in boundaries:
        for action in ("iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                       "iam:SetDefaultPolicyVersion"):
            if not denied(action, boundary):
                problems.append(f"{action} on the boundary {boundary} is not explicitly denied")
    for action in ("iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary"):
        if not denied(action, f"arn:{partition}:iam::{account}:role/stint/stint-example"):
            problems.append(f"{action} on {stint_roles} is not explicitly denied")
    for action in CREDENTIAL_ACTIONS:
        if not denied(action, "*"):
            problems.append(f"{action} is not explicitly denied on every resource")
    # Every IAM write that can name a role is denied on the provisioner's own role.
    for level in ("Write", "Permissions management", "Tagging"):
        for action in get_actions_with_access_level("iam", level):
            formats = [d.get("resource_arn_format", "") for d in get_action_data("iam", action.split(":")[1]).get("iam", [])]
            if any(":role/" in f for f in formats) and not denied(action, role_arn):
                problems.append(f"{action} on the provisioner role itself is not explicitly denied")
    for problem in problems:
        print(f"  provisioner: {problem}")
    if not problems:
        print(f"  provisioner: allows only stint's calls, on role/stint/* with the boundary; denies boundary edits, "
              f"boundary removal, credentials and every role write on itself")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    commands = {
        "parliament-trust": (parliament_trust, 1),
        "trust": (trust, 1),
        "cloudsplaining-boundary": (cloudsplaining_boundary, 1),
        "provisioner": (provisioner, 2),
    }
    if len(argv) < 3 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        print(f"usage: check_policies.py {{{','.join(commands)}}} FILE [ROLE_ARN]", file=sys.stderr)
        return 2
    command, _ = commands[argv[1]]
    return command(*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
