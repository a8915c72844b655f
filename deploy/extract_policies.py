#!/usr/bin/env python3
"""Extract every IAM policy document from stint's CloudFormation templates as plain JSON.

Used by scripts/lint-deploy so that IAM linters (parliament, cloudsplaining), which read
policy JSON and know nothing of CloudFormation, can check the policies the templates deploy.

Intrinsic functions (!Ref, !Sub, !GetAtt, !Join, !If, !Select, !Split, ...) are resolved to
plausible concrete values: parameters take their default or a fake value from FAKE_PARAMETERS,
pseudo parameters a fixed fake account and region, and resources the name or ARN CloudFormation
would give them. A reference this script cannot resolve is an error, never a silent guess.

Usage: extract_policies.py OUT_DIR TEMPLATE...
Writes OUT_DIR/<template>.<Resource>.<policy>.json and OUT_DIR/manifest.json, a list of
{"file", "template", "resource", "policy", "kind", "parliament_file", "role_arn" (for a role's
policies)} where kind is one of
  identity             a role's inline policy or a managed policy that grants
  permissions-boundary a managed policy marked `Metadata: {StintLint: {Kind: permissions-boundary}}`
  provisioner          an inline policy of a role marked `Metadata: {StintLint: {Kind: provisioner}}`
                       (an identity policy that also gets check_policies.py's provisioner checks)
  trust                a role's AssumeRolePolicyDocument
and parliament_file is the file to give parliament (for a trust policy, a copy whose
statements name the role as their Resource, since parliament requires one).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "111111111111"
REGION = "us-east-1"
PARTITION = "aws"

# Values for parameters that have no default (they must be given at deploy time).
FAKE_PARAMETERS: dict[str, Any] = {
    "CodeBucket": "stint-artifacts-example",
    "CodeKeyPrefix": "stint/0123456789abcdef",
    "OrganizationId": "o-exampleorg1",
    "IdentityStoreId": "d-9067c3b2a1",
    "WorkflowSubject": "repo:acme/stint:environment:production",
    "ExternalId": "stint-external-id-example",
    "BrokerRoleArns": [
        "arn:aws:iam::999999999999:role/stint-broker/stint-provision",
        "arn:aws:iam::999999999999:role/stint-broker/stint-deprovision",
        "arn:aws:iam::999999999999:role/stint-broker/stint-reap",
    ],
}

PSEUDO = {
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Region": REGION,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "stint",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/stint/00000000-0000-0000-0000-000000000000",
    "AWS::NoValue": None,
}


class LintError(Exception):
    pass


# --- YAML with CloudFormation's short-form tags ----------------------------------------------


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(name: str):
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _short in ["Ref", "Condition"]:
    CfnLoader.add_constructor(f"!{_short}", _tag(_short))
for _short in [
    "Sub", "GetAtt", "Join", "If", "Select", "Split", "Equals", "Not", "And", "Or",
    "FindInMap", "ImportValue", "Base64", "GetAZs", "Cidr", "Length", "ToJsonString",
]:
    CfnLoader.add_constructor(f"!{_short}", _tag(f"Fn::{_short}"))


# --- Resolution -------------------------------------------------------------------------------


class Template:
    def __init__(self, path: Path):
        self.path = path
        self.doc = yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)
        self.resources: dict[str, Any] = self.doc.get("Resources", {})
        self.parameters: dict[str, Any] = {}
        for name, spec in self.doc.get("Parameters", {}).items():
            if "Default" in spec:
                value = spec["Default"]
                if spec.get("Type") == "CommaDelimitedList":
                    value = [v.strip() for v in str(value).split(",")]
            elif name in FAKE_PARAMETERS:
                value = FAKE_PARAMETERS[name]
            else:
                raise LintError(f"{path}: parameter {name} has no default and no fake value")
            self.parameters[name] = value
        self.conditions: dict[str, bool] = {}
        for name, expr in self.doc.get("Conditions", {}).items():
            self.conditions[name] = bool(self.resolve(expr))

    # A resource's properties, resolved.
    def prop(self, logical_id: str, name: str) -> Any:
        resource = self.resources[logical_id]
        value = resource.get("Properties", {}).get(name)
        if value is None:
            raise LintError(f"{self.path}: {logical_id} has no {name} to resolve a reference with")
        return self.resolve(value)

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.resources:
            raise LintError(f"{self.path}: !Ref {name}: no such parameter or resource")
        kind = self.resources[name]["Type"]
        if kind == "AWS::IAM::ManagedPolicy":
            path = self.resolve(self.resources[name]["Properties"].get("Path", "/"))
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:policy{path}{self.prop(name, 'ManagedPolicyName')}"
        if kind == "AWS::IAM::OIDCProvider":
            url = self.prop(name, "Url").removeprefix("https://")
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:oidc-provider/{url}"
        names = {
            "AWS::IAM::Role": "RoleName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Events::Rule": "Name",
        }
        if kind in names:
            return self.prop(name, names[kind])
        raise LintError(f"{self.path}: !Ref {name}: don't know what a {kind} resolves to")

    def get_att(self, name: str, attribute: str) -> Any:
        if name not in self.resources:
            raise LintError(f"{self.path}: !GetAtt {name}.{attribute}: no such resource")
        kind = self.resources[name]["Type"]
        if attribute == "Arn":
            if kind == "AWS::IAM::Role":
                path = self.resolve(self.resources[name]["Properties"].get("Path", "/"))
                return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role{path}{self.ref(name)}"
            if kind == "AWS::DynamoDB::Table":
                return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{self.ref(name)}"
            if kind == "AWS::Lambda::Function":
                return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{self.ref(name)}"
            if kind == "AWS::Logs::LogGroup":
                return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT_ID}:log-group:{self.ref(name)}:*"
            if kind == "AWS::Events::Rule":
                return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT_ID}:rule/{self.ref(name)}"
        raise LintError(f"{self.path}: !GetAtt {name}.{attribute}: don't know a {kind}'s {attribute}")

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                value = variables[inner]
            elif "." in inner and inner.split(".", 1)[0] in self.resources:
                value = self.get_att(*inner.split(".", 1))
            else:
                value = self.ref(inner)
            if not isinstance(value, str):
                raise LintError(f"{self.path}: !Sub ${{{inner}}} is not a string: {value!r}")
            return value

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.conditions[arg]
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(self.resolve(items))
            if key == "Fn::Split":
                separator, text = arg
                return self.resolve(text).split(separator)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::If":
                condition, if_true, if_false = arg
                return self.resolve(if_true if self.conditions[condition] else if_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key.startswith("Fn::"):
                raise LintError(f"{self.path}: {key} is not supported by the policy extractor")
        return {k: self.resolve(v) for k, v in value.items()}


def _filename_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def extract(template_path: Path, out_dir: Path) -> list[dict[str, str]]:
    template = Template(template_path)
    stem = template_path.stem
    found: list[dict[str, str]] = []

    def emit(resource: str, policy: str, kind: str, document: Any) -> None:
        document = template.resolve(document)
        if not isinstance(document, dict) or "Statement" not in document:
            raise LintError(f"{template_path}: {resource}/{policy} is not a policy document")
        name = f"{stem}.{_filename_part(resource)}.{_filename_part(policy)}.json"
        (out_dir / name).write_text(json.dumps(document, indent=2) + "\n")
        entry = {"file": name, "template": str(template_path), "resource": resource,
                 "policy": policy, "kind": kind, "parliament_file": name}
        if template.resources[resource]["Type"] == "AWS::IAM::Role":
            entry["role_arn"] = template.get_att(resource, "Arn")
        if kind == "trust":
            # A trust policy is the role's resource policy; IAM leaves out its Resource (the
            # role itself). Parliament needs one, so it gets a copy that names the role.
            role_arn = template.get_att(resource, "Arn")
            copy = json.loads(json.dumps(document))
            for statement in copy["Statement"] if isinstance(copy["Statement"], list) else [copy["Statement"]]:
                statement.setdefault("Resource", role_arn)
            entry["parliament_file"] = name.removesuffix(".json") + ".as-resource-policy.json"
            (out_dir / entry["parliament_file"]).write_text(json.dumps(copy, indent=2) + "\n")
        found.append(entry)

    # Every resource, whatever its condition says under the default parameters: all that a
    # stack can deploy is linted.
    for logical_id, resource in template.resources.items():
        kind = resource.get("Type")
        props = resource.get("Properties", {})
        marked = (resource.get("Metadata") or {}).get("StintLint", {}).get("Kind")
        if kind == "AWS::IAM::Role":
            emit(logical_id, "AssumeRolePolicyDocument", "trust", props["AssumeRolePolicyDocument"])
            for policy in props.get("Policies", []):
                emit(logical_id, template.resolve(policy["PolicyName"]), marked or "identity", policy["PolicyDocument"])
        elif kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
            name = props.get("ManagedPolicyName") or props.get("PolicyName") or logical_id
            emit(logical_id, template.resolve(name), marked or "identity", props["PolicyDocument"])
        elif any(key.endswith("PolicyDocument") for key in props):
            raise LintError(f"{template_path}: {logical_id} ({kind}) holds a policy the extractor does not know")
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: extract_policies.py OUT_DIR TEMPLATE...", file=sys.stderr)
        return 2
    out_dir = Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: list[dict[str, str]] = []
    try:
        for template in argv[2:]:
            manifest.extend(extract(Path(template), out_dir))
    except LintError as error:
        print(f"extract_policies: {error}", file=sys.stderr)
        return 1
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for entry in manifest:
        print(f"{entry['kind']:<21} {entry['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
