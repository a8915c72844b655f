//! A policy document read loosely, as IAM accepts it: `Statement` an object or a list,
//! `Action`/`Resource` a string or a list, `Principal` `*` or a map of kinds to one or more
//! values, conditions with any JSON values. What cannot be read is an error sentence.

use std::collections::BTreeMap;

use serde_json::Value;

/// One statement of a policy, its elements as lists (absent stays `None`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Statement {
    /// `Sid`, or `Statement[i]` when it has none: how findings name the statement.
    pub label: String,
    pub allow: bool,
    pub actions: Option<Vec<String>>,
    pub not_actions: Option<Vec<String>>,
    pub resources: Option<Vec<String>>,
    pub not_resources: Option<Vec<String>>,
    pub principal: Option<Principal>,
    pub conditions: Vec<Condition>,
}

/// `Principal: *`, or principals by kind (`AWS`, `Service`, `Federated`, `CanonicalUser`).
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    Anyone,
    Named(BTreeMap<String, Vec<String>>),
}

impl Principal {
    /// The principals of one kind (`*` counts for every kind).
    pub fn of_kind(&self, kind: &str) -> Vec<String> {
        match self {
            Principal::Anyone => vec!["*".to_owned()],
            Principal::Named(map) => map.get(kind).cloned().unwrap_or_default(),
        }
    }
}

/// One `operator: { key: values }` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<Value>,
}

impl Condition {
    /// The values as text (numbers and booleans written as JSON writes them).
    pub fn texts(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    /// The operator without `ForAnyValue:`/`ForAllValues:` and `IfExists`.
    pub fn base_operator(&self) -> &str {
        let op = self.operator.as_str();
        let op = op
            .strip_prefix("ForAnyValue:")
            .or_else(|| op.strip_prefix("ForAllValues:"))
            .unwrap_or(op);
        op.strip_suffix("IfExists").unwrap_or(op)
    }
}

impl Statement {
    /// The conditions on `key` (condition keys are case-insensitive).
    pub fn conditions_on(&self, key: &str) -> impl Iterator<Item = &Condition> {
        self.conditions
            .iter()
            .filter(move |c| c.key.eq_ignore_ascii_case(key))
    }
}

/// The statements of a policy document given as JSON text.
pub fn parse_document(text: &str) -> Result<Vec<Statement>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the document is not JSON: {e}"))?;
    let statements = match value.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        Some(_) => return Err("`Statement` is neither an object nor a list".to_owned()),
        None => return Err("the document has no `Statement`".to_owned()),
    };
    statements
        .iter()
        .enumerate()
        .map(|(i, s)| statement(i, s))
        .collect()
}

fn statement(index: usize, value: &Value) -> Result<Statement, String> {
    let fallback = format!("Statement[{index}]");
    let label = match value.get("Sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => sid.to_owned(),
        _ => fallback.clone(),
    };
    let allow = match value.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        other => {
            return Err(format!(
                "{fallback}: `Effect` is {other:?}, not Allow or Deny"
            ));
        }
    };
    Ok(Statement {
        actions: strings(value, "Action", &fallback)?,
        not_actions: strings(value, "NotAction", &fallback)?,
        resources: strings(value, "Resource", &fallback)?,
        not_resources: strings(value, "NotResource", &fallback)?,
        principal: principal(value.get("Principal"), &fallback)?,
        conditions: conditions(value.get("Condition"), &fallback)?,
        label,
        allow,
    })
}

/// A string-or-list element as a list.
fn strings(value: &Value, key: &str, at: &str) -> Result<Option<Vec<String>>, String> {
    match value.get(key) {
        None => Ok(None),
        Some(v) => one_or_many(v)
            .map(Some)
            .ok_or_else(|| format!("{at}: `{key}` is not a string or a list of strings")),
    }
}

fn one_or_many(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(list) => list.iter().map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => None,
    }
}

fn principal(value: Option<&Value>, at: &str) -> Result<Option<Principal>, String> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) if s == "*" => Ok(Some(Principal::Anyone)),
        Some(Value::Object(map)) => {
            let mut kinds = BTreeMap::new();
            for (kind, v) in map {
                let values = one_or_many(v)
                    .ok_or_else(|| format!("{at}: `Principal.{kind}` is not a string or list"))?;
                kinds.insert(kind.clone(), values);
            }
            Ok(Some(Principal::Named(kinds)))
        }
        Some(_) => Err(format!("{at}: `Principal` is neither \"*\" nor an object")),
    }
}

fn conditions(value: Option<&Value>, at: &str) -> Result<Vec<Condition>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let Value::Object(operators) = value else {
        return Err(format!("{at}: `Condition` is not an object"));
    };
    let mut found = Vec::new();
    for (operator, block) in operators {
        let Value::Object(keys) = block else {
            return Err(format!("{at}: `Condition.{operator}` is not an object"));
        };
        for (key, values) in keys {
            let values = match values {
                Value::Array(list) => list.clone(),
                one => vec![one.clone()],
            };
            found.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                values,
            });
        }
    }
    Ok(found)
}
