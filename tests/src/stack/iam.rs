//! The functions' roles as the expanded template grants them, and the check of every
//! recorded AWS request against its function's role: actions and resources by IAM's
//! wildcard rules, and the `dynamodb:LeadingKeys` conditions the template uses.

use super::recorder::Call;
use serde_json::Value;

/// One `Allow` statement, resolved.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Its `Sid`, for messages.
    pub sid: String,
    /// Actions (`dynamodb:GetItem`, `kms:*`).
    pub actions: Vec<String>,
    /// Resource ARNs (wildcards allowed).
    pub resources: Vec<String>,
    /// `ForAllValues:StringLike` on `dynamodb:LeadingKeys`, when present.
    pub leading_keys: Option<Vec<String>>,
}

/// What managed policies the translator attaches grant, as far as a function's own code
/// goes: logging only (the SQS poller's rights belong to the event source mapping).
const MANAGED: [(&str, &[&str]); 2] = [
    ("AWSLambdaBasicExecutionRole", &["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]),
    ("AWSLambdaSQSQueueExecutionRole", &[]),
];

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

/// A role's statements from its resolved `AWS::IAM::Role` properties.
pub fn statements(role: &Value) -> anyhow::Result<Vec<Statement>> {
    let mut out = Vec::new();
    for p in role["Policies"].as_array().into_iter().flatten() {
        for s in p["PolicyDocument"]["Statement"].as_array().into_iter().flatten() {
            anyhow::ensure!(s["Effect"] == "Allow", "only Allow statements are expected: {s}");
            let keys = &s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            out.push(Statement {
                sid: s["Sid"].as_str().unwrap_or("").to_owned(),
                actions: strings(&s["Action"]),
                resources: strings(&s["Resource"]),
                leading_keys: (!keys.is_null()).then(|| strings(keys)),
            });
        }
    }
    for arn in strings(&role["ManagedPolicyArns"]) {
        let name = arn.rsplit('/').next().unwrap_or_default();
        let Some((_, actions)) = MANAGED.iter().find(|(n, _)| *n == name) else {
            anyhow::bail!("managed policy {arn} is not known to the check");
        };
        let actions = actions.iter().map(|a| (*a).to_owned()).collect();
        out.push(Statement { sid: name.to_owned(), actions, resources: vec!["*".into()], leading_keys: None });
    }
    Ok(out)
}

/// IAM's `StringLike`: `*` any run, `?` any one character; actions compare case-insensitively.
pub fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

impl Statement {
    /// Whether this statement allows `call`.
    pub fn allows(&self, call: &Call) -> bool {
        let action = call.action.to_ascii_lowercase();
        self.actions.iter().any(|a| like(&a.to_ascii_lowercase(), &action))
            && self.resources.iter().any(|r| like(r, &call.resource))
            && self
                .leading_keys
                .as_ref()
                .is_none_or(|pats| call.leading_keys.iter().all(|k| pats.iter().any(|p| like(p, k))))
    }
}

/// The calls no statement allows.
pub fn denied<'a>(statements: &[Statement], calls: &'a [Call]) -> Vec<&'a Call> {
    calls.iter().filter(|c| !statements.iter().any(|s| s.allows(c))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(action: &str, resource: &str, keys: &[&str]) -> Call {
        Call {
            action: action.into(),
            resource: resource.into(),
            leading_keys: keys.iter().map(|k| (*k).into()).collect(),
        }
    }

    #[test]
    fn actions_resources_and_leading_keys_are_matched_as_iam_does() {
        let s = Statement {
            sid: "Endpoints".into(),
            actions: vec!["dynamodb:GetItem".into(), "dynamodb:PutItem".into()],
            resources: vec!["arn:aws:dynamodb:us-east-1:1:table/subs".into()],
            leading_keys: Some(vec!["EP#*".into()]),
        };
        assert!(s.allows(&call("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/subs", &["EP#ep_1"])));
        assert!(!s.allows(&call("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/subs", &["ORG#o"])));
        assert!(!s.allows(&call("dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:1:table/subs", &["EP#e"])));
        assert!(!s.allows(&call("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/subs/index/gsi1", &[])));
        let any = Statement {
            sid: "x".into(),
            actions: vec!["kms:*".into()],
            resources: vec!["*".into()],
            leading_keys: None,
        };
        assert!(any.allows(&call("kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", &[])));
        assert!(like("arn:aws:scheduler:*:1:schedule/g/*", "arn:aws:scheduler:us-east-1:1:schedule/g/x"));
        assert!(!like("arn:aws:scheduler:*:1:schedule/g/*", "arn:aws:scheduler:us-east-1:1:schedule/other/x"));
    }
}
